//! Integration tests through the real router and spawned servers, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod accounts;
mod admin;
mod api_keys;
mod assistant;
mod audit;
mod auth;
mod backup;
mod billing;
mod catalog;
mod cli;
mod config_audit;
mod config_cli;
mod config_store;
mod decision;
mod errors;
mod health;
mod jwt_keys;
mod kpi;
mod leases;
mod ledger;
mod openapi;
mod payments;
mod pods;
mod policy;
mod process;
mod rate_limits;
mod recovery;
mod replicas;
mod security_headers;
mod sessions;
mod shutdown;
mod statements;
mod storage;
mod ui;
mod ws;
mod ws_limits;
mod ws_support;
