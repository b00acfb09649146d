//! HTTP surface: router assembly, shared layers and the OpenAPI document.
//!
//! Handlers live in one module per resource, each exposing `router()` as a utoipa
//! `OpenApiRouter` so the OpenAPI document is generated from the handlers themselves.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Method, Uri};
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::error::ApiError;

pub mod admin;
pub mod admin_overview;
pub mod admin_payments;
pub mod api_keys;
pub mod assistant;
pub mod auth;
pub mod billing;
pub mod budgets;
pub mod gpus;
pub mod idempotency;
pub mod kpi;
pub mod math;
pub mod meta;
pub mod middleware;
pub mod offer_view;
pub mod offers;
pub mod ops;
pub mod payments;
pub mod pods;
pub mod policy;
pub mod rate_limit;
pub mod recommend;
pub mod recovery;
pub mod sandbox;
pub mod session;
pub mod statements;
pub mod telemetry;

/// A JSON request body whose rejections (bad syntax, wrong types, missing content type)
/// become [`ApiError`]s with the parser's message.
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct JsonBody<T>(pub T);

/// Largest accepted request body (JSON bodies included): 1 MiB.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// Top-level OpenAPI metadata; paths come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "GPUBROKER API",
        description = "GPU marketplace broker: a live normalised catalog of GPU offers, ranking, workload recommendations, pods, wallet and administration.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "meta", description = "API index and documentation"),
        (name = "catalog", description = "GPU offers, the GPU registry and price sources"),
        (name = "math", description = "Ranking and estimation engines on your own numbers"),
        (name = "kpi", description = "Market KPIs and insights from live offers and price history"),
        (name = "assistant", description = "Workload parsing, recommendations and chat"),
        (name = "auth", description = "Accounts, sign-in, access and refresh tokens, API keys"),
        (name = "admin", description = "Configuration store, audit log and signing keys (staff only)"),
        (name = "billing", description = "Wallet balance, holds, ledger transactions and monthly statements"),
        (name = "pods", description = "GPU pods: deploy an offer, per-second metering, stop and terminate (docs/pods.md)"),
        (name = "stream", description = "The WebSocket stream of live offer events and notifications (docs/websocket.md)")
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

/// Declares the `bearer` (RS256 JWT access tokens or `gpuk_` API keys), `api_key`
/// (`X-API-Key` header) and `agent_token` (a pod's `gpa_` node agent token) security schemes.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "agent_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("gpa_ pod agent token")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::new("X-API-Key"),
            )),
        );
    }
}

/// Every documented route, with its OpenAPI description.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .merge(meta::router())
        .merge(offers::router())
        .merge(gpus::router())
        .merge(math::router())
        .merge(kpi::router())
        .merge(recommend::router())
        .merge(assistant::router())
        .merge(auth::router())
        .merge(api_keys::router())
        .merge(recovery::router())
        .merge(session::router())
        .merge(admin::router())
        .merge(billing::router())
        .merge(payments::router())
        .merge(admin_payments::router())
        .merge(sandbox::router())
        .merge(statements::router())
        .merge(pods::router())
        .merge(budgets::router())
        .merge(admin_overview::router())
        .merge(telemetry::router())
        .merge(crate::ws::router())
}

/// The OpenAPI document of this build.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api_routes().split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    annotate_access(&mut doc);
    doc
}

/// Publishes each operation's declared [`policy::Access`] as `x-access`.
fn annotate_access(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            ("GET", &mut item.get),
            ("POST", &mut item.post),
            ("PUT", &mut item.put),
            ("PATCH", &mut item.patch),
            ("DELETE", &mut item.delete),
        ];
        for (method, operation) in operations {
            let (Some(operation), Some(policy)) = (
                operation.as_mut(),
                policy::POLICIES
                    .iter()
                    .find(|p| p.path == path && p.method == method),
            ) else {
                continue;
            };
            let access: utoipa::openapi::extensions::Extensions =
                [("x-access", policy.access.describe())]
                    .into_iter()
                    .collect();
            operation
                .extensions
                .get_or_insert_with(Default::default)
                .merge(access);
        }
    }
}

/// The complete application router with every layer applied: the API and the web UI.
pub fn router(state: AppState) -> Router {
    let (routes, _) = api_routes().split_for_parts();
    with_layers(routes.merge(crate::ui::router()), state)
}

/// Applies the shared layers to `routes`.
pub fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    with_layers_declaring(routes, state, &[])
}

/// Like [`with_layers`] for a router with routes of its own (tests, embedders), whose
/// access is declared in `extra` in addition to [`policy::POLICIES`].
pub fn with_layers_declaring(
    routes: Router<AppState>,
    state: AppState,
    extra: &'static [policy::RoutePolicy],
) -> Router {
    let spec = serde_json::to_string(&openapi()).unwrap_or_else(|_| "{}".into());
    routes
        .route("/health", axum::routing::get(ops::health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            policy::enforce,
        ))
        .layer(Extension(policy::ExtraPolicies(extra)))
        .layer(Extension(meta::OpenApiJson(Arc::from(spec))))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            hsts(&state),
        ))
        .layer(cors(&state))
        .layer(axum::middleware::from_fn(middleware::request_context))
        .with_state(state)
}

/// `Strict-Transport-Security` when the public URL is https (one year, subdomains); no
/// header otherwise (a plain-http development server must not pin browsers to https).
fn hsts(state: &AppState) -> Option<HeaderValue> {
    state
        .settings
        .public_url
        .as_ref()
        .filter(|u| u.scheme() == "https")
        .map(|_| HeaderValue::from_static("max-age=31536000; includeSubDomains"))
}

/// Cross-origin access for the configured origins only; none when the list is empty.
fn cors(state: &AppState) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = state
        .settings
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("x-api-key"),
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("x-csrf-token"),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-ratelimit-limit"),
            header::HeaderName::from_static("x-ratelimit-remaining"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
