//! codecite: a retrieval-augmented assistant for US medical coders.
//!
//! See ARCHITECTURE.md for the code map and the invariants.

pub mod app;
pub mod bench;
pub mod chat;
pub mod codes;
pub mod config;
pub mod email;
pub mod embed;
pub mod eval;
pub mod http;
pub mod ingest;
pub mod llm;
pub mod metering;
pub mod retrieval;
pub mod store;
pub mod telemetry;
pub mod web;
