//! The HTTP plumbing shared by the live sources: one client configuration, bounded body
//! reading, and the mapping of statuses and `reqwest` errors to [`SourceError`].
//!
//! Error messages never carry API keys: keys travel only in `Authorization` headers (marked
//! sensitive), URLs are left out of transport errors, and [`redact`] scrubs a key that a
//! server echoes back in its error body.

use std::fmt::Display;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{redirect, Response};

use super::source::SourceError;
use super::ParseReport;
use crate::net_guard::{self, Reach};

/// `User-Agent` of every provider request.
pub const USER_AGENT: &str = concat!("gpubroker/", env!("CARGO_PKG_VERSION"));

/// Limit for opening a connection (DNS, TCP, TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Characters of an error body kept in [`SourceError::Status`].
pub const SNIPPET_CHARS: usize = 200;

/// Bytes of an error body read at most, to build the snippet.
const ERROR_BODY_BYTES: usize = 8 * 1024;

/// Redirects followed at most, and only to the same host.
const MAX_REDIRECTS: usize = 5;

/// The client every live source uses: `gpubroker/<version>` user agent, 10 s connect
/// timeout, rustls, redirects followed only within the same host, addresses limited by
/// `reach` (see [`crate::net_guard`]).
pub fn client(reach: Reach) -> reqwest::Client {
    let builder = net_guard::guard(reqwest::Client::builder(), reach)
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(same_host_redirects(reach));
    match builder.build() {
        Ok(client) => client,
        Err(e) => {
            // Only a broken TLS backend fails here; the default client reports the same
            // problem on its first request, where the ingest loop records it.
            tracing::error!(error = %e, "cannot build the provider HTTP client; using defaults");
            reqwest::Client::new()
        }
    }
}

fn same_host_redirects(reach: Reach) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        let first_host = attempt.previous().first().and_then(|u| u.host_str());
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if !net_guard::redirect_allowed(attempt.url(), reach) {
            attempt.error("redirect to a non-public address or to plain http refused")
        } else if first_host == attempt.url().host_str() {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Reads a response body of at most `limit_bytes` as UTF-8 text.
///
/// A non-2xx status becomes [`SourceError::Status`] with the first 200 characters of the
/// body and the `Retry-After` delay; a larger body or one cut short is a
/// [`SourceError::Transport`]; a body that is not UTF-8 is a [`SourceError::Parse`].
pub async fn read_body(mut resp: Response, limit_bytes: usize) -> Result<String, SourceError> {
    let status = resp.status();
    if !status.is_success() {
        let retry_after = retry_after(resp.headers());
        let (body, _) = read_capped(&mut resp, ERROR_BODY_BYTES)
            .await
            .unwrap_or_default();
        return Err(SourceError::Status {
            status: status.as_u16(),
            snippet: snippet(&String::from_utf8_lossy(&body)),
            retry_after,
        });
    }
    let too_large = || SourceError::Transport(format!("response larger than {limit_bytes} bytes"));
    if resp
        .content_length()
        .is_some_and(|n| n > limit_bytes as u64)
    {
        return Err(too_large());
    }
    let (body, over) = read_capped(&mut resp, limit_bytes)
        .await
        .map_err(|e| body_error(&e))?;
    if over {
        return Err(too_large());
    }
    String::from_utf8(body).map_err(|_| SourceError::Parse("response is not UTF-8".into()))
}

/// Reads up to `limit` bytes; the flag says the body had more.
async fn read_capped(resp: &mut Response, limit: usize) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > limit {
            let room = limit - body.len();
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

fn body_error(err: &reqwest::Error) -> SourceError {
    if err.is_timeout() {
        SourceError::Transport("timed out while reading the response body".into())
    } else {
        SourceError::Transport(format!("response body cut short: {}", chain(err)))
    }
}

/// The `Retry-After` delay: delta-seconds or an HTTP date (a past date is zero).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = at.signed_duration_since(chrono::Utc::now());
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// The first [`SNIPPET_CHARS`] characters of `body`, whitespace collapsed.
pub fn snippet(body: &str) -> String {
    let mut out = String::new();
    for word in body.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() >= SNIPPET_CHARS {
            break;
        }
    }
    out.chars().take(SNIPPET_CHARS).collect()
}

/// Maps a failed request: a timeout is [`SourceError::Timeout`] after `timeout`, a request
/// that could not be built (bad URL, bad header) is [`SourceError::Config`], anything else
/// [`SourceError::Transport`]. The URL is left out.
pub fn map_reqwest(err: reqwest::Error, timeout: Duration) -> SourceError {
    if err.is_timeout() {
        SourceError::Timeout(timeout)
    } else if err.is_builder() {
        SourceError::Config(format!(
            "cannot build the request: {}",
            chain(&err.without_url())
        ))
    } else {
        SourceError::Transport(chain(&err.without_url()))
    }
}

/// `err` and its causes, `: `-separated.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Sends `request` (one attempt, bounded by `timeout`) and reads a body of at most
/// `limit_bytes`.
pub async fn send(
    request: reqwest::RequestBuilder,
    timeout: Duration,
    limit_bytes: usize,
) -> Result<String, SourceError> {
    let resp = request
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| map_reqwest(e, timeout))?;
    read_body(resp, limit_bytes).await
}

/// Replaces every occurrence of `secret` in the messages of `err` with `<redacted>`.
pub fn redact(err: SourceError, secret: &str) -> SourceError {
    if secret.is_empty() {
        return err;
    }
    let scrub = |s: String| s.replace(secret, "<redacted>");
    match err {
        SourceError::Status {
            status,
            snippet,
            retry_after,
        } => SourceError::Status {
            status,
            snippet: scrub(snippet),
            retry_after,
        },
        SourceError::Transport(m) => SourceError::Transport(scrub(m)),
        SourceError::Parse(m) => SourceError::Parse(scrub(m)),
        SourceError::Config(m) => SourceError::Config(scrub(m)),
        other @ (SourceError::Timeout(_) | SourceError::CircuitOpen(_)) => other,
    }
}

/// Runs a parser on the blocking pool (large documents take milliseconds to parse) and maps
/// a refused document to [`SourceError::Parse`].
pub async fn parse_blocking<E, F>(text: String, parse: F) -> Result<ParseReport, SourceError>
where
    E: Display,
    F: FnOnce(&str) -> Result<ParseReport, E> + Send + 'static,
{
    tokio::task::spawn_blocking(move || parse(&text).map_err(|e| e.to_string()))
        .await
        .map_err(|e| SourceError::Parse(format!("parser failed: {e}")))?
        .map_err(SourceError::Parse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::fake_server::{FakeServer, Reply};
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 120 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(120)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO), "a past date");
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&soon).unwrap());
        let delay = retry_after(&headers).unwrap();
        assert!(
            delay > Duration::from_secs(80) && delay <= Duration::from_secs(90),
            "{delay:?}"
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn snippets_are_short_and_single_line() {
        assert_eq!(
            snippet("  {\"error\":\n\t\"bad\"}  "),
            "{\"error\": \"bad\"}"
        );
        let long = "é".repeat(500);
        assert_eq!(snippet(&long).chars().count(), SNIPPET_CHARS);
    }

    #[test]
    fn redact_scrubs_the_key_from_every_message() {
        let err = SourceError::Status {
            status: 401,
            snippet: "bad key sk-123 given".into(),
            retry_after: None,
        };
        assert_eq!(
            redact(err, "sk-123").to_string(),
            "HTTP 401: bad key <redacted> given"
        );
        let err = SourceError::Transport("sk-123".into());
        assert_eq!(
            redact(err.clone(), ""),
            err,
            "an empty secret changes nothing"
        );
        assert!(!redact(err, "sk-123").to_string().contains("sk-123"));
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused() {
        let hundred = "x".repeat(100);
        let replies = vec![Reply::ok(hundred.clone()), Reply::ok(hundred)];
        let server = FakeServer::start(replies).await;
        let get = || client(Reach::Any).get(&server.base_url);
        let err = send(get(), Duration::from_secs(5), 99).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "transport error: response larger than 99 bytes"
        );
        assert_eq!(
            send(get(), Duration::from_secs(5), 100)
                .await
                .unwrap()
                .len(),
            100
        );
    }

    #[tokio::test]
    async fn an_unreachable_host_is_a_transport_error_and_a_bad_url_a_config_error() {
        // A port that was just free: the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/");
        let err = send(client(Reach::Any).get(url), Duration::from_secs(5), 1024)
            .await
            .unwrap_err();
        assert!(matches!(err, SourceError::Transport(_)), "{err:?}");
        assert!(
            !err.to_string().contains("127.0.0.1"),
            "URLs are left out: {err}"
        );
        let err = send(
            client(Reach::Any).get("not a url"),
            Duration::from_secs(5),
            1024,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SourceError::Config(_)), "{err:?}");
        assert!(!err.is_retryable());
    }
}
