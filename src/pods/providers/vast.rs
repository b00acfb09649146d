//! Vast.ai instances over the REST API (`{base}/api/v0`, `Authorization: Bearer`).
//!
//! * create: `PUT /asks/{ask id}/` `{"client_id": "me", "image", "disk", "label",
//!   "runtype": "ssh"}` → `{"success": true, "new_contract": <instance id>}`. The ask id
//!   is the offer's `offer_id` extra (the id of the search result). Before creating,
//!   `GET /instances/?owner=me` (`{"instances": [{id, label, …}]}`) is searched for an
//!   instance labelled [`super::machine_name`] of the token.
//! * status: `GET /instances/{id}/` → `{"instances": {"actual_status": "loading" |
//!   "running" | "exited" | "offline", "ssh_host", "ssh_port"}}`; SSH is as `root`.
//! * stop: `PUT /instances/{id}/` `{"state": "stopped"}`. A stopped Vast instance keeps
//!   its disk and Vast keeps charging for that storage until it is destroyed.
//! * terminate: `DELETE /instances/{id}/` (destroy).
//!
//! These shapes follow Vast's CLI (`vast.py`) and public write-ups of its API; they were
//! not checked against the live API here.

use reqwest::Method;
use serde_json::{json, Value};

use super::{create_once, machine_name, path_id, Api, ClientConfig};
use crate::pods::provisioner::{
    Connection, LaunchSpec, MachineStatus, ProvisionError, ProvisionFuture, Provisioner,
};

/// Provider id of Vast.ai offers.
pub const PROVIDER: &str = crate::providers::vastai::PROVIDER;

/// Creates and controls Vast.ai instances.
#[derive(Debug)]
pub struct VastProvisioner {
    config: ClientConfig,
    api: Api,
    /// `…/api/v0`.
    root: String,
}

impl VastProvisioner {
    pub fn new(config: ClientConfig) -> Self {
        let root = format!(
            "{}/api/v0",
            config.base(crate::providers::vastai::DEFAULT_BASE_URL)
        );
        let api = Api::new(&config);
        Self { config, api, root }
    }

    async fn find(&self, label: &str) -> Result<Option<String>, ProvisionError> {
        let url = format!("{}/instances/?owner=me", self.root);
        let answer: Value = self
            .api
            .call(Method::GET, &url, None, "instance list")
            .await?;
        let instances = answer["instances"].as_array().ok_or_else(|| {
            ProvisionError::Unavailable("unexpected answer: no instance list".into())
        })?;
        Ok(instances
            .iter()
            .filter(|i| i["label"] == label)
            .find_map(|i| id_text(&i["id"])))
    }

    async fn rent(&self, ask: u64, label: &str) -> Result<String, ProvisionError> {
        let url = format!("{}/asks/{ask}/", self.root);
        let body = json!({
            "client_id": "me",
            "image": self.config.deploy.image,
            "disk": self.config.deploy.disk_gb,
            "label": label,
            "runtype": "ssh",
        });
        let answer: Value = self
            .api
            .call(Method::PUT, &url, Some(&body), &format!("ask {ask}"))
            .await?;
        if answer["success"] != true {
            let why = answer["msg"]
                .as_str()
                .or(answer["error"].as_str())
                .unwrap_or("no reason given");
            return Err(ProvisionError::Rejected(format!(
                "Vast refused the rental: {}",
                crate::providers::http::snippet(why)
            )));
        }
        id_text(&answer["new_contract"])
            .ok_or_else(|| ProvisionError::Unavailable("unexpected answer: no new_contract".into()))
    }

    async fn status_of(&self, machine: &str) -> Result<MachineStatus, ProvisionError> {
        let url = format!("{}/instances/{}/", self.root, path_id(machine)?);
        let answer: Value = self.api.call(Method::GET, &url, None, machine).await?;
        // One instance is an object; some API versions answer a one-element list.
        let instance = match &answer["instances"] {
            Value::Array(list) => list.first().cloned().unwrap_or(Value::Null),
            other => other.clone(),
        };
        if !instance.is_object() {
            return Err(ProvisionError::Unknown(machine.to_owned()));
        }
        Ok(
            match instance["actual_status"].as_str().unwrap_or_default() {
                "running" => MachineStatus::Running(Connection {
                    ssh_host: instance["ssh_host"].as_str().map(str::to_owned),
                    ssh_port: instance["ssh_port"]
                        .as_u64()
                        .and_then(|p| u16::try_from(p).ok()),
                    ssh_user: Some("root".into()),
                    jupyter_url: None,
                }),
                "exited" | "stopped" => MachineStatus::Stopped,
                "offline" => MachineStatus::Failed("the Vast host is offline".into()),
                _ => MachineStatus::Provisioning,
            },
        )
    }

    async fn expect_success(
        &self,
        method: Method,
        machine: &str,
        body: Option<&Value>,
    ) -> Result<(), ProvisionError> {
        let url = format!("{}/instances/{}/", self.root, path_id(machine)?);
        let answer: Value = self.api.call(method, &url, body, machine).await?;
        if answer["success"] == false {
            let why = answer["msg"].as_str().unwrap_or("no reason given");
            return Err(ProvisionError::Rejected(crate::providers::http::snippet(
                why,
            )));
        }
        Ok(())
    }
}

/// An instance id, a number in Vast's answers, as text.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

impl Provisioner for VastProvisioner {
    fn create<'a>(&'a self, spec: &'a LaunchSpec) -> ProvisionFuture<'a, String> {
        Box::pin(async move {
            let ask = spec
                .extras
                .get("offer_id")
                .and_then(Value::as_u64)
                .ok_or_else(|| {
                    ProvisionError::Rejected("the offer carries no Vast ask id".into())
                })?;
            let label = machine_name(&spec.client_token);
            create_once(
                self.config.create_attempts,
                self.config.backoff,
                || self.find(&label),
                || self.rent(ask, &label),
            )
            .await
        })
    }

    fn status<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, MachineStatus> {
        Box::pin(self.status_of(machine))
    }

    fn stop<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, ()> {
        Box::pin(async move {
            let body = json!({ "state": "stopped" });
            self.expect_success(Method::PUT, machine, Some(&body)).await
        })
    }

    fn start<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, ()> {
        Box::pin(async move {
            let body = json!({ "state": "running" });
            self.expect_success(Method::PUT, machine, Some(&body)).await
        })
    }

    fn terminate<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, ()> {
        Box::pin(self.expect_success(Method::DELETE, machine, None))
    }
}
