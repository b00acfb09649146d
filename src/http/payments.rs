//! Payments over HTTP: plans, wallet top-ups through a hosted checkout, the caller's
//! subscription, invoices and saved payment methods, and the gateways' webhooks.
//! Money-moving POSTs honour `Idempotency-Key` (see `http::idempotency`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::{idempotency, JsonBody};
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorBody};
use crate::payments::gateway::GatewayError;
use crate::payments::plans::Plan;
use crate::payments::subscriptions::SubscriptionView;
use crate::payments::PaymentError;
use crate::store::payments::{Checkout, Invoice, PaymentMethod};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plans))
        .routes(routes!(start_top_up))
        .routes(routes!(get_top_up))
        .routes(routes!(get_subscription, subscribe, cancel_subscription))
        .routes(routes!(list_invoices))
        .routes(routes!(list_payment_methods))
        .routes(routes!(receive_webhook))
}

impl From<PaymentError> for ApiError {
    fn from(err: PaymentError) -> Self {
        match err {
            PaymentError::Invalid(m) => ApiError::Validation(m),
            PaymentError::NotFound(m) => ApiError::NotFound(m),
            PaymentError::Conflict(m) => ApiError::Conflict(m),
            PaymentError::Signature(_) | PaymentError::Event(_) => {
                ApiError::BadRequest(err.to_string())
            }
            PaymentError::Gateway(GatewayError::Rejected(m)) => {
                ApiError::BadGateway(format!("the payment gateway refused the request: {m}"))
            }
            PaymentError::Gateway(GatewayError::Unavailable(m)) => {
                tracing::warn!(error = %m, "payment gateway unavailable");
                ApiError::BadGateway(
                    "the payment gateway is unavailable; nothing was charged, try again later"
                        .into(),
                )
            }
            PaymentError::Ledger(e) => e.into(),
            PaymentError::Store(e) => e.into(),
        }
    }
}

/// `body` as JSON with `status` and `Cache-Control: no-store`.
pub(super) fn private_json(status: StatusCode, body: impl Serialize) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// A checkout: where the payer goes, and how it ended.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckoutView {
    pub id: String,
    /// `top_up` or `subscription`.
    pub purpose: String,
    /// `open`, `completed`, `failed` or `expired`.
    pub status: String,
    pub amount_micro_usd: i64,
    pub currency: String,
    /// The gateway's hosted checkout page.
    pub checkout_url: Option<String>,
    /// `sandbox` or `stripe`.
    pub gateway: String,
    pub plan_id: Option<String>,
    pub billing_interval: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<Checkout> for CheckoutView {
    fn from(c: Checkout) -> Self {
        Self {
            id: c.id,
            purpose: c.purpose,
            status: c.status,
            amount_micro_usd: c.amount,
            currency: c.currency.to_ascii_uppercase(),
            checkout_url: c.url,
            gateway: c.gateway,
            plan_id: c.plan_id,
            billing_interval: c.billing_interval,
            created_at: c.created_at,
            completed_at: c.completed_at,
        }
    }
}

/// The plans on offer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlansResponse {
    pub plans: Vec<Plan>,
    /// The plan of accounts without a subscription.
    pub default_plan: String,
    /// `sandbox` (no real money) or `stripe`.
    pub gateway: String,
}

/// Plans with their prices and limits.
#[utoipa::path(get, path = "/api/v2/billing/plans", tag = "billing",
    responses((status = 200, description = "Plans, prices (micro-USD) and limits", body = PlansResponse)))]
pub async fn list_plans(State(state): State<AppState>) -> Json<PlansResponse> {
    Json(PlansResponse {
        plans: state.payments.plans().await,
        default_plan: "free".into(),
        gateway: state.payments.gateway_name().into(),
    })
}

/// A top-up to start.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpRequest {
    /// Whole cents in micro-USD, $5 to $10,000 (`25000000` is $25).
    pub amount_micro_usd: i64,
    /// Where the gateway sends the payer back: a path on this site (default `/#/wallet`);
    /// `checkout` and `result` are appended.
    pub return_path: Option<String>,
}

async fn email_of(state: &AppState, user: &AuthUser) -> Result<String, ApiError> {
    Ok(state
        .auth
        .user(&user.id)
        .await
        .map_err(|e| ApiError::NotFound(e.to_string()))?
        .email)
}

/// Start a wallet top-up: opens a hosted checkout and returns its URL. The wallet is
/// credited when the gateway confirms payment (webhook), never from this request.
#[utoipa::path(post, path = "/api/v2/billing/top-ups", tag = "billing",
    security(("bearer" = []), ("api_key" = [])), request_body = TopUpRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body return the first response")),
    responses(
        (status = 201, description = "The open checkout; send the payer to checkout_url", body = CheckoutView),
        (status = 400, description = "A malformed body or Idempotency-Key", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "An API key without the trade scope", body = ErrorBody),
        (status = 409, description = "The same Idempotency-Key is still in progress", body = ErrorBody),
        (status = 422, description = "Amount out of range or not whole cents; Idempotency-Key reused with another body", body = ErrorBody),
        (status = 502, description = "The payment gateway failed", body = ErrorBody)
    ))]
pub async fn start_top_up(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    JsonBody(req): JsonBody<TopUpRequest>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Trade)?;
    let fingerprint = format!(
        "POST /api/v2/billing/top-ups {}",
        serde_json::to_string(&req).map_err(ApiError::internal)?
    );
    idempotency::run(&state, &user.id, &headers, &fingerprint, || async {
        let email = email_of(&state, &user).await?;
        let checkout = state
            .payments
            .start_top_up(
                &user.id,
                &email,
                req.amount_micro_usd,
                req.return_path.as_deref(),
            )
            .await?;
        Ok(private_json(
            StatusCode::CREATED,
            CheckoutView::from(checkout),
        ))
    })
    .await
}

/// One of the caller's checkouts (top-up or subscription), to follow its outcome.
#[utoipa::path(get, path = "/api/v2/billing/top-ups/{id}", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "Checkout id")),
    responses(
        (status = 200, description = "The checkout", body = CheckoutView),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 404, description = "No such checkout of the caller", body = ErrorBody)
    ))]
pub async fn get_top_up(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    let checkout = state.payments.checkout_of(&user.id, &id).await?;
    Ok(private_json(StatusCode::OK, CheckoutView::from(checkout)))
}

/// The caller's subscription.
#[utoipa::path(get, path = "/api/v2/billing/subscription", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The latest subscription with its derived status", body = SubscriptionView),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 404, description = "The caller never subscribed (free plan)", body = ErrorBody)
    ))]
pub async fn get_subscription(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    match state.payments.subscription(&user.id).await? {
        Some(view) => Ok(private_json(StatusCode::OK, view)),
        None => Err(ApiError::NotFound(
            "no subscription: the account is on the free plan".into(),
        )),
    }
}

/// A subscription to start.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeRequest {
    /// `pro` or `enterprise`.
    pub plan_id: String,
    /// `monthly` or `annual`.
    pub billing_interval: String,
    /// As for top-ups.
    pub return_path: Option<String>,
}

/// Subscribe to a paid plan: opens a hosted checkout. The subscription becomes active
/// only when the gateway confirms the first payment.
#[utoipa::path(post, path = "/api/v2/billing/subscription", tag = "billing",
    security(("bearer" = []), ("api_key" = [])), request_body = SubscribeRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 201, description = "The open checkout", body = CheckoutView),
        (status = 400, description = "A malformed body or Idempotency-Key", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 409, description = "A subscription is still running, or the key is in progress", body = ErrorBody),
        (status = 422, description = "Unknown or free plan, bad interval", body = ErrorBody),
        (status = 502, description = "The payment gateway failed", body = ErrorBody)
    ))]
pub async fn subscribe(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    JsonBody(req): JsonBody<SubscribeRequest>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Trade)?;
    let fingerprint = format!(
        "POST /api/v2/billing/subscription {}",
        serde_json::to_string(&req).map_err(ApiError::internal)?
    );
    idempotency::run(&state, &user.id, &headers, &fingerprint, || async {
        let email = email_of(&state, &user).await?;
        let checkout = state
            .payments
            .start_subscription(
                &user.id,
                &email,
                &req.plan_id,
                &req.billing_interval,
                req.return_path.as_deref(),
            )
            .await?;
        Ok(private_json(
            StatusCode::CREATED,
            CheckoutView::from(checkout),
        ))
    })
    .await
}

/// Query of `DELETE /api/v2/billing/subscription`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CancelParams {
    /// `true`: end now and credit the unused part of the period to the wallet; default
    /// `false`: end at the period's end.
    pub immediately: Option<bool>,
}

/// Cancel the caller's subscription.
#[utoipa::path(delete, path = "/api/v2/billing/subscription", tag = "billing",
    security(("bearer" = []), ("api_key" = [])), params(CancelParams),
    responses(
        (status = 200, description = "The subscription after cancellation", body = SubscriptionView),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 404, description = "No subscription", body = ErrorBody),
        (status = 409, description = "Already canceled", body = ErrorBody),
        (status = 502, description = "The payment gateway failed", body = ErrorBody)
    ))]
pub async fn cancel_subscription(
    State(state): State<AppState>,
    user: AuthUser,
    Query(params): Query<CancelParams>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Trade)?;
    let view = state
        .payments
        .cancel_subscription(&user.id, params.immediately.unwrap_or(false))
        .await?;
    Ok(private_json(StatusCode::OK, view))
}

/// The caller's invoices.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceList {
    pub invoices: Vec<Invoice>,
}

/// The caller's subscription invoices, newest first (amounts in micro-USD).
#[utoipa::path(get, path = "/api/v2/billing/invoices", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Invoices", body = InvoiceList),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody)
    ))]
pub async fn list_invoices(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    let invoices = state.payments.invoices(&user.id).await?;
    Ok(private_json(StatusCode::OK, InvoiceList { invoices }))
}

/// The caller's saved payment methods.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentMethodList {
    /// Gateway tokens with brand, last four digits and expiry; never card numbers.
    pub payment_methods: Vec<PaymentMethod>,
}

/// Saved payment methods (recorded from the gateway's `payment_method.attached`).
#[utoipa::path(get, path = "/api/v2/billing/payment-methods", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Payment methods", body = PaymentMethodList),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody)
    ))]
pub async fn list_payment_methods(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    let payment_methods = state.payments.payment_methods(&user.id).await?;
    Ok(private_json(
        StatusCode::OK,
        PaymentMethodList { payment_methods },
    ))
}

/// The answer to a webhook delivery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookAck {
    pub received: bool,
    pub event_id: String,
    /// True when this event id was received before (nothing was applied again).
    pub duplicate: bool,
    /// What applying it did (`credited $25.000000`, `waiting: …`, `ignored`).
    pub outcome: String,
}

/// A payment gateway's webhook (`stripe` or `sandbox`), signed with `Stripe-Signature`
/// over the raw body. Each event id is applied once; any order works.
#[utoipa::path(post, path = "/api/v2/billing/webhooks/{gateway}", tag = "billing",
    params(("gateway" = String, Path, description = "`stripe` or `sandbox`"),
           ("Stripe-Signature" = String, Header, description = "t=<unix time>,v1=<HMAC-SHA256 hex>")),
    request_body(content = String, content_type = "application/json", description = "The gateway's event, verified byte for byte"),
    responses(
        (status = 200, description = "Received (also for duplicates)", body = WebhookAck),
        (status = 400, description = "Bad or missing signature, stale timestamp, or a malformed event; nothing stored", body = ErrorBody),
        (status = 404, description = "That gateway is not configured", body = ErrorBody),
        (status = 500, description = "Not applied; the gateway retries", body = ErrorBody)
    ))]
pub async fn receive_webhook(
    State(state): State<AppState>,
    Path(gateway): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAck>, ApiError> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let receipt = state
        .payments
        .receive_webhook(&gateway, signature, &body)
        .await
        .inspect_err(|err| {
            tracing::warn!(%gateway, error = %err, "payment webhook refused or failed");
        })?;
    Ok(Json(WebhookAck {
        received: true,
        event_id: receipt.event_id,
        duplicate: !receipt.first_delivery,
        outcome: receipt.outcome,
    }))
}
