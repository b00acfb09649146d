//! Refusals, outages, lost answers and the error mapping.

use super::*;

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
                gql(&json!({"myself": {"pods": []}})),
                lost.clone(),
                gql(
                    &json!({"myself": {"pods": [{"id": "pod9", "name": name, "desiredStatus": "RUNNING"}]}}),
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
        gql(&json!({"pod": null})),
        Reply::ok(r#"{"errors": [{"message": "pod not found"}], "data": null}"#),
        gql(&json!({"myself": {"pods": []}})),
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

#[tokio::test]
async fn a_machine_reference_unfit_for_a_url_path_is_unknown_without_a_request() {
    let server = FakeServer::start(vec![]).await;
    let vast = VastProvisioner::new(config(&server));
    let lambda = LambdaProvisioner::new(config(&server));
    for bad in ["../accounts", "1?x=2", "", "a/b"] {
        assert!(matches!(
            vast.status(bad).await,
            Err(ProvisionError::Unknown(_))
        ));
        assert!(matches!(
            vast.terminate(bad).await,
            Err(ProvisionError::Unknown(_))
        ));
        assert!(matches!(
            lambda.status(bad).await,
            Err(ProvisionError::Unknown(_))
        ));
        assert!(
            lambda.terminate(bad).await.is_ok(),
            "unknown: nothing to terminate"
        );
    }
    assert!(server.requests().is_empty());
}
