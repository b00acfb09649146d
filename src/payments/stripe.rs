//! Stripe over its REST API (form-encoded requests, JSON answers): Checkout Sessions for
//! top-ups and subscriptions, refunds, and subscription cancellation. Every creating call
//! carries an `Idempotency-Key` (our checkout or refund id), so a retried request never
//! opens a second session or refunds twice.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use super::gateway::{
    CheckoutKind, CheckoutRequest, CheckoutSession, Gateway, GatewayError, GatewayFuture,
    GatewayRefund, RefundRequest,
};
use crate::net_guard::Reach;
use crate::settings::payments::StripeSettings;

/// Stripe's API version this client speaks.
pub const API_VERSION: &str = "2024-06-20";

/// A Stripe account's API client.
pub struct Stripe {
    settings: StripeSettings,
    http: reqwest::Client,
}

impl Stripe {
    /// A client for `settings`; outbound addresses are limited by `reach`.
    pub fn new(settings: StripeSettings, reach: Reach) -> Result<Self, GatewayError> {
        let http = crate::net_guard::guard(reqwest::Client::builder(), reach)
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("gpubroker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GatewayError::Unavailable(format!("building the HTTP client: {e}")))?;
        Ok(Self { settings, http })
    }

    fn url(&self, path: &str) -> Result<Url, GatewayError> {
        self.settings
            .api_url
            .join(path)
            .map_err(|e| GatewayError::Unavailable(format!("bad Stripe URL: {e}")))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        form: &[(String, String)],
        idempotency_key: Option<&str>,
    ) -> Result<Value, GatewayError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .http
            .request(method, self.url(path)?)
            .bearer_auth(&self.settings.secret_key)
            .header("Stripe-Version", API_VERSION)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| GatewayError::Unavailable(format!("Stripe: {e}")))?;
        let status = response.status();
        let value: Value = response.json().await.map_err(|e| {
            GatewayError::Unavailable(format!("Stripe sent an unreadable answer: {e}"))
        })?;
        if status.is_success() {
            return Ok(value);
        }
        let message = value
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .to_owned();
        if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
            Err(GatewayError::Rejected(message))
        } else {
            Err(GatewayError::Unavailable(format!(
                "Stripe answered {status}: {message}"
            )))
        }
    }
}

fn field(value: &Value, name: &str) -> Result<String, GatewayError> {
    value
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| GatewayError::Unavailable(format!("Stripe's answer has no {name}")))
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

/// The form of a Checkout Session for `request`.
pub fn checkout_form(request: &CheckoutRequest) -> Vec<(String, String)> {
    let mut form = vec![
        pair("client_reference_id", &request.checkout_id),
        pair("metadata[checkout_id]", &request.checkout_id),
        pair("metadata[user_id]", &request.user_id),
        pair("success_url", &request.success_url),
        pair("cancel_url", &request.cancel_url),
        pair("line_items[0][quantity]", "1"),
        pair("line_items[0][price_data][currency]", &request.currency),
        pair(
            "line_items[0][price_data][unit_amount]",
            &request.amount_cents.to_string(),
        ),
    ];
    match &request.customer_ref {
        Some(customer) => form.push(pair("customer", customer)),
        None => form.push(pair("customer_email", &request.email)),
    }
    match &request.kind {
        CheckoutKind::TopUp => {
            form.push(pair("mode", "payment"));
            form.push(pair(
                "line_items[0][price_data][product_data][name]",
                "GPUBROKER wallet top-up",
            ));
            if request.customer_ref.is_none() {
                form.push(pair("customer_creation", "always"));
            }
            // Keep the card for the next top-up.
            form.push(pair(
                "payment_intent_data[setup_future_usage]",
                "off_session",
            ));
            form.push(pair(
                "payment_intent_data[metadata][checkout_id]",
                &request.checkout_id,
            ));
        }
        CheckoutKind::Subscription {
            plan_name,
            interval,
        } => {
            form.push(pair("mode", "subscription"));
            form.push(pair(
                "line_items[0][price_data][product_data][name]",
                &format!("GPUBROKER {plan_name}"),
            ));
            form.push(pair(
                "line_items[0][price_data][recurring][interval]",
                interval,
            ));
            form.push(pair(
                "subscription_data[metadata][checkout_id]",
                &request.checkout_id,
            ));
        }
    }
    form
}

impl Gateway for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn webhook_secret(&self) -> &str {
        &self.settings.webhook_secret
    }

    fn create_checkout<'a>(
        &'a self,
        request: &'a CheckoutRequest,
    ) -> GatewayFuture<'a, CheckoutSession> {
        Box::pin(async move {
            let session = self
                .call(
                    Method::POST,
                    "/v1/checkout/sessions",
                    &checkout_form(request),
                    Some(&request.checkout_id),
                )
                .await?;
            Ok(CheckoutSession {
                session_ref: field(&session, "id")?,
                url: field(&session, "url")?,
            })
        })
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> GatewayFuture<'a, GatewayRefund> {
        Box::pin(async move {
            let form = vec![
                pair("payment_intent", &request.payment_ref),
                pair("amount", &request.amount_cents.to_string()),
                pair("metadata[refund_id]", &request.refund_id),
            ];
            let refund = self
                .call(Method::POST, "/v1/refunds", &form, Some(&request.refund_id))
                .await?;
            let status = field(&refund, "status")?;
            Ok(GatewayRefund {
                refund_ref: field(&refund, "id")?,
                succeeded: status == "succeeded",
                failed: matches!(status.as_str(), "failed" | "canceled"),
            })
        })
    }

    fn cancel_subscription<'a>(
        &'a self,
        subscription_ref: &'a str,
        at_period_end: bool,
    ) -> GatewayFuture<'a, ()> {
        Box::pin(async move {
            let path = format!("/v1/subscriptions/{subscription_ref}");
            if at_period_end {
                let form = vec![pair("cancel_at_period_end", "true")];
                self.call(Method::POST, &path, &form, None).await?;
            } else {
                self.call(Method::DELETE, &path, &[], None).await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: CheckoutKind, customer: Option<&str>) -> CheckoutRequest {
        CheckoutRequest {
            checkout_id: "chk_1".into(),
            kind,
            amount_cents: 2500,
            currency: "usd".into(),
            user_id: "u1".into(),
            email: "a@example.com".into(),
            customer_ref: customer.map(str::to_owned),
            success_url: "https://app.example.com/ok".into(),
            cancel_url: "https://app.example.com/no".into(),
        }
    }

    fn get<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
        form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_top_up_is_a_payment_mode_session_with_our_reference() {
        let form = checkout_form(&request(CheckoutKind::TopUp, None));
        assert_eq!(get(&form, "mode"), Some("payment"));
        assert_eq!(get(&form, "client_reference_id"), Some("chk_1"));
        assert_eq!(
            get(&form, "line_items[0][price_data][unit_amount]"),
            Some("2500")
        );
        assert_eq!(get(&form, "customer_email"), Some("a@example.com"));
        assert_eq!(get(&form, "customer_creation"), Some("always"));
    }

    #[test]
    fn a_subscription_recurs_and_reuses_the_customer() {
        let form = checkout_form(&request(
            CheckoutKind::Subscription {
                plan_name: "Pro".into(),
                interval: "year".into(),
            },
            Some("cus_1"),
        ));
        assert_eq!(get(&form, "mode"), Some("subscription"));
        assert_eq!(
            get(&form, "line_items[0][price_data][recurring][interval]"),
            Some("year")
        );
        assert_eq!(get(&form, "customer"), Some("cus_1"));
        assert_eq!(get(&form, "customer_email"), None);
    }
}
