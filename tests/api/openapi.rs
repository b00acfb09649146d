//! The OpenAPI document, its committed snapshot, the docs page and the API index.

use crate::common::{spawn_app, Backend};

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");

#[test]
fn openapi_document_matches_the_committed_snapshot() {
    let generated = serde_json::to_string_pretty(&gpubroker::http::openapi()).unwrap() + "\n";
    if std::env::var("UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
        std::fs::create_dir_all(std::path::Path::new(SNAPSHOT).parent().unwrap()).unwrap();
        std::fs::write(SNAPSHOT, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: run `UPDATE_SNAPSHOTS=1 cargo test openapi` and review the diff"
    );
}

#[tokio::test]
async fn openapi_is_3_1_and_documents_every_operation() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let response = app.get("/api/v2/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc: serde_json::Value = response.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    for path in [
        "/health/",
        "/ready",
        "/metrics",
        "/api/v2/",
        "/api/v2/openapi.json",
        "/api/v2/docs",
    ] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} is not documented"
        );
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn docs_page_is_self_contained_html() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let response = app.get("/api/v2/docs").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(html.contains("/api/v2/openapi.json"));
    for external in [r#"src="http"#, r#"href="http"#, "@import", "//cdn"] {
        assert!(
            !html.contains(external),
            "docs page loads an external asset ({external})"
        );
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn api_index_names_the_service_and_its_docs() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let body: serde_json::Value = app.get("/api/v2/").await.json().await.unwrap();
    assert_eq!(body["name"], "gpubroker");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["docs_url"], "/api/v2/docs");
    assert_eq!(body["openapi_url"], "/api/v2/openapi.json");
    app.stop().await.unwrap();
}

#[test]
fn path_parameters_name_a_segment_of_their_path() {
    // A query parameter documented as `in: path` breaks generated clients.
    let doc = serde_json::to_value(gpubroker::http::openapi()).unwrap();
    let mut wrong = Vec::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                let in_path = parameter["in"] == "path";
                let segment = path.contains(&format!("{{{name}}}"));
                if in_path != segment {
                    wrong.push(format!("{method} {path} {name} in {}", parameter["in"]));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
