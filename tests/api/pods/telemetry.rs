//! GPU telemetry: the owner issues an agent token, the node agent posts recorded
//! `nvidia-smi` output with it, the owner reads per-GPU series; downsampled minutes merge
//! exactly; bad tokens, bad samples and other users are refused; a machine without a GPU
//! makes the agent binary exit 3.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gpubroker::agent::{AgentArgs, AgentConfig, AgentError};
use gpubroker::auth::Role;
use serde_json::{json, Value};

use super::{demo_offer, deploy, fund, pod_app, wait_state};
use crate::common::{account, send, Backend, TestApp};

crate::both_backends!(
    the_agent_posts_recorded_nvidia_smi_output_and_the_owner_reads_it,
    two_posts_into_one_minute_merge_their_averages,
    ingest_validates_samples_and_needs_a_running_pod,
    the_agent_loop_posts_every_interval_until_shut_down,
);

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/agent/testdata")
        .join(name)
}

fn agent_config(app: &TestApp, token: &str, smi: &str) -> AgentConfig {
    AgentConfig::from_args(AgentArgs {
        broker: app.base.clone(),
        token: token.to_owned(),
        interval: "1s".into(),
        nvidia_smi: testdata(smi),
        once: true,
    })
    .unwrap()
}

/// A running pod of a new funded account; answers (access token, pod id, agent token).
async fn running_pod(app: &TestApp, email: &str) -> (String, String, String) {
    let (user_id, pair) = account(app, email, Role::User).await;
    let token = pair.access_token;
    fund(app, &user_id, 100_000_000).await;
    let (status, pod) = deploy(app, &token, &demo_offer(app).id).await;
    assert_eq!(status, 201, "{pod}");
    let id = pod["id"].as_str().unwrap().to_owned();
    wait_state(app, &token, &id, "running").await;
    let path = format!("/api/v2/pods/{id}/agent-token");
    let (status, body) = send(app, "POST", &path, Some(&token), None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["pod_id"], id.as_str());
    let agent = body["token"].as_str().unwrap().to_owned();
    assert!(agent.starts_with("gpa_") && agent.len() > 40, "{agent}");
    (token, id, agent)
}

async fn telemetry(app: &TestApp, token: &str, id: &str, query: &str) -> (u16, Value) {
    let path = format!("/api/v2/pods/{id}/telemetry{query}");
    send(app, "GET", &path, Some(token), None).await
}

async fn the_agent_posts_recorded_nvidia_smi_output_and_the_owner_reads_it(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (token, id, agent_token) = running_pod(&app, "gpus@example.com").await;
    let (status, empty) = telemetry(&app, &token, &id, "").await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["gpus"], json!([]));
    assert_eq!(empty["last_sample_at"], Value::Null);
    assert_eq!(
        (empty["minutes"].as_i64(), empty["step"].as_i64()),
        (Some(60), Some(1))
    );

    let config = agent_config(&app, &agent_token, "nvidia-smi-h100x8.sh");
    let report = gpubroker::agent::run(&config, std::future::pending())
        .await
        .unwrap();
    assert_eq!((report.posted, report.dropped), (8, 0));

    let (status, view) = telemetry(&app, &token, &id, "?minutes=10&step=5").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["pod_id"], id.as_str());
    assert!(view["last_sample_at"].is_string(), "{view}");
    let gpus = view["gpus"].as_array().unwrap();
    assert_eq!(gpus.len(), 8, "{view}");
    assert_eq!(gpus[0]["gpu_index"], 0);
    assert_eq!(gpus[0]["name"], "NVIDIA H100 80GB HBM3");
    assert_eq!(gpus[0]["uuid"], "GPU-8f6b9c3e-1d2a-4b7f-9e01-5a6c7d8e9f01");
    let p = &gpus[0]["points"][0];
    assert_eq!(p["samples"], 1);
    assert_eq!(p["utilization_avg"], 87.0);
    assert_eq!(p["utilization_max"], 87.0);
    assert_eq!(p["memory_used_avg"], 71234.0);
    assert_eq!(p["memory_total"], 81559);
    assert_eq!(p["temperature_max"], 61);
    assert_eq!(p["power_avg"], 312.5);
    assert_eq!(gpus[6]["points"][0]["utilization_max"], 100.0);
    assert_eq!(gpus[7]["points"][0]["power_avg"], 250.0);

    // Another user sees neither the telemetry nor the token route.
    let (_, intruder) = account(&app, "intruder@example.com", Role::User).await;
    let intruder = intruder.access_token.as_str();
    assert_eq!(telemetry(&app, intruder, &id, "").await.0, 404);
    let path = format!("/api/v2/pods/{id}/agent-token");
    assert_eq!(send(&app, "POST", &path, Some(intruder), None).await.0, 404);

    // A new token replaces the old one: the old agent is told to stop.
    let (status, _) = send(&app, "POST", &path, Some(&token), None).await;
    assert_eq!(status, 201);
    let err = gpubroker::agent::run(&config, std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Rejected(_)), "{err}");
    let wrong = agent_config(&app, "gpa_not-a-real-token", "nvidia-smi-h100x8.sh");
    let err = gpubroker::agent::run(&wrong, std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Rejected(_)), "{err}");
    app.stop().await.unwrap();
}

fn sample(at: chrono::DateTime<chrono::Utc>, util: f64, power: Option<f64>) -> Value {
    json!({
        "at": at, "gpu_index": 0, "uuid": "GPU-1", "name": "NVIDIA H100 80GB HBM3",
        "utilization_pct": util, "memory_used_mib": 1000, "memory_total_mib": 81559,
        "temperature_c": 50, "power_w": power, "power_limit_w": 700.0
    })
}

async fn ingest(app: &TestApp, agent: &str, samples: Vec<Value>) -> (u16, Value) {
    let body = json!({ "samples": samples });
    send(
        app,
        "POST",
        "/api/v2/agent/telemetry",
        Some(agent),
        Some(body),
    )
    .await
}

async fn two_posts_into_one_minute_merge_their_averages(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (token, id, agent) = running_pod(&app, "merge@example.com").await;
    let now = chrono::Utc::now();
    let minute =
        gpubroker::pods::telemetry::minute_start(gpubroker::pods::telemetry::minute_of(now));
    let s = chrono::Duration::seconds;
    let (status, body) = ingest(&app, &agent, vec![sample(minute, 10.0, Some(100.0))]).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, json!({ "accepted": 1, "ignored": 0 }));
    let second = vec![
        sample(minute + s(1), 30.0, None),
        sample(minute + s(2), 50.0, Some(400.0)),
    ];
    assert_eq!(ingest(&app, &agent, second).await.0, 202);
    // A sample older than the retention window is ignored, not refused.
    let old = sample(now - chrono::Duration::days(8), 99.0, None);
    let (status, body) = ingest(&app, &agent, vec![old]).await;
    assert_eq!(
        (status, body),
        (202, json!({ "accepted": 0, "ignored": 1 }))
    );

    let (status, view) = telemetry(&app, &token, &id, "?minutes=5").await;
    assert_eq!(status, 200, "{view}");
    let points = view["gpus"][0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 1, "{view}");
    let p = &points[0];
    assert_eq!(
        p["at"]
            .as_str()
            .map(|a| a.parse::<chrono::DateTime<chrono::Utc>>().unwrap()),
        Some(minute)
    );
    assert_eq!(p["samples"], 3);
    assert_eq!(
        p["utilization_avg"], 30.0,
        "(10 + 30 + 50) / 3, not (10 + 40) / 2"
    );
    assert_eq!(p["utilization_max"], 50.0);
    assert_eq!(
        p["power_avg"], 250.0,
        "only samples with a power reading count"
    );
    assert_eq!(p["memory_used_avg"], 1000.0);
    let last: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(view["last_sample_at"].clone()).unwrap();
    assert_eq!(last, minute + s(2));

    // Retention: the maintenance worker's prune deletes minutes before its cutoff.
    let store = &app.state.store;
    let this_minute = gpubroker::pods::telemetry::minute_of(minute);
    assert_eq!(store.telemetry_prune(this_minute).await.unwrap(), 0);
    assert_eq!(store.telemetry_prune(this_minute + 1).await.unwrap(), 1);
    let (_, view) = telemetry(&app, &token, &id, "?minutes=5").await;
    assert_eq!(view["gpus"], json!([]));
    app.stop().await.unwrap();
}

async fn ingest_validates_samples_and_needs_a_running_pod(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (token, id, agent) = running_pod(&app, "checks@example.com").await;
    let now = chrono::Utc::now();
    let refused = [
        (vec![], "1 to 100"),
        (vec![sample(now, 1.0, None); 101], "1 to 100"),
        (vec![sample(now, 100.5, None)], "utilization_pct"),
        (
            vec![sample(now + chrono::Duration::minutes(6), 1.0, None)],
            "future",
        ),
        (vec![sample(now, 1.0, Some(-3.0))], "power_w"),
    ];
    for (samples, why) in refused {
        let (status, body) = ingest(&app, &agent, samples).await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{body}"
        );
    }
    let (status, body) = ingest(&app, "gpa_unknown", vec![sample(now, 1.0, None)]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = send(
        &app,
        "POST",
        "/api/v2/agent/telemetry",
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 401);
    // A user's own access token is not an agent token.
    assert_eq!(
        ingest(&app, &token, vec![sample(now, 1.0, None)]).await.0,
        401
    );
    let (status, body) = telemetry(&app, &token, &id, "?minutes=0").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(telemetry(&app, &token, &id, "?step=1441").await.0, 422);
    assert_eq!(telemetry(&app, &token, &id, "?minutes=abc").await.0, 400);

    let stop = format!("/api/v2/pods/{id}/stop");
    assert_eq!(send(&app, "POST", &stop, Some(&token), None).await.0, 200);
    let (status, body) = ingest(&app, &agent, vec![sample(now, 1.0, None)]).await;
    assert_eq!(status, 409, "{body}");
    let path = format!("/api/v2/pods/{id}/agent-token");
    assert_eq!(send(&app, "POST", &path, Some(&token), None).await.0, 409);
    app.stop().await.unwrap();
}

/// Runs `gpubroker agent` with `nvidia-smi` standing in as `smi`, outside any data dir.
fn agent_process(smi: &Path) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpubroker"))
        .args([
            "agent",
            "--broker",
            "http://127.0.0.1:9",
            "--once",
            "--nvidia-smi",
        ])
        .arg(smi)
        .current_dir(dir.path())
        .env_clear()
        .env("GPUBROKER_AGENT_TOKEN", "gpa_unused")
        .output()
        .unwrap();
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "the agent wrote no data dir or config"
    );
    out
}

#[test]
fn the_agent_binary_on_a_machine_without_a_gpu_says_so_and_exits_3() {
    for smi in [
        testdata("nvidia-smi-no-driver.sh"),
        testdata("no-such-nvidia-smi"),
    ] {
        let out = agent_process(&smi);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("no NVIDIA GPU found"), "{stderr}");
    }
    let out = agent_process(&testdata("nvidia-smi-no-driver.sh"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("couldn't communicate with the NVIDIA driver"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_agent_once_fails_when_the_broker_is_unreachable() {
    let config = AgentConfig::from_args(AgentArgs {
        broker: format!("http://127.0.0.1:{}", crate::common::free_port()),
        token: "gpa_whatever".into(),
        interval: "5s".into(),
        nvidia_smi: testdata("nvidia-smi-h100x8.sh"),
        once: true,
    })
    .unwrap();
    let err = gpubroker::agent::run(&config, std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Failed(_)), "{err}");
    assert!(err.to_string().contains("cannot reach the broker"), "{err}");
}

async fn the_agent_loop_posts_every_interval_until_shut_down(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (token, id, agent_token) = running_pod(&app, "loop@example.com").await;
    let mut config = agent_config(&app, &agent_token, "nvidia-smi-h100x8.sh");
    config.once = false;
    config.interval = Duration::from_millis(200);
    let report = gpubroker::agent::run(&config, tokio::time::sleep(Duration::from_millis(1_100)))
        .await
        .unwrap();
    assert!(report.posted >= 8 * 3, "{report:?}");
    assert_eq!(report.posted % 8, 0, "whole readings: {report:?}");
    let (_, view) = telemetry(&app, &token, &id, "?minutes=5&step=5").await;
    let samples: i64 = view["gpus"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["samples"].as_i64().unwrap())
        .sum();
    assert_eq!(samples as usize, report.posted / 8, "{view}");
    app.stop().await.unwrap();
}

#[cfg(unix)]
#[test]
fn the_agent_binary_exits_cleanly_on_sigint_while_the_broker_is_down() {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_gpubroker"))
        .args(["agent", "--interval", "200ms", "--nvidia-smi"])
        .arg(testdata("nvidia-smi-h100x8.sh"))
        .arg("--broker")
        .arg(format!("http://127.0.0.1:{}", crate::common::free_port()))
        .env_clear()
        .env("GPUBROKER_AGENT_TOKEN", "gpa_unused")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1_500));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("posting telemetry failed"), "{stderr}");
    assert!(stderr.contains("agent stopped"), "{stderr}");
}
