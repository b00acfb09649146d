//! Monthly statements over HTTP: the signed-in user's statement for one month as JSON,
//! CSV or a printable HTML page (`?format=`, else the `Accept` header, else JSON).
//! Responses carry `Cache-Control: no-store`; CSV (an attachment) and HTML (inline) carry
//! a `Content-Disposition` file name.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorBody};
use crate::ledger::statement::{Statement, StatementMonth};
use crate::ledger::statement_format::{to_csv, to_html};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_statement))
}

/// A statement's representation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Html,
}

impl Format {
    /// `?format=` when given (unknown values are a 400), else the first of CSV, HTML or
    /// JSON that `Accept` names, else JSON.
    fn choose(param: Option<&str>, headers: &HeaderMap) -> Result<Self, ApiError> {
        if let Some(p) = param {
            return match p {
                "json" => Ok(Self::Json),
                "csv" => Ok(Self::Csv),
                "html" => Ok(Self::Html),
                other => Err(ApiError::BadRequest(format!(
                    "format must be json, csv or html, got {other:?}"
                ))),
            };
        }
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        for media in accept.split(',') {
            let media = media.split(';').next().unwrap_or("").trim();
            match media.to_ascii_lowercase().as_str() {
                "text/csv" => return Ok(Self::Csv),
                "text/html" => return Ok(Self::Html),
                "application/json" => return Ok(Self::Json),
                _ => {}
            }
        }
        Ok(Self::Json)
    }
}

/// Query parameters of `GET /api/v2/billing/statements/{month}`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct StatementParams {
    /// `json`, `csv` or `html`; overrides `Accept`.
    pub format: Option<String>,
}

/// The signed-in user's statement for a calendar month (UTC): opening balance, top-ups,
/// usage by pod and hour (charges and captures with a `pod_id`), other usage, refunds,
/// adjustments and closing balance, in integer micro-USD.
#[utoipa::path(get, path = "/api/v2/billing/statements/{month}", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    params(("month" = String, Path, description = "The month, `YYYY-MM`"), StatementParams),
    responses(
        (status = 200, description = "The statement (Cache-Control: no-store); CSV as an attachment, HTML inline, each with a file name",
            content((Statement = "application/json"), (String = "text/csv"), (String = "text/html"))),
        (status = 400, description = "A month that is not YYYY-MM, or an unknown format", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "An API key without the read scope", body = ErrorBody)
    ))]
pub async fn get_statement(
    State(state): State<AppState>,
    user: AuthUser,
    Path(month): Path<String>,
    Query(params): Query<StatementParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    let month = StatementMonth::parse(&month).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let format = Format::choose(params.format.as_deref(), &headers)?;
    let statement = state.ledger.statement(&user.id, month).await?;
    let mut response = render(&statement, format);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn render(statement: &Statement, format: Format) -> Response {
    let (body, content_type, disposition, extension) = match format {
        Format::Json => return Json(statement).into_response(),
        Format::Csv => (
            to_csv(statement),
            "text/csv; charset=utf-8; header=present",
            "attachment",
            "csv",
        ),
        // Inline, so a browser shows the page (and can print it) and still names a save.
        Format::Html => (
            to_html(statement),
            "text/html; charset=utf-8",
            "inline",
            "html",
        ),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The month is validated `YYYY-MM`, so the file name needs no quoting rules.
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{disposition}; filename=\"gpubroker-statement-{}.{extension}\"",
        statement.month
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if format == Format::Html {
        // The page is self-contained: nothing but its own inline style may load.
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
        );
    }
    response
}
