//! Test doubles for price sources: an HTTP server on `127.0.0.1:0` that replays scripted
//! responses and records the requests it got, a scripted [`PriceSource`], and the
//! failure-mode checks every HTTP source must pass.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use futures_util::{stream, StreamExt};

use super::resilience::{fetch_resilient, CircuitBreaker};
use super::source::{FetchFuture, PriceSource, SourceError, SourcePolicy};
use super::ParseReport;

/// One scripted HTTP response.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// Wait before answering.
    pub delay: Duration,
    pub retry_after: Option<String>,
    /// Send the first half of the body, then break the connection.
    pub cut_short: bool,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: impl Into<String>) -> Self {
        Self::status(200, body)
    }

    /// `status` with `body`.
    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
            delay: Duration::ZERO,
            retry_after: None,
            cut_short: false,
        }
    }

    /// Answers after `delay`.
    pub fn delayed(self, delay: Duration) -> Self {
        Self { delay, ..self }
    }

    /// Adds a `Retry-After` header.
    pub fn retry_after(self, value: &str) -> Self {
        let retry_after = Some(value.to_owned());
        Self {
            retry_after,
            ..self
        }
    }

    /// Breaks the connection half-way through the body.
    pub fn cut_short(self) -> Self {
        Self {
            cut_short: true,
            ..self
        }
    }
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    /// Path and query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
}

/// A local HTTP server that answers with its script, in order (500 once it runs out).
pub struct FakeServer {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base_url: String,
    script: Arc<Script>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    /// Starts a server that will answer with `replies`.
    pub async fn start(replies: Vec<Reply>) -> Self {
        let script = Arc::new(Script {
            replies: Mutex::new(replies.into()),
            requests: Mutex::default(),
        });
        let app = axum::Router::new()
            .fallback(replay)
            .with_state(Arc::clone(&script));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base_url,
            script,
            task,
        }
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.script.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn replay(
    State(script): State<Arc<Script>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    let recorded = Recorded {
        method,
        path,
        headers,
        body,
    };
    script.requests.lock().unwrap().push(recorded);
    let next = script.replies.lock().unwrap().pop_front();
    let reply = next.unwrap_or_else(|| Reply::status(500, "fake server: no reply scripted"));
    tokio::time::sleep(reply.delay).await;
    let mut response = Response::builder()
        .status(reply.status)
        .header(CONTENT_TYPE, "application/json");
    if let Some(value) = &reply.retry_after {
        response = response.header(RETRY_AFTER, value);
    }
    let body = if reply.cut_short {
        // The pause lets the head and the first half reach the client before the break.
        let half = reply.body.as_bytes()[..reply.body.len() / 2].to_vec();
        let reset = stream::once(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(std::io::Error::other("fake server breaks the connection"))
        });
        Body::from_stream(stream::iter([Ok(half)]).chain(reset))
    } else {
        Body::from(reply.body)
    };
    response.body(body).unwrap()
}

/// One scripted fetch: wait, then return.
pub type Step = (Duration, Result<ParseReport, SourceError>);

/// A successful step whose report is recognisable by its `cpu_only` count.
pub fn ok_step(cpu_only: usize) -> Step {
    let report = ParseReport {
        cpu_only,
        ..ParseReport::default()
    };
    (Duration::ZERO, Ok(report))
}

/// An HTTP error step.
pub fn status_step(status: u16, retry_after: Option<Duration>) -> Step {
    let error = SourceError::Status {
        status,
        snippet: String::new(),
        retry_after,
    };
    (Duration::ZERO, Err(error))
}

/// A [`PriceSource`] that replays steps in order and counts its calls.
pub struct ScriptedSource {
    policy: SourcePolicy,
    steps: Mutex<VecDeque<Step>>,
    calls: AtomicU32,
}

impl ScriptedSource {
    /// A source with `policy` that will play `steps`.
    pub fn new(policy: SourcePolicy, steps: Vec<Step>) -> Self {
        let steps = Mutex::new(steps.into());
        let calls = AtomicU32::new(0);
        Self {
            policy,
            steps,
            calls,
        }
    }

    /// Calls of `fetch` so far.
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Appends a step.
    pub fn push(&self, step: Step) {
        self.steps.lock().unwrap().push_back(step);
    }
}

impl PriceSource for ScriptedSource {
    fn id(&self) -> &str {
        "scripted"
    }

    fn policy(&self) -> &SourcePolicy {
        &self.policy
    }

    fn fetch(&self) -> FetchFuture<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let step = self.steps.lock().unwrap().pop_front();
        let (delay, result) = step.expect("the script has a step for every call");
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            result
        })
    }
}

/// Builds the source under test, pointed at a base URL, with a policy.
pub type MakeSource<'a> = &'a dyn Fn(String, SourcePolicy) -> Box<dyn PriceSource>;

/// Runs the failure modes every HTTP source must map right against fake servers: 5xx
/// (retryable, then retried to success), 401 echoing `key` (not retryable, key redacted),
/// 429 with `Retry-After`, a slow answer (timeout), a malformed and a truncated body.
/// `valid` is a body the source accepts.
pub async fn check_failure_modes(make: MakeSource<'_>, key: &str, valid: &str) {
    let quick = SourcePolicy {
        timeout: Duration::from_millis(300),
        retries: 0,
        backoff: Duration::from_millis(1),
        ..SourcePolicy::http()
    };
    let fetch = |replies: Vec<Reply>, policy: SourcePolicy| async move {
        let server = FakeServer::start(replies).await;
        let source = make(server.base_url.clone(), policy);
        let result = fetch_resilient(source.as_ref(), &CircuitBreaker::new(source.policy())).await;
        (result, server.requests().len())
    };
    let replies = vec![Reply::status(503, "upstream <b>down</b>"), Reply::ok(valid)];
    let retried = SourcePolicy {
        retries: 1,
        ..quick.clone()
    };
    let (result, requests) = fetch(replies, retried.clone()).await;
    assert_eq!(
        (result.unwrap().attempts, requests),
        (2, 2),
        "a 503 is retried"
    );

    let (result, _) = fetch(
        vec![Reply::status(500, "upstream <b>down</b>")],
        quick.clone(),
    )
    .await;
    let err = result.unwrap_err();
    let snippet = match &err {
        SourceError::Status {
            status: 500,
            snippet,
            ..
        } => snippet.as_str(),
        other => panic!("expected a 500: {other:?}"),
    };
    assert!(
        snippet.contains("<b>down</b>") && err.is_retryable(),
        "{err:?}"
    );

    let echo = format!(r#"{{"error": "invalid api key {key}"}}"#);
    let (result, requests) = fetch(vec![Reply::status(401, echo)], retried.clone()).await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, SourceError::Status { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable() && requests == 1, "a 401 is not retried");
    let message = err.to_string();
    let redacted = !message.contains(key) && message.contains("invalid api key <redacted>");
    assert!(key.is_empty() || redacted, "key leaked: {message}");

    let limited = Reply::status(429, "slow down").retry_after("7");
    let (result, _) = fetch(vec![limited], quick.clone()).await;
    let err = result.unwrap_err();
    let seven = Some(Duration::from_secs(7));
    assert!(
        matches!(err, SourceError::Status { status: 429, retry_after, .. } if retry_after == seven),
        "{err:?}"
    );

    let started = std::time::Instant::now();
    let slow = Reply::ok(valid).delayed(Duration::from_secs(5));
    let (result, _) = fetch(vec![slow], quick.clone()).await;
    assert_eq!(result.unwrap_err(), SourceError::Timeout(quick.timeout));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    let (result, _) = fetch(
        vec![Reply::ok("<html>502 Bad Gateway</html>")],
        quick.clone(),
    )
    .await;
    let err = result.unwrap_err();
    assert!(matches!(err, SourceError::Parse(_)), "malformed: {err:?}");

    let (result, _) = fetch(vec![Reply::ok(valid).cut_short()], quick).await;
    let err = result.unwrap_err();
    let cut = matches!(&err, SourceError::Transport(m) if m.starts_with("response body cut short"));
    assert!(cut && err.is_retryable(), "truncated: {err:?}");
}
