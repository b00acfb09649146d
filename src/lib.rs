//! GPUBROKER: a GPU marketplace broker (live catalog, ranking, workload assistant, pods,
//! wallet) as a library with a thin binary in `main.rs`.

pub mod agent;
pub mod app;
pub mod assistant;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod cli_admin;
pub mod cli_audit;
pub mod cli_catalog;
pub mod cli_config;
pub mod cli_ledger;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod ledger;
pub mod mail;
pub mod net_guard;
pub mod ops;
pub mod payments;
pub mod pods;
pub mod providers;
pub mod secret;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod ui;
pub mod workers;
pub mod ws;
