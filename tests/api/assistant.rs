//! The assistant's chat: rule-based offline, and with a fake OpenAI-compatible model that
//! calls tools, invents a price, or fails.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use gpubroker::assistant::ChatAnswer;
use gpubroker::http::offers::OfferSearchResponse;
use gpubroker::providers::skypilot;
use gpubroker::settings::LlmSettings;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{spawn_app, spawn_app_configured, Backend, TestApp};

const CATALOGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/catalogs");

both_backends!(offline_chat_answers_from_the_catalog_and_keeps_the_conversation);

async fn with_lambda(app: &TestApp) {
    let text =
        std::fs::read_to_string(format!("{CATALOGS}/skypilot-catalog/v8/lambda/vms.csv")).unwrap();
    gpubroker::catalog::live::ingest_report(
        &app.state.store,
        Some(&app.state.catalog),
        "skypilot:lambda",
        skypilot::parse(&text, "lambda").unwrap(),
        5,
    )
    .await
    .unwrap();
}

async fn ask(app: &TestApp, body: Value) -> (u16, Value) {
    let resp = app.post_json("/api/v2/ai/chat", &body).await;
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn offline_chat_answers_from_the_catalog_and_keeps_the_conversation(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    with_lambda(&app).await;
    let (status, body) = ask(
        &app,
        json!({"message": "cheapest way to fine-tune a 7B model for 10 hours"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: ChatAnswer = serde_json::from_value(body).unwrap();
    assert_eq!(answer.mode, "rules");
    assert_eq!(answer.tools[0].tool, "recommend");
    assert!(!answer.offers.is_empty());
    // Every offer named exists in the catalog, and the reply names the first one.
    for o in &answer.offers {
        assert_eq!(
            app.get(&format!("/api/v2/offers/{}", o.id)).await.status(),
            200
        );
    }
    assert!(
        answer.reply.contains(&answer.offers[0].id),
        "{}",
        answer.reply
    );
    // Every dollar amount in the reply is a catalog price or a price × 10 hours.
    let sourced: Vec<f64> = answer
        .offers
        .iter()
        .flat_map(|o| {
            let p = o.price_per_hour.unwrap();
            [p, p * 10.0]
        })
        .collect();
    for amount in gpubroker::assistant::dollar_amounts(&answer.reply) {
        assert!(
            sourced.iter().any(|s| (s - amount).abs() < 0.01),
            "${amount} is not a catalog figure: {}",
            answer.reply
        );
    }

    // The conversation continues and is kept.
    let id = answer.conversation_id.clone();
    let (status, body) = ask(
        &app,
        json!({"message": "compare A100 and H100", "conversation_id": id}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tools"][0]["tool"], "compare_gpus");
    let history: Value = app
        .get(&format!("/api/v2/ai/conversations/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[1]["data"]["tools"][0]["tool"], "recommend");

    let (status, _) = ask(
        &app,
        json!({"message": "hi", "conversation_id": "conv_nope"}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.get("/api/v2/ai/conversations/conv_nope").await.status(),
        404
    );
    let (status, body) = ask(&app, json!({"message": "   "})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = ask(&app, json!({"message": "hello"})).await;
    assert_eq!(status, 200);
    assert!(body["reply"]
        .as_str()
        .unwrap()
        .contains("I answer from the live GPU catalog"));
    assert!(body["offers"].as_array().unwrap().is_empty());
    app.stop().await.unwrap();
}

/// How the fake model behaves.
#[derive(Clone, Copy)]
enum Script {
    /// Searches, then quotes the price the search returned.
    Honest,
    /// Searches, then quotes a price nobody returned.
    Invents,
    /// Answers 500.
    Broken,
}

#[derive(Clone)]
struct Fake {
    script: Script,
    requests: Arc<Mutex<Vec<Value>>>,
}

async fn completions(
    State(fake): State<Fake>,
    Json(req): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    fake.requests.lock().unwrap().push(req.clone());
    if matches!(fake.script, Script::Broken) {
        return (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "model overloaded"}})),
        );
    }
    let messages = req["messages"].as_array().unwrap();
    let last = messages.last().unwrap();
    let message = if last["role"] == "tool" {
        let result: Value = serde_json::from_str(last["content"].as_str().unwrap()).unwrap();
        let offer = &result["offers"][0];
        let price = match fake.script {
            Script::Honest => offer["price_per_hour"].as_f64().unwrap(),
            _ => 0.01,
        };
        json!({"role": "assistant", "content": format!(
            "The cheapest H100 right now is offer {} at ${price:.2}/h.", offer["id"].as_str().unwrap()
        )})
    } else {
        json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "search_offers", "arguments": "{\"query\":\"gpu=H100 sort=price\",\"limit\":1}"}
        }]})
    };
    (
        axum::http::StatusCode::OK,
        Json(
            json!({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}),
        ),
    )
}

async fn fake_model(script: Script) -> (String, Arc<Mutex<Vec<Value>>>) {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(Fake {
            script,
            requests: Arc::clone(&requests),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, requests)
}

async fn app_with_model(url: String) -> TestApp {
    let app = spawn_app_configured(Backend::Sqlite, None, |s| {
        s.llm = Some(LlmSettings {
            url: url.parse().unwrap(),
            model: "fake-model".into(),
            api_key: Some("sk-test-secret".into()),
        });
    })
    .await
    .unwrap();
    with_lambda(&app).await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_answers_through_tools_and_is_checked_against_the_catalog() {
    let (url, requests) = fake_model(Script::Honest).await;
    let app = app_with_model(url).await;
    let cheapest: OfferSearchResponse = app
        .get("/api/v2/offers?q=gpu%3DH100%20sort%3Dprice&limit=1")
        .await
        .json()
        .await
        .unwrap();
    let offer = &cheapest.offers[0];
    let (status, body) = ask(&app, json!({"message": "what is the cheapest H100?"})).await;
    assert_eq!(status, 200, "{body}");
    let answer: ChatAnswer = serde_json::from_value(body).unwrap();
    assert_eq!(answer.mode, "llm");
    assert_eq!(answer.model.as_deref(), Some("fake-model"));
    assert_eq!(answer.tools[0].tool, "search_offers");
    assert_eq!(answer.offers[0].id, offer.id);
    assert!(answer
        .reply
        .contains(&format!("${:.2}", offer.price_per_hour.unwrap())));
    // The model got the system prompt, the user's message, the tools and the tool result.
    let seen = requests.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0]["model"], "fake-model");
    assert_eq!(seen[0]["messages"][0]["role"], "system");
    assert_eq!(seen[0]["tools"].as_array().unwrap().len(), 4);
    assert_eq!(
        seen[1]["messages"].as_array().unwrap().last().unwrap()["tool_call_id"],
        "call_1"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invented_price_or_a_failing_model_falls_back_to_the_rules() {
    for (script, note) in [
        (
            Script::Invents,
            "quoted $0.01 that no catalog tool returned",
        ),
        (Script::Broken, "answered 500"),
    ] {
        let (url, _) = fake_model(script).await;
        let app = app_with_model(url).await;
        let (status, body) = ask(&app, json!({"message": "cheapest H100"})).await;
        assert_eq!(status, 200, "{body}");
        let answer: ChatAnswer = serde_json::from_value(body).unwrap();
        assert_eq!(answer.mode, "rules");
        assert!(
            answer.notes.iter().any(|n| n.contains(note)),
            "{:?}",
            answer.notes
        );
        assert!(!answer.notes.iter().any(|n| n.contains("sk-test-secret")));
        assert!(!answer.reply.contains("$0.01"));
        assert_eq!(answer.tools.last().unwrap().tool, "search_offers");
        app.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_belong_to_the_signed_in_user() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    with_lambda(&app).await;
    let alice = crate::auth::register_and_login(&app, "alice@example.com").await;
    let bob = crate::auth::register_and_login(&app, "bob@example.com").await;
    let token = |pair: &Value| pair["access_token"].as_str().unwrap().to_owned();
    let resp = app
        .client
        .post(format!("{}/api/v2/ai/chat", app.base))
        .bearer_auth(token(&alice))
        .json(&json!({"message": "cheapest H100"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.json::<Value>().await.unwrap()["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let get = |bearer: Option<String>| {
        let mut req = app
            .client
            .get(format!("{}/api/v2/ai/conversations/{id}", app.base));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(get(Some(token(&alice))).await.unwrap().status(), 200);
    // Another user, and nobody, see no such conversation; a bad token is a 401.
    assert_eq!(get(Some(token(&bob))).await.unwrap().status(), 404);
    assert_eq!(get(None).await.unwrap().status(), 404);
    assert_eq!(get(Some("not-a-token".into())).await.unwrap().status(), 401);
    // Bob cannot continue Alice's conversation either.
    let resp = app
        .client
        .post(format!("{}/api/v2/ai/chat", app.base))
        .bearer_auth(token(&bob))
        .json(&json!({"message": "and A100?", "conversation_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    app.stop().await.unwrap();
}
