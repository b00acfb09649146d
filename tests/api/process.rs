//! The real binary: zero-config start, PostgreSQL start, SIGTERM, production refusals,
//! secrets kept out of logs, and the backup/restore commands.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{binary, create_pg_database, free_port, pg_admin_url};

/// A `gpubroker serve` child process on a free port; its stderr goes to a file so a
/// chatty log can never fill a pipe and block the server.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) log: std::path::PathBuf,
}

pub(crate) fn start_server(dir: &Path, envs: &[(&str, &str)]) -> Server {
    let port = free_port();
    let log = dir.join("server.log");
    let child = Command::new(binary())
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GPUBROKER_LISTEN", format!("127.0.0.1:{port}"))
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    }
}

impl Server {
    /// Waits until `/health/` answers 200 and returns how long that took.
    pub(crate) async fn wait_healthy(&mut self) -> Duration {
        let started = Instant::now();
        let client = client();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(r) = client.get(format!("{}/health/", self.base)).send().await {
                if r.status() == 200 {
                    return started.elapsed();
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("server exited early with {status}: {log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not become healthy within 20 s");
    }

    /// Sends SIGTERM and waits for the exit; returns (success, seconds taken, stderr).
    pub(crate) fn terminate(self) -> (bool, Duration, String) {
        let started = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let output = wait_with_timeout(self.child, Duration::from_secs(30));
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        (output.status.success(), started.elapsed(), log)
    }
}

/// An HTTP client that never waits forever.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn zero_config_serve_is_healthy_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server(dir.path(), &[]);
    server.wait_healthy().await;
    let key = dir.path().join("gpubroker-data/master.key");
    assert!(dir.path().join("gpubroker-data/gpubroker.db").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "generated master key must be private");
    }
    let (ok, took, stderr) = server.terminate();
    assert!(ok, "exit status not success; stderr:\n{stderr}");
    assert!(took < Duration::from_secs(25), "took {took:?}");
    assert!(
        stderr.contains("generated a development master key"),
        "{stderr}"
    );
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
}

#[tokio::test]
async fn serve_on_postgresql_is_healthy_and_keeps_secrets_out_of_json_logs() {
    let Some(admin) = pg_admin_url() else { return };
    let url = create_pg_database(&admin).await;
    // The test cluster trusts local connections, so any password is accepted.
    let password = "pw-canary-7f3a9c";
    let url = url.replace("postgres@", &format!("postgres:{password}@"));
    let key = "c2VjcmV0LWtleS1jYW5hcnktMzItYnl0ZXMtbG9uZyE=";
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server(
        dir.path(),
        &[
            ("DATABASE_URL", &url),
            ("GPUBROKER_MASTER_KEY", key),
            ("LOG_FORMAT", "json"),
            ("LOG_LEVEL", "debug"),
        ],
    );
    server.wait_healthy().await;
    let client = client();
    let metrics = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(r#"backend="postgres""#), "{metrics}");
    let _ = client
        .get(format!("{}/nope?token=query-canary", server.base))
        .send()
        .await
        .unwrap();
    let (ok, _, stderr) = server.terminate();
    assert!(ok, "{stderr}");
    assert!(
        dir.path().join("gpubroker-data").is_dir(),
        "the data dir is created"
    );
    assert!(
        !dir.path().join("gpubroker-data/gpubroker.db").exists(),
        "no SQLite file with DATABASE_URL"
    );
    for canary in [password, key, "query-canary"] {
        assert!(
            !stderr.contains(canary),
            "log contains a secret ({canary}):\n{stderr}"
        );
    }
    let mut lines = 0;
    for line in stderr.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        lines += 1;
    }
    assert!(lines >= 3, "expected structured log lines, got {lines}");
    assert!(
        stderr.contains("\"request_id\""),
        "request logs carry the request id:\n{stderr}"
    );
}

#[test]
fn production_refuses_to_start_and_names_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("GPUBROKER_ENV", "production")
        .env("GPUBROKER_DEBUG", "true")
        .env(
            "DATABASE_URL",
            "postgres://u:pw@db.example.com/gpubroker?sslmode=disable",
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in [
        "master key",
        "GPUBROKER_PUBLIC_URL",
        "GPUBROKER_DEBUG",
        "sslmode",
        "sandbox payment gateway",
    ] {
        assert!(stderr.contains(needle), "missing {needle}: {stderr}");
    }
    assert!(!stderr.contains(":pw@"), "password printed: {stderr}");
    assert!(
        !dir.path().join("gpubroker-data").exists(),
        "nothing is created on refusal"
    );
}

fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .output()
        .unwrap()
}

#[test]
fn backup_and_restore_commands_round_trip_and_refuse_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let ok = |o: &Output| assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let migrated = cli(dir.path(), &["migrate", "--data-dir", "a"]);
    ok(&migrated);
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("migrated to version"));
    let backup = cli(dir.path(), &["backup", "a.jsonl", "--data-dir", "a"]);
    ok(&backup);
    assert!(String::from_utf8_lossy(&backup.stdout).contains("backup written"));
    let again = cli(dir.path(), &["backup", "a.jsonl", "--data-dir", "a"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let restored = cli(dir.path(), &["restore", "a.jsonl", "--data-dir", "b"]);
    ok(&restored);
    let refused = cli(dir.path(), &["restore", "a.jsonl", "--data-dir", "b"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"));
    ok(&cli(
        dir.path(),
        &["restore", "a.jsonl", "--data-dir", "b", "--force"],
    ));
    let missing = cli(dir.path(), &["restore", "missing.jsonl", "--data-dir", "b"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("missing.jsonl"));
}

#[tokio::test]
async fn sigterm_turns_readiness_off_during_the_drain_delay_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server(dir.path(), &[("GPUBROKER_DRAIN_DELAY", "2s")]);
    server.wait_healthy().await;
    let ready_url = format!("{}/ready", server.base);
    // /health/ can answer before migrations finish; wait for readiness proper.
    let mut ready = false;
    for _ in 0..100 {
        if client().get(&ready_url).send().await.unwrap().status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "/ready never answered 200");
    let terminating = tokio::task::spawn_blocking(move || server.terminate());
    let mut saw_draining = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok(response) = client().get(&ready_url).send().await {
            if response.status() == 503 {
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["status"], "draining");
                saw_draining = true;
                break;
            }
        }
    }
    assert!(
        saw_draining,
        "/ready never answered 503 draining after SIGTERM"
    );
    let (ok, took, log) = terminating.await.unwrap();
    assert!(ok, "{log}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(25),
        "took {took:?}"
    );
}
