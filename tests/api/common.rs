//! Test harness: fresh databases of either backend, an app spawned on `127.0.0.1:0`,
//! in-process routers for `oneshot`, and helpers to run the real binary.

use std::path::PathBuf;
use std::time::Duration;

use gpubroker::app::{AppState, Phase};
use gpubroker::settings::Settings;
use gpubroker::store::Store;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Admin URL of the throwaway PostgreSQL cluster, if one was started for the tests.
/// Under `CI=true` a missing cluster fails the test instead of skipping it.
pub fn pg_admin_url() -> Option<String> {
    match std::env::var("GPUBROKER_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but GPUBROKER_TEST_PG_URL is not set: PostgreSQL tests must run in CI")
        }
        _ => {
            eprintln!(
                "skipping PostgreSQL test: GPUBROKER_TEST_PG_URL is not set (run scripts/test.sh)"
            );
            None
        }
    }
}

/// A fresh, empty database and a data dir; the PostgreSQL database is unique per test.
pub struct TestDb {
    pub dir: TempDir,
    /// `None` for SQLite (the file lives in `dir`).
    pub url: Option<String>,
}

impl TestDb {
    /// Creates the database; `None` when PostgreSQL is unavailable outside CI.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(create_pg_database(&pg_admin_url()?).await),
        };
        Some(TestDb { dir, url })
    }

    /// Development settings on this database with a small pool.
    pub fn settings(&self) -> Settings {
        let mut settings =
            Settings::for_data_dir(self.dir.path(), self.url.clone()).expect("settings");
        settings.database.pool_max = 5;
        settings.database.connect_timeout = Duration::from_secs(10);
        // Fake provider, LLM and Vault servers listen on loopback.
        settings.outbound = gpubroker::net_guard::Reach::Any;
        // No price source runs unless a test adds one (the default would start the demo market).
        settings.sources.clear();
        // Tests fire bursts; the rate-limit tests set tiny limits of their own.
        settings.rate_limits = gpubroker::settings::RateLimits {
            free: 1_000_000,
            pro: 1_000_000,
            enterprise: 1_000_000,
        };
        settings
    }

    /// The data dir path.
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// A connected store (not migrated).
    pub async fn store(&self) -> Store {
        Store::connect(&self.settings().database)
            .await
            .expect("connect")
    }

    /// A connected and migrated store.
    pub async fn migrated_store(&self) -> Store {
        let store = self.store().await;
        store.migrate().await.expect("migrate");
        store
    }
}

/// Creates a uniquely named database on the cluster and returns its URL.
pub async fn create_pg_database(admin_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to test cluster");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    conn.close().await.ok();
    let mut url = url::Url::parse(admin_url).expect("admin url");
    url.set_path(&name);
    url.to_string()
}

/// An application state on a fresh, migrated database, not serving (phase Starting).
pub async fn test_state(backend: Backend) -> Option<(AppState, TestDb)> {
    let db = TestDb::new(backend).await?;
    let settings = db.settings();
    let (key, _) = settings.master_key.load().expect("master key");
    let store = db.migrated_store().await;
    Some((AppState::new(settings, store, key), db))
}

/// A server spawned on `127.0.0.1:0` through the real `app::serve`.
pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub client: reqwest::Client,
    /// Keeps the data dir and database alive as long as the app.
    #[allow(dead_code)]
    db: TestDb,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<anyhow::Result<()>>,
}

/// Spawns the app on a fresh database and waits until `/ready` answers 200.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, None).await
}

/// Like [`spawn_app`], serving `router` (built from the state) instead of the default one.
pub async fn spawn_app_with(
    backend: Backend,
    router: Option<fn(AppState) -> axum::Router>,
) -> Option<TestApp> {
    spawn_app_configured(backend, router, |_| {}).await
}

/// Like [`spawn_app_with`], with the settings adjusted by `configure` first.
pub async fn spawn_app_configured(
    backend: Backend,
    router: Option<fn(AppState) -> axum::Router>,
    configure: impl FnOnce(&mut gpubroker::settings::Settings),
) -> Option<TestApp> {
    let db = TestDb::new(backend).await?;
    let mut settings = db.settings();
    configure(&mut settings);
    let (key, _) = settings.master_key.load().expect("master key");
    let store = db.store().await;
    let state = AppState::new(settings, store, key);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    let signal = async move {
        let _ = stopped.await;
    };
    let router = router.map_or_else(
        || gpubroker::http::router(state.clone()),
        |f| f(state.clone()),
    );
    let handle = tokio::spawn(gpubroker::app::serve_with(
        listener,
        state.clone(),
        router,
        signal,
    ));
    let app = TestApp {
        base,
        state,
        client: reqwest::Client::new(),
        db,
        stop: Some(stop),
        handle,
    };
    app.wait_ready().await;
    Some(app)
}

impl TestApp {
    /// Polls `/ready` until 200 (10 s at most).
    pub async fn wait_ready(&self) {
        for _ in 0..200 {
            if self.state.phase() == Phase::Ready {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("app did not become ready");
    }

    /// `GET base+path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }

    /// `POST base+path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Sends the shutdown signal and waits for `serve` to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.handle.await.expect("serve task")
    }
}

/// Path of the `gpubroker` binary built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gpubroker"))
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Generates one `#[tokio::test]` per backend for each async fn taking a [`Backend`].
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await;
            }
        }
    )*};
}

/// Password of accounts made by [`account`].
pub const TEST_PASSWORD: &str = "correct horse battery";

/// Registers an account with `role` (password [`TEST_PASSWORD`]) and signs it in; returns
/// the user id and the token pair.
pub async fn account(
    app: &TestApp,
    email: &str,
    role: gpubroker::auth::Role,
) -> (String, gpubroker::auth::TokenPair) {
    let email = gpubroker::auth::Email::parse(email).expect("email");
    let password = gpubroker::auth::Password::parse(TEST_PASSWORD).expect("password");
    let user = app
        .state
        .auth
        .register(&email, &password, role, None)
        .await
        .expect("register");
    let pair = app
        .state
        .auth
        .login(email.as_str(), TEST_PASSWORD)
        .await
        .expect("login");
    (user.id, pair)
}

/// Sends `method base+path` with an optional bearer credential (token or API key) and JSON
/// body; returns the status and the body (JSON, or the text as a JSON string).
pub async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = app.client.request(method, format!("{}{path}", app.base));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, body)
}

/// Runs `sql` (one or more statements) on the database of `settings` outside the store,
/// as an attacker with database access would.
pub async fn raw_sql(settings: &gpubroker::settings::Settings, sql: &str) {
    use gpubroker::settings::DatabaseTarget;
    use sqlx::Connection;
    match &settings.database.target {
        DatabaseTarget::Sqlite(path) => {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .expect("sqlite");
            sqlx::raw_sql(sql)
                .execute(&mut conn)
                .await
                .expect("raw sql");
            conn.close().await.ok();
        }
        DatabaseTarget::Postgres(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("postgres");
            sqlx::raw_sql(sql)
                .execute(&mut conn)
                .await
                .expect("raw sql");
            conn.close().await.ok();
        }
    }
}

/// Runs the real binary on a SQLite data dir, with `stdin` piped in.
pub fn cli(dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(crate::common::binary())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("GPUBROKER_DATA_DIR", dir.join("data"))
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cli");
    child
        .stdin
        .take()
        .expect("cli")
        .write_all(stdin.as_bytes())
        .expect("cli");
    child.wait_with_output().expect("cli")
}
