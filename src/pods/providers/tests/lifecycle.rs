//! Each provider's machine from create to terminate, with the requests the fake got.

use super::*;

#[tokio::test]
async fn runpod_pod_lifecycle() {
    let runtime = json!({"ports": [
        {"ip": "203.0.113.7", "isIpPublic": true, "privatePort": 22, "publicPort": 40022, "type": "tcp"},
        {"ip": "100.65.0.2", "isIpPublic": false, "privatePort": 8888, "publicPort": 60001, "type": "http"}
    ]});
    let server = FakeServer::start(vec![
        gql(&json!({"myself": {"pods": [{"id": "old", "name": "other", "desiredStatus": "RUNNING"}]}})),
        gql(&json!({"podFindAndDeployOnDemand": {"id": "pod123", "desiredStatus": "RUNNING"}})),
        gql(&json!({"pod": {"id": "pod123", "desiredStatus": "RUNNING", "runtime": null}})),
        gql(&json!({"pod": {"id": "pod123", "desiredStatus": "RUNNING", "runtime": runtime}})),
        gql(&json!({"podStop": {"id": "pod123", "desiredStatus": "EXITED"}})),
        gql(&json!({"pod": {"id": "pod123", "desiredStatus": "EXITED", "runtime": null}})),
        gql(&json!({"podTerminate": null})),
        gql(&json!({"pod": {"id": "pod123", "desiredStatus": "TERMINATED", "runtime": null}})),
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
        Reply::ok(r#"{"success": true}"#),
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
    vast.start(&machine).await.unwrap();
    vast.terminate(&machine).await.unwrap();

    let r = server.requests();
    assert_eq!(r.len(), 8);
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
    assert_request(&r[6], "PUT", "/api/v0/instances/777/");
    assert_eq!(body(&r[6]), json!({"state": "running"}));
    assert_request(&r[7], "DELETE", "/api/v0/instances/777/");
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
async fn runpod_resumes_a_stopped_pod_with_its_gpu_count() {
    let server = FakeServer::start(vec![
        gql(&json!({"pod": {"id": "pod123", "gpuCount": 4}})),
        gql(&json!({"podResume": {"id": "pod123", "desiredStatus": "RUNNING"}})),
        gql(&json!({"pod": null})),
    ])
    .await;
    let rp = RunpodProvisioner::new(config(&server));
    rp.start("pod123").await.unwrap();
    assert!(matches!(
        rp.start("gone").await,
        Err(ProvisionError::Unknown(_))
    ));
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let resume = body(&requests[1]);
    assert!(resume["query"].as_str().unwrap().contains("podResume("));
    assert_eq!(
        resume["variables"],
        json!({"podId": "pod123", "gpuCount": 4})
    );
}
