//! A stateful fake of RunPod's GraphQL API for the chaos tests: pods boot after
//! [`BOOT`], and each operation (`deploy`, `list`, `pod`, `stop`, `terminate`) can be
//! scripted to fail, stall, answer garbage or lose its answer after doing the work.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// What the fake does to the next call of one operation.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Answers this status without doing anything.
    Status(u16),
    /// Does the work, then answers 502: the answer is lost.
    Lost,
    /// Does the work, answers after the client gave up.
    Slow,
    /// Answers 200 with HTML.
    Garbage,
}

#[derive(Clone, Debug)]
pub struct FakePod {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub created: Instant,
    pub dead: bool,
}

#[derive(Default)]
pub struct Fake {
    pub pods: Mutex<Vec<FakePod>>,
    pub faults: Mutex<HashMap<&'static str, VecDeque<Fault>>>,
    /// Make new pods die instead of booting.
    pub die: Mutex<bool>,
}

impl Fake {
    pub fn fail(&self, op: &'static str, faults: &[Fault]) {
        let mut all = self.faults.lock().unwrap();
        all.entry(op).or_default().extend(faults.iter().copied());
    }

    pub fn pods(&self) -> Vec<FakePod> {
        self.pods.lock().unwrap().clone()
    }
}

pub const BOOT: Duration = Duration::from_millis(300);

pub async fn graphql(State(fake): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    let query = body["query"].as_str().unwrap_or_default();
    let vars = &body["variables"];
    let op = if query.contains("podFindAndDeployOnDemand") {
        "deploy"
    } else if query.contains("myself") {
        "list"
    } else if query.contains("podStop") {
        "stop"
    } else if query.contains("podTerminate") {
        "terminate"
    } else {
        "pod"
    };
    let fault = fake
        .faults
        .lock()
        .unwrap()
        .get_mut(op)
        .and_then(VecDeque::pop_front);
    match fault {
        Some(Fault::Status(code)) => {
            return (StatusCode::from_u16(code).unwrap(), "fake failure").into_response()
        }
        Some(Fault::Garbage) => return "<html>maintenance</html>".into_response(),
        _ => {}
    }
    let data = answer(&fake, op, vars);
    match fault {
        Some(Fault::Lost) => (StatusCode::BAD_GATEWAY, "upstream reset").into_response(),
        Some(Fault::Slow) => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Json(json!({ "data": data })).into_response()
        }
        _ => Json(json!({ "data": data })).into_response(),
    }
}

fn answer(fake: &Fake, op: &str, vars: &Value) -> Value {
    let mut pods = fake.pods.lock().unwrap();
    let find = |pods: &mut Vec<FakePod>, id: &Value| {
        let id = id.as_str().unwrap_or_default().to_owned();
        pods.iter().position(|p| p.id == id)
    };
    match op {
        "deploy" => {
            let input = &vars["input"];
            assert!(input["gpuTypeId"].is_string() && input["imageName"].is_string());
            let pod = FakePod {
                id: format!("rp{}", pods.len() + 1),
                name: input["name"].as_str().unwrap().to_owned(),
                status: "RUNNING",
                created: Instant::now(),
                dead: *fake.die.lock().unwrap(),
            };
            let id = pod.id.clone();
            pods.push(pod);
            json!({"podFindAndDeployOnDemand": {"id": id, "desiredStatus": "RUNNING"}})
        }
        "list" => {
            let list: Vec<Value> = pods
                .iter()
                .map(|p| json!({"id": p.id, "name": p.name, "desiredStatus": p.status}))
                .collect();
            json!({"myself": {"pods": list}})
        }
        "stop" | "terminate" => {
            let Some(i) = find(&mut pods, &vars["podId"]) else {
                return json!(null);
            };
            pods[i].status = if op == "stop" { "EXITED" } else { "TERMINATED" };
            let mut data = serde_json::Map::new();
            let pod = json!({"id": pods[i].id, "desiredStatus": pods[i].status});
            data.insert(op_field(op).to_owned(), pod);
            Value::Object(data)
        }
        _ => {
            let Some(i) = find(&mut pods, &vars["podId"]) else {
                return json!({"pod": null});
            };
            let p = &pods[i];
            let booted = p.created.elapsed() >= BOOT;
            let status = if p.dead && booted && p.status == "RUNNING" {
                "DEAD"
            } else {
                p.status
            };
            let runtime = (booted && status == "RUNNING").then(|| {
                json!({"ports": [{"ip": "203.0.113.5", "isIpPublic": true,
                    "privatePort": 22, "publicPort": 41022, "type": "tcp"}]})
            });
            json!({"pod": {"id": p.id, "desiredStatus": status, "runtime": runtime}})
        }
    }
}

fn op_field(op: &str) -> &'static str {
    if op == "stop" {
        "podStop"
    } else {
        "podTerminate"
    }
}
