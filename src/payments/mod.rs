//! Payments: gateways (Stripe and the built-in sandbox) behind one trait, their signed
//! webhooks, plans and subscriptions, refunds. Money only moves in the ledger; see
//! `docs/payments.md`.

pub mod events;
pub mod gateway;
pub mod plans;
pub mod refunds;
pub mod sandbox;
pub mod service;
pub mod signature;
pub mod stripe;
pub mod subscriptions;
pub mod webhooks;

pub use service::Payments;

use crate::ledger::LedgerError;
use crate::store::StoreError;

/// Why a payment operation did not apply.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// Bad parameters (amount, plan, return path).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The operation conflicts with the current state (over-refund, active subscription).
    #[error("{0}")]
    Conflict(String),
    /// A webhook whose signature does not verify.
    #[error("invalid webhook signature: {0}")]
    Signature(#[from] signature::SignatureError),
    /// A webhook body that is not a readable event.
    #[error(transparent)]
    Event(#[from] events::EventError),
    #[error(transparent)]
    Gateway(#[from] gateway::GatewayError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
