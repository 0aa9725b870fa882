//! Subcommands of the `codecite` binary that are more than a call: `account …` and `ask`.

pub mod account;
pub mod ask;
