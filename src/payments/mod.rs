//! Payments: the pieces shared by the gateways (Stripe and the built-in sandbox).

pub mod signature;
