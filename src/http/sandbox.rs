//! The sandbox gateway's hosted checkout page (development only; 404 when Stripe is the
//! gateway). It plays the payer's side: a card form where the test cards succeed, are
//! declined or ask for 3-D Secure; on success the sandbox delivers signed webhooks to
//! the broker, exactly as Stripe would, and redirects to the checkout's success URL.
//! Card numbers are never stored or logged: only the brand and last four digits travel
//! on.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::payments::sandbox::{card_outcome, payment_events, CardOutcome};
use crate::store::payments::Checkout;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(checkout_page, checkout_submit))
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1b1f24;background:#f6f8fa}\
main{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:1.5rem}\
h1{font-size:1.25rem;margin-top:0}.amount{font-size:2rem;font-weight:600}\
label{display:block;margin:.75rem 0 .25rem}input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;border:1px solid #8c959f;border-radius:6px}\
button{margin-top:1rem;padding:.6rem 1rem;font:inherit;border:0;border-radius:6px;background:#0969da;color:#fff;cursor:pointer}\
button.secondary{background:#6e7781}.error{color:#a40e26;background:#ffebe9;padding:.5rem;border-radius:6px}\
.note{color:#57606a;font-size:.875rem}code{background:#eaeef2;padding:0 .25rem;border-radius:4px}";

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} · GPUBROKER sandbox checkout</title><style>{STYLE}</style></head>\
         <body><main>{body}</main><p class=\"note\">Sandbox gateway: no real money moves.</p></body></html>",
        title = escape_html(title)
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Not found",
        "<h1>No such checkout</h1><p>This sandbox checkout does not exist.</p>",
    )
}

fn summary(checkout: &Checkout) -> String {
    let what = match (checkout.purpose.as_str(), &checkout.plan_id) {
        ("subscription", Some(plan)) => format!(
            "Subscription: {} ({})",
            plan,
            checkout.billing_interval.as_deref().unwrap_or("monthly")
        ),
        _ => "Wallet top-up".to_owned(),
    };
    format!(
        "<h1>{}</h1><p class=\"amount\">{} {}</p>",
        escape_html(&what),
        escape_html(&format!(
            "{}.{:02}",
            checkout.amount / 1_000_000,
            (checkout.amount % 1_000_000) / 10_000
        )),
        escape_html(&checkout.currency.to_ascii_uppercase())
    )
}

fn card_form(checkout: &Checkout, session: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape_html(e)))
        .unwrap_or_default();
    let cancel = checkout
        .cancel_url
        .as_deref()
        .map(|u| {
            format!(
                "<p><a href=\"{}\">Cancel and return</a></p>",
                escape_html(u)
            )
        })
        .unwrap_or_default();
    format!(
        "{summary}{error}<form method=\"post\" action=\"/sandbox/checkout/{session}\">\
         <input type=\"hidden\" name=\"action\" value=\"pay\">\
         <label for=\"card\">Card number</label>\
         <input id=\"card\" name=\"card_number\" inputmode=\"numeric\" autocomplete=\"off\" required placeholder=\"4242 4242 4242 4242\">\
         <button type=\"submit\">Pay</button></form>\
         <p class=\"note\">Test cards: <code>4242 4242 4242 4242</code> succeeds, \
         <code>4000 0000 0000 0002</code> is declined, <code>4000 0027 6000 3184</code> asks for 3-D Secure.</p>{cancel}",
        summary = summary(checkout),
        session = escape_html(session),
    )
}

fn challenge(checkout: &Checkout, session: &str, brand: &str, last4: &str) -> String {
    let hidden = format!(
        "<input type=\"hidden\" name=\"brand\" value=\"{}\"><input type=\"hidden\" name=\"last4\" value=\"{}\">",
        escape_html(brand),
        escape_html(last4)
    );
    let session = escape_html(session);
    format!(
        "{summary}<h2>3-D Secure</h2><p>Your bank asks you to confirm this payment with the card ending in {last4}.</p>\
         <form method=\"post\" action=\"/sandbox/checkout/{session}\">{hidden}\
         <input type=\"hidden\" name=\"action\" value=\"authenticate\"><button type=\"submit\">Complete authentication</button></form>\
         <form method=\"post\" action=\"/sandbox/checkout/{session}\">{hidden}\
         <input type=\"hidden\" name=\"action\" value=\"fail_authentication\"><button class=\"secondary\" type=\"submit\">Fail authentication</button></form>",
        summary = summary(checkout),
        last4 = escape_html(last4),
    )
}

async fn open_checkout(state: &AppState, session: &str) -> Result<Checkout, Response> {
    if state.payments.sandbox().is_none() {
        return Err(not_found());
    }
    match state.store.checkout_by_session("sandbox", session).await {
        Ok(Some(checkout)) => Ok(checkout),
        Ok(None) => Err(not_found()),
        Err(err) => {
            tracing::error!(error = %err, "sandbox checkout lookup failed");
            Err(page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "<h1>Try again</h1><p>The checkout cannot be loaded right now.</p>",
            ))
        }
    }
}

fn ended(checkout: &Checkout) -> Option<Response> {
    match checkout.status.as_str() {
        "open" => None,
        "completed" => Some(page(
            StatusCode::OK,
            "Paid",
            &format!(
                "{}<p>This checkout is already paid.</p>{}",
                summary(checkout),
                checkout
                    .success_url
                    .as_deref()
                    .map(|u| format!("<p><a href=\"{}\">Return</a></p>", escape_html(u)))
                    .unwrap_or_default()
            ),
        )),
        _ => Some(page(
            StatusCode::GONE,
            "Ended",
            &format!("{}<p>This checkout has ended.</p>", summary(checkout)),
        )),
    }
}

/// The sandbox's hosted checkout page.
#[utoipa::path(get, path = "/sandbox/checkout/{session}", tag = "billing",
    params(("session" = String, Path, description = "The sandbox session id (cs_sandbox_…)")),
    responses(
        (status = 200, description = "The card form (HTML)", content_type = "text/html", body = String),
        (status = 404, description = "No such checkout, or the sandbox is not the gateway", content_type = "text/html", body = String),
        (status = 410, description = "The checkout has ended", content_type = "text/html", body = String)
    ))]
pub async fn checkout_page(State(state): State<AppState>, Path(session): Path<String>) -> Response {
    let checkout = match open_checkout(&state, &session).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    if let Some(response) = ended(&checkout) {
        return response;
    }
    page(
        StatusCode::OK,
        "Checkout",
        &card_form(&checkout, &session, None),
    )
}

/// What the page posts.
#[derive(Debug, Deserialize)]
pub struct CheckoutForm {
    /// `pay`, `authenticate` or `fail_authentication`.
    pub action: String,
    pub card_number: Option<String>,
    pub brand: Option<String>,
    pub last4: Option<String>,
}

/// Pays (or fails to pay) a sandbox checkout; on success delivers the webhooks and
/// redirects (303) to the checkout's success URL.
#[utoipa::path(post, path = "/sandbox/checkout/{session}", tag = "billing",
    params(("session" = String, Path, description = "The sandbox session id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "action=pay&card_number=…, or action=authenticate|fail_authentication with brand and last4"),
    responses(
        (status = 303, description = "Paid: on to the success URL"),
        (status = 200, description = "Declined, failed authentication, or the 3-D Secure step (HTML)", content_type = "text/html", body = String),
        (status = 404, description = "No such checkout", content_type = "text/html", body = String),
        (status = 410, description = "The checkout has ended", content_type = "text/html", body = String),
        (status = 502, description = "Paid, but the webhook could not be delivered", content_type = "text/html", body = String)
    ))]
pub async fn checkout_submit(
    State(state): State<AppState>,
    Path(session): Path<String>,
    Form(form): Form<CheckoutForm>,
) -> Response {
    let checkout = match open_checkout(&state, &session).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    if let Some(response) = ended(&checkout) {
        return response;
    }
    let retry = |error: &str| {
        page(
            StatusCode::OK,
            "Checkout",
            &card_form(&checkout, &session, Some(error)),
        )
    };
    let (brand, last4) = match form.action.as_str() {
        "pay" => match card_outcome(form.card_number.as_deref().unwrap_or_default()) {
            CardOutcome::Invalid => return retry("That is not a valid card number."),
            CardOutcome::Declined { .. } => {
                return retry("Your card was declined. Nothing was charged.")
            }
            CardOutcome::RequiresAuthentication { brand, last4 } => {
                return page(
                    StatusCode::OK,
                    "3-D Secure",
                    &challenge(&checkout, &session, &brand, &last4),
                )
            }
            CardOutcome::Succeeds { brand, last4 } => (brand, last4),
        },
        "authenticate" => {
            let brand = form.brand.unwrap_or_default();
            let last4 = form.last4.unwrap_or_default();
            let plausible = ["visa", "mastercard", "amex", "unknown"].contains(&brand.as_str())
                && last4.len() == 4
                && last4.chars().all(|c| c.is_ascii_digit());
            if !plausible {
                return retry("The authentication step was not recognised; enter the card again.");
            }
            (brand, last4)
        }
        "fail_authentication" => return retry("Authentication failed. Nothing was charged."),
        _ => return retry("Unknown action."),
    };
    let Some(sandbox) = state.payments.sandbox() else {
        return not_found();
    };
    let events = payment_events(&checkout, &session, &brand, &last4, crate::store::now());
    if let Err(err) = sandbox.deliver(&events).await {
        return page(
            StatusCode::BAD_GATEWAY,
            "Delivery failed",
            &format!(
                "{}<p class=\"error\" role=\"alert\">The payment went through, but the broker could not be notified: {}</p>",
                summary(&checkout),
                escape_html(&err.to_string())
            ),
        );
    }
    match checkout.success_url.as_deref() {
        Some(url) => Redirect::to(url).into_response(),
        None => page(
            StatusCode::OK,
            "Paid",
            &format!("{}<p>Payment succeeded.</p>", summary(&checkout)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
