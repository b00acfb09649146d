//! The provider clients against scripted fake servers with the real request and response
//! shapes: create → booting → running with connection details → stop → terminate, the
//! requests each fake received, the error mapping, and a create retried after its first
//! answer was lost making exactly one machine.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::lambda::LambdaProvisioner;
use super::runpod::RunpodProvisioner;
use super::vast::VastProvisioner;
use super::{machine_name, ClientConfig, DeploySettings};
use crate::net_guard::Reach;
use crate::pods::provisioner::{
    Connection, LaunchSpec, MachineStatus, ProvisionError, Provisioner,
};
use crate::providers::fake_server::{FakeServer, Recorded, Reply};

const KEY: &str = "sk-secret-key";
const TOKEN: &str = "usr_1:retry-me";

fn config(server: &FakeServer) -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_millis(500),
        backoff: Duration::from_millis(1),
        deploy: DeploySettings {
            image: "img:1".into(),
            disk_gb: 25,
            lambda_ssh_key: Some("my-key".into()),
        },
        ..ClientConfig::new(Some(server.base_url.clone()), KEY.into(), Reach::Any)
    }
}

fn spec(extras: Value) -> LaunchSpec {
    let Value::Object(extras) = extras else {
        panic!("extras must be an object")
    };
    LaunchSpec {
        client_token: TOKEN.into(),
        offer_id: "x-0123".into(),
        provider: "p".into(),
        name: "my pod".into(),
        instance_type: "gpu_1x_a100_sxm4".into(),
        region: "us-east-1".into(),
        gpu: "NVIDIA A100 80GB PCIe".into(),
        gpu_count: 1,
        extras: extras.into_iter().collect::<Map<String, Value>>(),
    }
}

fn body(r: &Recorded) -> Value {
    serde_json::from_str(&r.body).unwrap()
}

fn assert_request(r: &Recorded, method: &str, path: &str) {
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        (method, path),
        "{r:?}"
    );
    assert_eq!(r.headers["authorization"], format!("Bearer {KEY}"));
}

fn gql(data: Value) -> Reply {
    Reply::ok(json!({ "data": data }).to_string())
}

#[tokio::test]
async fn runpod_pod_lifecycle() {
    let runtime = json!({"ports": [
        {"ip": "203.0.113.7", "isIpPublic": true, "privatePort": 22, "publicPort": 40022, "type": "tcp"},
        {"ip": "100.65.0.2", "isIpPublic": false, "privatePort": 8888, "publicPort": 60001, "type": "http"}
    ]});
    let server = FakeServer::start(vec![
        gql(json!({"myself": {"pods": [{"id": "old", "name": "other", "desiredStatus": "RUNNING"}]}})),
        gql(json!({"podFindAndDeployOnDemand": {"id": "pod123", "desiredStatus": "RUNNING"}})),
        gql(json!({"pod": {"id": "pod123", "desiredStatus": "RUNNING", "runtime": null}})),
        gql(json!({"pod": {"id": "pod123", "desiredStatus": "RUNNING", "runtime": runtime}})),
        gql(json!({"podStop": {"id": "pod123", "desiredStatus": "EXITED"}})),
        gql(json!({"pod": {"id": "pod123", "desiredStatus": "EXITED", "runtime": null}})),
        gql(json!({"podTerminate": null})),
        gql(json!({"pod": {"id": "pod123", "desiredStatus": "TERMINATED", "runtime": null}})),
    ])
    .await;
    let rp = RunpodProvisioner::new(config(&server));
    let machine = rp.create(&spec(json!({"cloud": "secure"}))).await.unwrap();
    assert_eq!(machine, "pod123");
    assert_eq!(
        rp.status(&machine).await.unwrap(),
        MachineStatus::Provisioning
    );
    let running = MachineStatus::Running(Connection {
        ssh_host: Some("203.0.113.7".into()),
        ssh_port: Some(40022),
        ssh_user: Some("root".into()),
        jupyter_url: Some("https://pod123-8888.proxy.runpod.net".into()),
    });
    assert_eq!(rp.status(&machine).await.unwrap(), running);
    rp.stop(&machine).await.unwrap();
    assert_eq!(rp.status(&machine).await.unwrap(), MachineStatus::Stopped);
    rp.terminate(&machine).await.unwrap();
    assert_eq!(
        rp.status(&machine).await.unwrap(),
        MachineStatus::Terminated
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 8);
    for r in &requests {
        assert_request(r, "POST", "/graphql");
    }
    let list = body(&requests[0]);
    assert!(list["query"]
        .as_str()
        .unwrap()
        .contains("myself { pods { id name"));
    let deploy = body(&requests[1]);
    assert!(deploy["query"]
        .as_str()
        .unwrap()
        .contains("podFindAndDeployOnDemand(input: $input)"));
    let input = &deploy["variables"]["input"];
    assert_eq!(input["gpuTypeId"], "NVIDIA A100 80GB PCIe");
    assert_eq!(input["cloudType"], "SECURE");
    assert_eq!(input["gpuCount"], 1);
    assert_eq!(input["name"], machine_name(TOKEN));
    assert_eq!(input["imageName"], "img:1");
    assert_eq!(input["containerDiskInGb"], 25);
    let status = body(&requests[2]);
    assert!(status["query"]
        .as_str()
        .unwrap()
        .contains("pod(input: {podId: $podId})"));
    assert_eq!(status["variables"], json!({"podId": "pod123"}));
    assert!(body(&requests[4])["query"]
        .as_str()
        .unwrap()
        .contains("podStop("));
    assert!(body(&requests[6])["query"]
        .as_str()
        .unwrap()
        .contains("podTerminate("));
    assert_eq!(body(&requests[6])["variables"], json!({"podId": "pod123"}));
}

#[tokio::test]
async fn vast_instance_lifecycle() {
    let server = FakeServer::start(vec![
        Reply::ok(r#"{"instances": [{"id": 5, "label": "someone-else", "actual_status": "running"}]}"#),
        Reply::ok(r#"{"success": true, "new_contract": 777}"#),
        Reply::ok(r#"{"instances": {"id": 777, "actual_status": "loading", "ssh_host": null}}"#),
        Reply::ok(
            r#"{"instances": {"id": 777, "actual_status": "running", "ssh_host": "ssh4.vast.ai", "ssh_port": 17772}}"#,
        ),
        Reply::ok(r#"{"success": true}"#),
        Reply::ok(r#"{"instances": {"id": 777, "actual_status": "exited"}}"#),
        Reply::ok(r#"{"success": true, "msg": "destroying instance 777."}"#),
    ])
    .await;
    let vast = VastProvisioner::new(config(&server));
    let machine = vast
        .create(&spec(json!({"offer_id": 13_489_095})))
        .await
        .unwrap();
    assert_eq!(machine, "777");
    assert_eq!(
        vast.status(&machine).await.unwrap(),
        MachineStatus::Provisioning
    );
    let running = MachineStatus::Running(Connection {
        ssh_host: Some("ssh4.vast.ai".into()),
        ssh_port: Some(17772),
        ssh_user: Some("root".into()),
        jupyter_url: None,
    });
    assert_eq!(vast.status(&machine).await.unwrap(), running);
    vast.stop(&machine).await.unwrap();
    assert_eq!(vast.status(&machine).await.unwrap(), MachineStatus::Stopped);
    vast.terminate(&machine).await.unwrap();

    let r = server.requests();
    assert_eq!(r.len(), 7);
    assert_request(&r[0], "GET", "/api/v0/instances/?owner=me");
    assert_request(&r[1], "PUT", "/api/v0/asks/13489095/");
    assert_eq!(
        body(&r[1]),
        json!({"client_id": "me", "image": "img:1", "disk": 25,
               "label": machine_name(TOKEN), "runtype": "ssh"})
    );
    assert_request(&r[2], "GET", "/api/v0/instances/777/");
    assert_request(&r[4], "PUT", "/api/v0/instances/777/");
    assert_eq!(body(&r[4]), json!({"state": "stopped"}));
    assert_request(&r[6], "DELETE", "/api/v0/instances/777/");
}

#[tokio::test]
async fn lambda_instance_lifecycle_where_stop_terminates() {
    let id = "0920582c7ff041399e34823a0be62549";
    let instance = |status: &str| {
        Reply::ok(
            json!({"data": {"id": id, "name": machine_name(TOKEN), "status": status,
                "ip": "198.51.100.9", "jupyter_url": "https://jupyter-x.lambdaspaces.com/?token=t"}})
            .to_string(),
        )
    };
    let server = FakeServer::start(vec![
        Reply::ok(
            json!({"data": [{"id": "gone", "name": machine_name(TOKEN), "status": "terminated"}]})
                .to_string(),
        ),
        Reply::ok(json!({"data": {"instance_ids": [id]}}).to_string()),
        instance("booting"),
        instance("active"),
        instance("active"),
        Reply::ok(
            json!({"data": {"terminated_instances": [{"id": id, "status": "terminating"}]}})
                .to_string(),
        ),
        instance("terminated"),
        instance("terminated"),
    ])
    .await;
    let lambda = LambdaProvisioner::new(config(&server));
    let machine = lambda.create(&spec(json!({}))).await.unwrap();
    assert_eq!(machine, id, "a terminated namesake is not reused");
    assert_eq!(
        lambda.status(&machine).await.unwrap(),
        MachineStatus::Provisioning
    );
    let running = MachineStatus::Running(Connection {
        ssh_host: Some("198.51.100.9".into()),
        ssh_port: Some(22),
        ssh_user: Some("ubuntu".into()),
        jupyter_url: Some("https://jupyter-x.lambdaspaces.com/?token=t".into()),
    });
    assert_eq!(lambda.status(&machine).await.unwrap(), running);
    lambda.stop(&machine).await.unwrap();
    assert_eq!(
        lambda.status(&machine).await.unwrap(),
        MachineStatus::Terminated
    );
    lambda.terminate(&machine).await.unwrap();

    let r = server.requests();
    assert_eq!(r.len(), 8, "the second terminate only looks: {r:?}");
    assert_request(&r[0], "GET", "/api/v1/instances");
    assert_request(&r[1], "POST", "/api/v1/instance-operations/launch");
    assert_eq!(
        body(&r[1]),
        json!({"region_name": "us-east-1", "instance_type_name": "gpu_1x_a100_sxm4",
               "ssh_key_names": ["my-key"], "quantity": 1, "name": machine_name(TOKEN)})
    );
    assert_request(&r[2], "GET", &format!("/api/v1/instances/{id}"));
    assert_request(&r[5], "POST", "/api/v1/instance-operations/terminate");
    assert_eq!(body(&r[5]), json!({"instance_ids": [id]}));
}

#[tokio::test]
async fn lambda_refuses_without_an_ssh_key_or_capacity() {
    let server = FakeServer::start(vec![]).await;
    let mut cfg = config(&server);
    cfg.deploy.lambda_ssh_key = None;
    let err = LambdaProvisioner::new(cfg)
        .create(&spec(json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProvisionError::Rejected(m) if m.contains("GPUBROKER_LAMBDA_SSH_KEY")),
        "{err:?}"
    );
    let mut no_capacity = spec(json!({}));
    no_capacity.region = "unavailable".into();
    let err = LambdaProvisioner::new(config(&server))
        .create(&no_capacity)
        .await
        .unwrap_err();
    assert!(matches!(err, ProvisionError::Rejected(_)), "{err:?}");
    let err = VastProvisioner::new(config(&server))
        .create(&spec(json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProvisionError::Rejected(_)),
        "no ask id: {err:?}"
    );
    assert!(server.requests().is_empty());
}

/// Each provider's client, its "no machine yet" list, a create that the fake answers
/// with `lost`, the list that then shows the machine, and the expected machine id.
async fn lost_create_is_found_not_repeated(lost: Reply) {
    let name = machine_name(TOKEN);
    let cases: Vec<(&str, Vec<Reply>, &str)> = vec![
        (
            "runpod",
            vec![
                gql(json!({"myself": {"pods": []}})),
                lost.clone(),
                gql(
                    json!({"myself": {"pods": [{"id": "pod9", "name": name, "desiredStatus": "RUNNING"}]}}),
                ),
            ],
            "pod9",
        ),
        (
            "vast",
            vec![
                Reply::ok(r#"{"instances": []}"#),
                lost.clone(),
                Reply::ok(json!({"instances": [{"id": 91, "label": name}]}).to_string()),
            ],
            "91",
        ),
        (
            "lambda",
            vec![
                Reply::ok(r#"{"data": []}"#),
                lost.clone(),
                Reply::ok(
                    json!({"data": [{"id": "l9", "name": name, "status": "booting"}]}).to_string(),
                ),
            ],
            "l9",
        ),
    ];
    for (provider, replies, expected) in cases {
        let server = FakeServer::start(replies).await;
        let client: Box<dyn Provisioner> = match provider {
            "runpod" => Box::new(RunpodProvisioner::new(config(&server))),
            "vast" => Box::new(VastProvisioner::new(config(&server))),
            _ => Box::new(LambdaProvisioner::new(config(&server))),
        };
        let machine = client
            .create(&spec(json!({"offer_id": 4, "cloud": "community"})))
            .await
            .unwrap();
        assert_eq!(machine, expected, "{provider}");
        let creates = server
            .requests()
            .iter()
            .filter(|r| {
                r.path.contains("/asks/")
                    || r.path.contains("launch")
                    || r.body.contains("podFindAndDeployOnDemand")
            })
            .count();
        assert_eq!(creates, 1, "{provider}: exactly one machine created");
        assert_eq!(server.requests().len(), 3, "{provider}");
    }
}

#[tokio::test]
async fn a_create_answered_502_is_found_on_retry_not_made_twice() {
    lost_create_is_found_not_repeated(Reply::status(502, "<html>bad gateway</html>")).await;
}

#[tokio::test]
async fn a_create_whose_connection_is_cut_is_found_on_retry_not_made_twice() {
    lost_create_is_found_not_repeated(
        Reply::ok(r#"{"data": {"instance_ids": ["zzzz"]}}"#).cut_short(),
    )
    .await;
}

#[tokio::test]
async fn errors_map_to_rejected_unavailable_and_unknown() {
    let server = FakeServer::start(vec![
        // 400 on create: refused at once, no retry.
        Reply::ok(r#"{"instances": []}"#),
        Reply::status(
            400,
            format!(r#"{{"error": "invalid_args", "msg": "bad key {KEY}"}}"#),
        ),
        // 404 on status.
        Reply::status(404, r#"{"error": "no_such_instance"}"#),
        // 500 on stop; 429 on terminate.
        Reply::status(500, "oops"),
        Reply::status(429, "slow down"),
        // A slow answer times out; garbage is unavailable too.
        Reply::ok(r#"{"success": true}"#).delayed(Duration::from_secs(3)),
        Reply::ok("<html>maintenance</html>"),
        // 401 on status is a refusal.
        Reply::status(401, "unauthorized"),
        Reply::ok(r#"{"success": false, "msg": "no such ask"}"#),
    ])
    .await;
    let mut cfg = config(&server);
    cfg.create_attempts = 1;
    let vast = VastProvisioner::new(cfg);
    let err = vast
        .create(&spec(json!({"offer_id": 1})))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProvisionError::Rejected(m) if m.contains("HTTP 400")),
        "{err:?}"
    );
    assert!(!err.to_string().contains(KEY), "key leaked: {err}");
    let err = vast.status("42").await.unwrap_err();
    assert!(matches!(err, ProvisionError::Unknown(_)), "{err:?}");
    let err = vast.stop("42").await.unwrap_err();
    assert!(matches!(err, ProvisionError::Unavailable(_)), "{err:?}");
    let err = vast.terminate("42").await.unwrap_err();
    assert!(
        matches!(err, ProvisionError::Unavailable(_)),
        "429: {err:?}"
    );
    let err = vast.terminate("42").await.unwrap_err();
    assert!(
        matches!(err, ProvisionError::Unavailable(_)),
        "timeout: {err:?}"
    );
    let err = vast.status("42").await.unwrap_err();
    assert!(
        matches!(err, ProvisionError::Unavailable(_)),
        "garbage: {err:?}"
    );
    let err = vast.status("42").await.unwrap_err();
    assert!(matches!(err, ProvisionError::Rejected(_)), "401: {err:?}");
    let err = vast.stop("42").await.unwrap_err();
    assert!(
        matches!(err, ProvisionError::Rejected(_)),
        "success false: {err:?}"
    );
}

#[tokio::test]
async fn runpod_graphql_errors_and_missing_pods() {
    let server = FakeServer::start(vec![
        gql(json!({"pod": null})),
        Reply::ok(r#"{"errors": [{"message": "pod not found"}], "data": null}"#),
        gql(json!({"myself": {"pods": []}})),
        Reply::ok(format!(
            r#"{{"errors": [{{"message": "There are no longer any instances available with the requested specifications. key {KEY}"}}]}}"#
        )),
        Reply::status(500, "oops"),
        Reply::status(500, "oops"),
    ])
    .await;
    let mut cfg = config(&server);
    cfg.create_attempts = 2;
    let rp = RunpodProvisioner::new(cfg);
    assert!(matches!(
        rp.status("p").await,
        Err(ProvisionError::Unknown(_))
    ));
    assert!(matches!(
        rp.status("p").await,
        Err(ProvisionError::Unknown(_))
    ));
    let err = rp.create(&spec(json!({}))).await.unwrap_err();
    assert!(
        matches!(&err, ProvisionError::Rejected(m) if m.contains("no longer")),
        "{err:?}"
    );
    assert!(!err.to_string().contains(KEY), "key leaked: {err}");
    // The list fails twice: unavailable after both attempts, nothing created.
    let err = rp.create(&spec(json!({}))).await.unwrap_err();
    assert!(matches!(err, ProvisionError::Unavailable(_)), "{err:?}");
    assert_eq!(server.requests().len(), 6);
}
