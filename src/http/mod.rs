//! The HTTP layer: the only module that knows axum. One router registers every route;
//! handlers parse input, call the domain and turn the result into JSON or, for the pages
//! people open, HTML rendered by `web`.

mod accounts;
mod auth;
mod email;
mod error;
mod openai;
mod openapi;
mod pages;
mod routes;

pub use error::ApiError;
pub use routes::router;
