//! Billing over HTTP (read-only so far): the signed-in user's wallet balance with its
//! pending holds, and their ledger transactions, cursor paged. Responses carry
//! `Cache-Control: no-store` (balances must never sit in a shared cache).

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorBody};
use crate::ledger::service::MAX_PAGE;
use crate::ledger::{Hold, LedgerError, Side, WalletTransaction};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_wallet))
        .routes(routes!(list_transactions))
}

impl From<LedgerError> for ApiError {
    fn from(err: LedgerError) -> Self {
        match err {
            LedgerError::Invalid(m) => ApiError::Validation(m),
            LedgerError::InsufficientFunds { .. }
            | LedgerError::IdempotencyConflict(_)
            | LedgerError::HoldResolved { .. }
            | LedgerError::HoldExpired(_)
            | LedgerError::CaptureExceedsHold { .. } => ApiError::Conflict(err.to_string()),
            LedgerError::HoldNotFound(m) => ApiError::NotFound(format!("no hold {m}")),
            LedgerError::Store(e) => e.into(),
            LedgerError::Overflow | LedgerError::Injected(_) => ApiError::internal(err),
        }
    }
}

/// A pending hold on the wallet.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HoldView {
    pub id: String,
    /// Reserved amount in micro-USD.
    pub amount_micro_usd: i64,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl From<Hold> for HoldView {
    fn from(h: Hold) -> Self {
        Self {
            id: h.id,
            amount_micro_usd: h.amount.0,
            expires_at: h.expires_at,
            created_at: h.created_at,
        }
    }
}

/// The caller's wallet: amounts in integer micro-USD (1 USD = 1,000,000).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WalletResponse {
    /// Always `USD`.
    pub currency: String,
    /// Sum of posted transactions.
    pub posted_micro_usd: i64,
    /// Reserved by pending holds.
    pub held_micro_usd: i64,
    /// `posted - held`, never negative.
    pub available_micro_usd: i64,
    /// Pending holds, newest first.
    pub holds: Vec<HoldView>,
}

/// One transaction as it touched the caller's wallet.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransactionView {
    pub id: String,
    /// `top_up`, `refund`, `charge`, `capture` or `transfer`.
    pub kind: String,
    pub created_at: DateTime<Utc>,
    /// `credit` (money in) or `debit` (money out).
    pub direction: String,
    pub amount_micro_usd: i64,
    /// Facts recorded with the transaction (payment id, pod id, ...).
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

impl From<WalletTransaction> for TransactionView {
    fn from(t: WalletTransaction) -> Self {
        Self {
            id: t.id,
            kind: t.kind,
            created_at: t.created_at,
            direction: match t.side {
                Side::Debit => "debit",
                Side::Credit => "credit",
            }
            .to_owned(),
            amount_micro_usd: t.amount.0,
            metadata: t.metadata,
        }
    }
}

/// One page of transactions, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransactionPage {
    pub transactions: Vec<TransactionView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Query parameters of `GET /api/v2/billing/transactions`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TransactionParams {
    /// Page size, 1 to 200 (larger values are capped), default 50.
    pub limit: Option<u32>,
    /// Opaque cursor from `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `body` as JSON with `Cache-Control: no-store`.
fn no_store(body: impl Serialize) -> Response {
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The signed-in user's wallet: posted, held and available balance and pending holds.
#[utoipa::path(get, path = "/api/v2/billing/wallet", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller's wallet (Cache-Control: no-store)", body = WalletResponse),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "An API key without the read scope", body = ErrorBody)
    ))]
pub async fn get_wallet(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    let balance = state.ledger.balance(&user.id).await?;
    Ok(no_store(WalletResponse {
        currency: balance.currency.to_owned(),
        posted_micro_usd: balance.posted.0,
        held_micro_usd: balance.held.0,
        available_micro_usd: balance.available.0,
        holds: balance.holds.into_iter().map(HoldView::from).collect(),
    }))
}

/// The signed-in user's ledger transactions, newest first.
#[utoipa::path(get, path = "/api/v2/billing/transactions", tag = "billing",
    security(("bearer" = []), ("api_key" = [])), params(TransactionParams),
    responses(
        (status = 200, description = "A page of the caller's transactions (Cache-Control: no-store)", body = TransactionPage),
        (status = 400, description = "A malformed query string", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "An API key without the read scope", body = ErrorBody),
        (status = 422, description = "An invalid cursor", body = ErrorBody)
    ))]
pub async fn list_transactions(
    State(state): State<AppState>,
    user: AuthUser,
    Query(params): Query<TransactionParams>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    let limit = params.limit.unwrap_or(50).min(MAX_PAGE);
    let page = state
        .ledger
        .transactions(&user.id, params.cursor.as_deref(), limit)
        .await?;
    Ok(no_store(TransactionPage {
        transactions: page.items.into_iter().map(TransactionView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
