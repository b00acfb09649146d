//! Request rate limits: an in-process token bucket per caller on `/api/v2/*`, keyed by API
//! key id, else user id, else the socket peer's IP (or, only when
//! `GPUBROKER_TRUST_FORWARDED_FOR` is on, the last `X-Forwarded-For` address).
//!
//! Each bucket holds up to the plan's per-second limit and refills at that rate. Every
//! limited response carries `X-RateLimit-Limit` and `X-RateLimit-Remaining`; a refusal is
//! 429 with `Retry-After` in whole seconds (at least 1).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::{authenticate_request, AuthUser};
use crate::app::AppState;
use crate::error::ApiError;

/// Only paths under this prefix are limited (not `/health`, `/ready`, `/metrics`).
const LIMITED_PREFIX: &str = "/api/v2";
/// Bucket count beyond which idle (full) buckets are swept.
const SWEEP_AT: usize = 100_000;

/// The answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed { limit: u32, remaining: u32 },
    Limited { limit: u32, retry_after_secs: u64 },
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets by caller key; in-process (per replica).
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes one token from `key`'s bucket (capacity and refill `limit` per second) at
    /// `now`; the clock is a parameter so tests control time.
    pub fn check_at(&self, key: &str, limit: u32, now: Instant) -> Decision {
        let limit = limit.max(1);
        let rate = f64::from(limit);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= SWEEP_AT {
            buckets
                .retain(|_, b| now.saturating_duration_since(b.updated) < Duration::from_secs(1));
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: rate,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Decision::Allowed {
                limit,
                remaining: bucket.tokens.floor() as u32,
            }
        } else {
            let wait = (1.0 - bucket.tokens) / rate;
            Decision::Limited {
                limit,
                retry_after_secs: (wait.ceil() as u64).max(1),
            }
        }
    }
}

/// Middleware: authenticates the caller once (handing the [`AuthUser`] on to the
/// extractor), then applies the caller's bucket.
pub async fn limit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with(LIMITED_PREFIX) {
        return next.run(req).await;
    }
    // A bad credential is limited by IP here and answered 401 by the extractor.
    let user = authenticate_request(req.method(), req.headers(), &state)
        .await
        .ok()
        .flatten();
    let key = match &user {
        Some(AuthUser {
            api_key_id: Some(key_id),
            ..
        }) => format!("key:{key_id}"),
        Some(user) => format!("user:{}", user.id),
        None => format!("ip:{}", client_ip(&req, state.settings.trust_forwarded_for)),
    };
    // Signed-in callers get their plan's limit; anonymous ones the free plan's.
    let limit = match &user {
        Some(user) => state.payments.rate_limit_of(&user.id).await,
        None => state.settings.rate_limits.free,
    };
    if let Some(user) = user {
        req.extensions_mut().insert(user);
    }
    let (mut response, limit, remaining) =
        match state.rate_limiter.check_at(&key, limit, Instant::now()) {
            Decision::Allowed { limit, remaining } => (next.run(req).await, limit, remaining),
            Decision::Limited {
                limit,
                retry_after_secs,
            } => {
                metrics::counter!("gpubroker_rate_limited_total").increment(1);
                (
                    ApiError::RateLimited { retry_after_secs }.into_response(),
                    limit,
                    0,
                )
            }
        };
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    response
}

/// The caller's address: the last `X-Forwarded-For` entry when `trust_forwarded_for`
/// (the one the trusted proxy appended; earlier entries are client-controlled), else the
/// socket peer; `unknown` for in-process requests without either.
fn client_ip(req: &Request, trust_forwarded_for: bool) -> String {
    let forwarded = trust_forwarded_for
        .then(|| req.headers().get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|ip| ip.trim().parse::<std::net::IpAddr>().ok());
    let peer = || {
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    };
    forwarded
        .or_else(peer)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_then_refills_with_time() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        for remaining in (0..3).rev() {
            assert_eq!(
                limiter.check_at("k", 3, t0),
                Decision::Allowed {
                    limit: 3,
                    remaining
                }
            );
        }
        assert_eq!(
            limiter.check_at("k", 3, t0),
            Decision::Limited {
                limit: 3,
                retry_after_secs: 1
            }
        );
        assert!(matches!(
            limiter.check_at("other", 3, t0),
            Decision::Allowed { .. }
        ));
        let later = t0 + Duration::from_millis(340);
        assert_eq!(
            limiter.check_at("k", 3, later),
            Decision::Allowed {
                limit: 3,
                remaining: 0
            }
        );
        assert_eq!(
            limiter.check_at("k", 3, later + Duration::from_secs(5)),
            Decision::Allowed {
                limit: 3,
                remaining: 2
            }
        );
    }
}
