//! Integration tests: one binary, driving the real router over real stores (a Qdrant Edge
//! shard and a SQLite file in a temporary directory, or a fresh PostgreSQL database when
//! `CODECITE_TEST_PG_URL` is set; a Qdrant server when `QDRANT_URL` is set).

mod helpers;

mod api;
mod chat;
mod fake_llm;
mod faults;
mod embed_api;
mod email;
mod embed_onnx;
mod eval;
mod ingest;
mod instances;
mod loaders;
mod metering;
mod openai;
mod pages;
mod real_llm;
mod reference;
mod robust;
mod server_backend;
