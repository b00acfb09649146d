//! Lambda Cloud instances over the REST API (`{base}/api/v1`, `Authorization: Bearer`).
//!
//! * create: `POST /instance-operations/launch` `{"region_name", "instance_type_name",
//!   "ssh_key_names": [GPUBROKER_LAMBDA_SSH_KEY], "quantity": 1, "name"}` →
//!   `{"data": {"instance_ids": [id]}}`, from the offer's instance type and region. Without
//!   an SSH key name configured the launch is refused (Lambda requires one). Before
//!   launching, `GET /instances` (`{"data": [{id, name, status}]}`) is searched for a live
//!   instance named [`super::machine_name`] of the token.
//! * status: `GET /instances/{id}` → `{"data": {"status": "booting" | "active" |
//!   "unhealthy" | "terminating" | "terminated", "ip", "jupyter_url"}}`; SSH is port 22 as
//!   `ubuntu`.
//! * stop: **Lambda instances cannot be stopped**: stop terminates the instance (its disk
//!   is lost), so a stopped Lambda pod cannot be restarted.
//! * terminate: `POST /instance-operations/terminate` `{"instance_ids": [id]}`; an
//!   instance already terminated or unknown is left as it is.
//!
//! These shapes follow Lambda's public Cloud API documentation; they were not checked
//! against the live API here.

use reqwest::Method;
use serde_json::{json, Value};

use super::{create_once, machine_name, path_id, Api, ClientConfig};
use crate::pods::provisioner::{
    Connection, LaunchSpec, MachineStatus, ProvisionError, ProvisionFuture, Provisioner,
};

/// Provider id of Lambda offers.
pub const PROVIDER: &str = crate::providers::lambda::PROVIDER;

/// Creates and terminates Lambda Cloud instances.
#[derive(Debug)]
pub struct LambdaProvisioner {
    config: ClientConfig,
    api: Api,
    /// `…/api/v1`.
    root: String,
}

impl LambdaProvisioner {
    pub fn new(config: ClientConfig) -> Self {
        let root = format!(
            "{}/api/v1",
            config.base(crate::providers::lambda::DEFAULT_BASE_URL)
        );
        let api = Api::new(&config);
        Self { config, api, root }
    }

    async fn find(&self, name: &str) -> Result<Option<String>, ProvisionError> {
        let url = format!("{}/instances", self.root);
        let answer: Value = self
            .api
            .call(Method::GET, &url, None, "instance list")
            .await?;
        let instances = answer["data"].as_array().ok_or_else(|| {
            ProvisionError::Unavailable("unexpected answer: no instance list".into())
        })?;
        Ok(instances
            .iter()
            .filter(|i| i["name"] == name)
            .filter(|i| !matches!(i["status"].as_str(), Some("terminating" | "terminated")))
            .find_map(|i| i["id"].as_str().map(str::to_owned)))
    }

    async fn launch(
        &self,
        spec: &LaunchSpec,
        ssh_key: &str,
        name: &str,
    ) -> Result<String, ProvisionError> {
        let url = format!("{}/instance-operations/launch", self.root);
        let body = json!({
            "region_name": spec.region,
            "instance_type_name": spec.instance_type,
            "ssh_key_names": [ssh_key],
            "quantity": 1,
            "name": name,
        });
        let answer: Value = self
            .api
            .call(Method::POST, &url, Some(&body), &spec.instance_type)
            .await?;
        answer
            .pointer("/data/instance_ids/0")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ProvisionError::Unavailable("unexpected answer: no instance id".into()))
    }

    async fn status_of(&self, machine: &str) -> Result<MachineStatus, ProvisionError> {
        let url = format!("{}/instances/{}", self.root, path_id(machine)?);
        let answer: Value = self.api.call(Method::GET, &url, None, machine).await?;
        let instance = &answer["data"];
        if !instance.is_object() {
            return Err(ProvisionError::Unavailable(
                "unexpected answer: no instance".into(),
            ));
        }
        Ok(match instance["status"].as_str().unwrap_or_default() {
            "active" => MachineStatus::Running(Connection {
                ssh_host: instance["ip"].as_str().map(str::to_owned),
                ssh_port: Some(22),
                ssh_user: Some("ubuntu".into()),
                jupyter_url: instance["jupyter_url"].as_str().map(str::to_owned),
            }),
            "unhealthy" => MachineStatus::Failed("Lambda reports the instance unhealthy".into()),
            "terminating" | "terminated" => MachineStatus::Terminated,
            _ => MachineStatus::Provisioning,
        })
    }

    async fn terminate_now(&self, machine: &str) -> Result<(), ProvisionError> {
        match self.status_of(machine).await {
            Ok(MachineStatus::Terminated) | Err(ProvisionError::Unknown(_)) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
        let url = format!("{}/instance-operations/terminate", self.root);
        let body = json!({ "instance_ids": [machine] });
        let _: Value = self
            .api
            .call(Method::POST, &url, Some(&body), machine)
            .await?;
        Ok(())
    }
}

impl Provisioner for LambdaProvisioner {
    fn create<'a>(&'a self, spec: &'a LaunchSpec) -> ProvisionFuture<'a, String> {
        Box::pin(async move {
            let Some(ssh_key) = self.config.deploy.lambda_ssh_key.as_deref() else {
                return Err(ProvisionError::Rejected(
                    "Lambda launches need an SSH key name: set GPUBROKER_LAMBDA_SSH_KEY".into(),
                ));
            };
            if spec.region == crate::providers::lambda::UNAVAILABLE_REGION {
                return Err(ProvisionError::Rejected(
                    "the offer has no capacity in any region".into(),
                ));
            }
            let name = machine_name(&spec.client_token);
            create_once(
                self.config.create_attempts,
                self.config.backoff,
                || self.find(&name),
                || self.launch(spec, ssh_key, &name),
            )
            .await
        })
    }

    fn status<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, MachineStatus> {
        Box::pin(self.status_of(machine))
    }

    /// Lambda has no stop: the instance is terminated.
    fn stop<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, ()> {
        Box::pin(self.terminate_now(machine))
    }

    fn terminate<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, ()> {
        Box::pin(self.terminate_now(machine))
    }
}
