//! The provider clients against scripted fake servers with the real request and response
//! shapes: create → booting → running with connection details → stop → terminate and the
//! requests each fake received ([`lifecycle`]); the error mapping, and a create retried
//! after its first answer was lost making exactly one machine ([`failures`]).

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

fn gql(data: &Value) -> Reply {
    Reply::ok(json!({ "data": data }).to_string())
}

mod failures;
mod lifecycle;
