//! Payment gateway settings: `GPUBROKER_PAYMENT_GATEWAY`, `GPUBROKER_STRIPE_SECRET_KEY`,
//! `GPUBROKER_STRIPE_WEBHOOK_SECRET` and `GPUBROKER_STRIPE_API_URL`.

use std::fmt;

use url::Url;

use super::Environment;
use crate::net_guard::Reach;

/// Stripe's API address.
pub const STRIPE_API_URL: &str = "https://api.stripe.com";

/// Which gateway takes payments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayChoice {
    /// The built-in sandbox: a local checkout page and signed webhooks, no real money.
    Sandbox,
    Stripe,
}

impl GatewayChoice {
    /// The name used in URLs (`/api/v2/billing/webhooks/{gateway}`) and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Stripe => "stripe",
        }
    }
}

/// A Stripe account.
#[derive(Clone, PartialEq, Eq)]
pub struct StripeSettings {
    pub secret_key: String,
    pub webhook_secret: String,
    pub api_url: Url,
}

impl fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeSettings")
            .field("secret_key", &"<redacted>")
            .field("webhook_secret", &"<redacted>")
            .field("api_url", &self.api_url.as_str())
            .finish()
    }
}

/// The payment settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentSettings {
    pub gateway: GatewayChoice,
    /// Set when the gateway is Stripe.
    pub stripe: Option<StripeSettings>,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self {
            gateway: GatewayChoice::Sandbox,
            stripe: None,
        }
    }
}

/// The raw values, as given.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RawPayments<'a> {
    pub gateway: Option<&'a str>,
    pub stripe_secret_key: Option<&'a str>,
    pub stripe_webhook_secret: Option<&'a str>,
    pub stripe_api_url: Option<&'a str>,
}

/// Parses the payment settings, adding each problem to `problems`. The sandbox moves no
/// real money, so production refuses it.
pub(crate) fn payment_settings(
    problems: &mut Vec<String>,
    raw: RawPayments<'_>,
    environment: Environment,
    reach: Reach,
) -> PaymentSettings {
    let secret_key = raw
        .stripe_secret_key
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let gateway = match raw
        .gateway
        .map(|g| g.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") if secret_key.is_some() => GatewayChoice::Stripe,
        None | Some("") => GatewayChoice::Sandbox,
        Some("sandbox") => GatewayChoice::Sandbox,
        Some("stripe") => GatewayChoice::Stripe,
        Some(other) => {
            problems.push(format!(
                "GPUBROKER_PAYMENT_GATEWAY: {other:?} is not one of sandbox, stripe"
            ));
            GatewayChoice::Sandbox
        }
    };
    if gateway == GatewayChoice::Sandbox && environment == Environment::Production {
        problems.push(
            "the sandbox payment gateway takes no real money and is refused in production: set GPUBROKER_PAYMENT_GATEWAY=stripe with GPUBROKER_STRIPE_SECRET_KEY and GPUBROKER_STRIPE_WEBHOOK_SECRET"
                .into(),
        );
    }
    if gateway == GatewayChoice::Sandbox {
        return PaymentSettings {
            gateway,
            stripe: None,
        };
    }
    let webhook_secret = raw
        .stripe_webhook_secret
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if secret_key.is_none() {
        problems.push("the Stripe gateway needs GPUBROKER_STRIPE_SECRET_KEY".into());
    }
    if webhook_secret.is_none() {
        problems.push(
            "the Stripe gateway needs GPUBROKER_STRIPE_WEBHOOK_SECRET (the endpoint's whsec_… signing secret)"
                .into(),
        );
    }
    let api_url = match Url::parse(raw.stripe_api_url.map_or(STRIPE_API_URL, str::trim)) {
        Ok(url) => {
            if let Err(problem) = crate::net_guard::check_url(&url, reach) {
                problems.push(format!("GPUBROKER_STRIPE_API_URL: {problem}"));
            }
            url
        }
        Err(e) => {
            problems.push(format!("GPUBROKER_STRIPE_API_URL is not a URL: {e}"));
            return PaymentSettings {
                gateway,
                stripe: None,
            };
        }
    };
    let stripe = match (secret_key, webhook_secret) {
        (Some(secret_key), Some(webhook_secret)) => Some(StripeSettings {
            secret_key: secret_key.to_owned(),
            webhook_secret: webhook_secret.to_owned(),
            api_url,
        }),
        _ => None,
    };
    PaymentSettings { gateway, stripe }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: RawPayments<'_>, env: Environment) -> (PaymentSettings, Vec<String>) {
        let mut problems = Vec::new();
        let settings = payment_settings(&mut problems, raw, env, Reach::PublicOnly);
        (settings, problems)
    }

    #[test]
    fn sandbox_is_the_development_default_and_refused_in_production() {
        let (s, p) = parse(RawPayments::default(), Environment::Development);
        assert_eq!(s.gateway, GatewayChoice::Sandbox);
        assert!(p.is_empty(), "{p:?}");
        let (_, p) = parse(RawPayments::default(), Environment::Production);
        assert!(
            p.iter().any(|p| p.contains("refused in production")),
            "{p:?}"
        );
    }

    #[test]
    fn a_stripe_key_selects_stripe_and_both_secrets_are_required() {
        let raw = RawPayments {
            stripe_secret_key: Some("sk_test_1"),
            ..RawPayments::default()
        };
        let (s, p) = parse(raw, Environment::Development);
        assert_eq!(s.gateway, GatewayChoice::Stripe);
        assert!(s.stripe.is_none());
        assert!(p.iter().any(|p| p.contains("WEBHOOK_SECRET")), "{p:?}");
        let raw = RawPayments {
            stripe_webhook_secret: Some("whsec_1"),
            ..raw
        };
        let (s, p) = parse(raw, Environment::Production);
        assert!(p.is_empty(), "{p:?}");
        let stripe = s.stripe.expect("stripe settings");
        assert_eq!(stripe.api_url.as_str(), "https://api.stripe.com/");
        assert!(!format!("{stripe:?}").contains("sk_test_1"));
    }

    #[test]
    fn unknown_gateways_and_private_api_urls_are_refused() {
        let (_, p) = parse(
            RawPayments {
                gateway: Some("paypal"),
                ..RawPayments::default()
            },
            Environment::Development,
        );
        assert!(p.iter().any(|p| p.contains("paypal")), "{p:?}");
        let (_, p) = parse(
            RawPayments {
                gateway: Some("stripe"),
                stripe_secret_key: Some("sk"),
                stripe_webhook_secret: Some("wh"),
                stripe_api_url: Some("http://127.0.0.1:9/"),
            },
            Environment::Development,
        );
        assert!(p.iter().any(|p| p.contains("STRIPE_API_URL")), "{p:?}");
    }
}
