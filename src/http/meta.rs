//! API index, the OpenAPI document and the human documentation page.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The serialised OpenAPI document, computed once when the router is built.
#[derive(Clone)]
pub struct OpenApiJson(pub Arc<str>);

/// The self-contained documentation page (no external assets).
const DOCS_PAGE: &str = include_str!("api_docs.html");

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(api_index))
        .routes(routes!(openapi_document))
        .routes(routes!(api_docs))
        .routes(routes!(jwks))
}

/// The public keys that verify access tokens (RFC 7517): the current signing key and,
/// for 15 minutes after a rotation, the previous one.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "JSON Web Key Set", body = crate::auth::keyring::Jwks)))]
pub async fn jwks(
    State(state): State<AppState>,
) -> Result<Json<crate::auth::keyring::Jwks>, crate::error::ApiError> {
    let keys = state.auth.keys().await?;
    Ok(Json(keys.jwks(chrono::Utc::now().timestamp())))
}

/// Body of `GET /api/v2/`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiIndex {
    pub name: String,
    pub version: String,
    /// Human documentation page.
    pub docs_url: String,
    /// Machine-readable OpenAPI 3.1 document.
    pub openapi_url: String,
}

/// Name, version and where the documentation lives.
#[utoipa::path(get, path = "/api/v2/", tag = "meta",
    responses((status = 200, description = "API index", body = ApiIndex)))]
pub async fn api_index(State(state): State<AppState>) -> Json<ApiIndex> {
    let base = state
        .settings
        .public_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    Json(ApiIndex {
        name: "gpubroker".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        docs_url: format!("{base}/api/v2/docs"),
        openapi_url: format!("{base}/api/v2/openapi.json"),
    })
}

/// The OpenAPI 3.1 document generated from the handlers.
#[utoipa::path(get, path = "/api/v2/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_document(Extension(spec): Extension<OpenApiJson>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        spec.0.to_string(),
    )
        .into_response()
}

/// Human-readable API reference rendered from the OpenAPI document.
#[utoipa::path(get, path = "/api/v2/docs", tag = "meta",
    responses((status = 200, description = "HTML page", content_type = "text/html")))]
pub async fn api_docs() -> Html<&'static str> {
    Html(DOCS_PAGE)
}
