//! The admin center's money pages: payments and refunds. Refunds are for the finance and
//! admin roles, honour `Idempotency-Key`, never exceed what a payment captured, and are
//! audited (the ledger entry that takes the money out of the wallet writes the audit
//! record with the staff member as actor).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::payments::private_json;
use super::{idempotency, JsonBody};
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::store::payments::{Payment, Refund};

/// Largest page.
const MAX_PAGE: i64 = 200;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_payments))
        .routes(routes!(list_refunds, create_refund))
}

/// Query of `GET /api/v2/admin/payments`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PaymentParams {
    /// Only this user's payments.
    pub user_id: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
}

/// A page of payments, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentPage {
    pub payments: Vec<Payment>,
    pub next_cursor: Option<String>,
}

fn page_size(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit.unwrap_or(50) {
        n @ 1..=MAX_PAGE => Ok(n),
        _ => Err(ApiError::Validation(format!(
            "limit must be 1 to {MAX_PAGE}"
        ))),
    }
}

/// Captured payments (amounts in micro-USD; `refunded` counts pending and succeeded
/// refunds).
#[utoipa::path(get, path = "/api/v2/admin/payments", tag = "admin",
    security(("bearer" = [])), params(PaymentParams),
    responses(
        (status = 200, description = "A page of payments", body = PaymentPage),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Not finance, support or admin", body = ErrorBody),
        (status = 422, description = "A bad limit", body = ErrorBody)
    ))]
pub async fn list_payments(
    State(state): State<AppState>,
    _user: AuthUser,
    Query(params): Query<PaymentParams>,
) -> Result<Response, ApiError> {
    let limit = page_size(params.limit)?;
    let payments = state
        .store
        .payments_list(params.user_id.as_deref(), params.cursor.as_deref(), limit)
        .await?;
    let next_cursor = (payments.len() as i64 == limit)
        .then(|| payments.last().map(|p| p.id.clone()))
        .flatten();
    Ok(private_json(
        StatusCode::OK,
        PaymentPage {
            payments,
            next_cursor,
        },
    ))
}

/// Query of `GET /api/v2/admin/refunds`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RefundParams {
    /// Only this payment's refunds.
    pub payment_id: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
}

/// A page of refunds, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundPage {
    pub refunds: Vec<Refund>,
    pub next_cursor: Option<String>,
}

/// Refunds with their status at the gateway.
#[utoipa::path(get, path = "/api/v2/admin/refunds", tag = "admin",
    security(("bearer" = [])), params(RefundParams),
    responses(
        (status = 200, description = "A page of refunds", body = RefundPage),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Not finance, support or admin", body = ErrorBody),
        (status = 422, description = "A bad limit", body = ErrorBody)
    ))]
pub async fn list_refunds(
    State(state): State<AppState>,
    _user: AuthUser,
    Query(params): Query<RefundParams>,
) -> Result<Response, ApiError> {
    let limit = page_size(params.limit)?;
    let refunds = state
        .store
        .refunds_list(
            params.payment_id.as_deref(),
            params.cursor.as_deref(),
            limit,
        )
        .await?;
    let next_cursor = (refunds.len() as i64 == limit)
        .then(|| refunds.last().map(|r| r.id.clone()))
        .flatten();
    Ok(private_json(
        StatusCode::OK,
        RefundPage {
            refunds,
            next_cursor,
        },
    ))
}

/// A refund to make.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequestBody {
    pub payment_id: String,
    /// Whole cents in micro-USD; default: everything not refunded yet.
    pub amount_micro_usd: Option<i64>,
    /// Why (1 to 500 characters); kept with the refund and in the audit log.
    pub reason: String,
}

/// Refund (part of) a payment: the amount leaves the user's wallet and goes back to the
/// payer through the gateway. Finance and admin only.
#[utoipa::path(post, path = "/api/v2/admin/refunds", tag = "admin",
    security(("bearer" = [])), request_body = RefundRequestBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body return the first response")),
    responses(
        (status = 201, description = "The refund", body = Refund),
        (status = 400, description = "A malformed body or Idempotency-Key", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Not finance or admin", body = ErrorBody),
        (status = 404, description = "No such payment", body = ErrorBody),
        (status = 409, description = "More than is refundable, a wallet without the funds, or the key still in progress", body = ErrorBody),
        (status = 422, description = "Bad amount or reason; Idempotency-Key reused with another body", body = ErrorBody),
        (status = 502, description = "The gateway refused (the wallet was credited back) or did not answer (the refund stays pending)", body = ErrorBody)
    ))]
pub async fn create_refund(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    JsonBody(req): JsonBody<RefundRequestBody>,
) -> Result<Response, ApiError> {
    let fingerprint = format!(
        "POST /api/v2/admin/refunds {}",
        serde_json::to_string(&req).map_err(ApiError::internal)?
    );
    idempotency::run(&state, &user.id, &headers, &fingerprint, || async {
        let refund = state
            .payments
            .refund(&user.id, &req.payment_id, req.amount_micro_usd, &req.reason)
            .await?;
        Ok(private_json(StatusCode::CREATED, refund))
    })
    .await
}
