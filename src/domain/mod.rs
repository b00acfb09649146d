//! Pure domain types and rules: no I/O, no database, no HTTP.

pub mod audit;
pub mod gpu;
pub mod llm;
pub mod location;
pub mod money;
pub mod offer;
pub mod perf;
pub mod query;
pub mod ranking;
pub mod workload;
