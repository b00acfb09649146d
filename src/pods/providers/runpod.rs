//! RunPod pods over the GraphQL API (`POST {base}/graphql`, `Authorization: Bearer`).
//!
//! * create: `podFindAndDeployOnDemand(input: {gpuTypeId, gpuCount, cloudType, name,
//!   imageName, containerDiskInGb, volumeInGb: 0, supportPublicIp, startSsh, ports})` →
//!   `{id, desiredStatus}`. The GPU type id is the offer's GPU name, the cloud its
//!   `cloud` extra (`secure` → `SECURE`, `community` → `COMMUNITY`). Before creating,
//!   `myself { pods { id name desiredStatus } }` is searched for a pod named
//!   [`super::machine_name`] of the token.
//! * status: `pod(input: {podId})` → `desiredStatus` (`RUNNING` with `runtime` null while
//!   booting, `EXITED`, `TERMINATED`, …) and `runtime.ports` (the public port mapped to
//!   22 is SSH as `root`; an HTTP port 8888 gives the proxy Jupyter URL).
//! * stop: `podStop(input: {podId})`: the container stops, the pod is no longer billed for
//!   GPU time (a volume would be, but pods are created without one).
//! * start (a stopped pod again): `pod { gpuCount }`, then
//!   `podResume(input: {podId, gpuCount})`.
//! * terminate: `podTerminate(input: {podId})`.
//!
//! GraphQL answers errors with HTTP 200 and an `errors` list: those are refusals
//! ([`ProvisionError::Rejected`]), except "not found" on a pod, which is
//! [`ProvisionError::Unknown`]. The operation names and argument shapes follow RunPod's
//! public GraphQL documentation; the variable type `PodFindAndDeployOnDemandInput` is the
//! one its Python SDK uses; none of it was checked against the live API here.

use serde_json::{json, Value};

use super::{create_once, machine_name, Api, ClientConfig};
use crate::pods::provisioner::{
    Connection, LaunchSpec, MachineStatus, ProvisionError, ProvisionFuture, Provisioner,
};

/// Provider id of RunPod offers.
pub const PROVIDER: &str = crate::providers::runpod::PROVIDER;

const DEPLOY: &str = "mutation Deploy($input: PodFindAndDeployOnDemandInput!) { \
    podFindAndDeployOnDemand(input: $input) { id desiredStatus } }";
const MY_PODS: &str = "query MyPods { myself { pods { id name desiredStatus } } }";
const POD: &str = "query Pod($podId: String!) { pod(input: {podId: $podId}) { id \
    desiredStatus runtime { ports { ip isIpPublic privatePort publicPort type } } } }";
const STOP: &str =
    "mutation Stop($podId: String!) { podStop(input: {podId: $podId}) { id desiredStatus } }";
const GPU_COUNT: &str =
    "query Pod($podId: String!) { pod(input: {podId: $podId}) { id gpuCount } }";
const RESUME: &str = "mutation Resume($podId: String!, $gpuCount: Int!) { \
    podResume(input: {podId: $podId, gpuCount: $gpuCount}) { id desiredStatus } }";
const TERMINATE: &str =
    "mutation Terminate($podId: String!) { podTerminate(input: {podId: $podId}) }";

/// Creates and controls RunPod pods.
#[derive(Debug)]
pub struct RunpodProvisioner {
    config: ClientConfig,
    api: Api,
    endpoint: String,
}

impl RunpodProvisioner {
    pub fn new(config: ClientConfig) -> Self {
        let endpoint = format!(
            "{}/graphql",
            config.base(crate::providers::runpod::DEFAULT_BASE_URL)
        );
        let api = Api::new(&config);
        Self {
            config,
            api,
            endpoint,
        }
    }

    /// Runs one GraphQL operation; answers its `data`.
    async fn graphql(
        &self,
        query: &str,
        variables: Value,
        what: &str,
    ) -> Result<Value, ProvisionError> {
        let api = &self.api;
        let body = json!({ "query": query, "variables": variables });
        let answer: Value = api
            .call(reqwest::Method::POST, &self.endpoint, Some(&body), what)
            .await?;
        if let Some(errors) = answer.get("errors").filter(|e| !e.is_null()) {
            let message = api.scrub(crate::providers::http::snippet(&errors.to_string()));
            if message.to_ascii_lowercase().contains("not found") {
                return Err(ProvisionError::Unknown(what.to_owned()));
            }
            return Err(ProvisionError::Rejected(format!(
                "GraphQL errors: {message}"
            )));
        }
        answer
            .get("data")
            .cloned()
            .filter(|d| !d.is_null())
            .ok_or_else(|| ProvisionError::Unavailable("unexpected answer: no data".into()))
    }

    async fn find(&self, name: &str) -> Result<Option<String>, ProvisionError> {
        let data = self.graphql(MY_PODS, json!({}), "pod list").await?;
        let pods = data
            .pointer("/myself/pods")
            .and_then(Value::as_array)
            .ok_or_else(|| ProvisionError::Unavailable("unexpected answer: no pod list".into()))?;
        Ok(pods
            .iter()
            .filter(|p| p["name"] == name && p["desiredStatus"] != "TERMINATED")
            .find_map(|p| p["id"].as_str().map(str::to_owned)))
    }

    async fn deploy(&self, spec: &LaunchSpec, name: &str) -> Result<String, ProvisionError> {
        let cloud = match spec.extras.get("cloud").and_then(Value::as_str) {
            Some("secure") => "SECURE",
            Some("community") => "COMMUNITY",
            _ => "ALL",
        };
        let input = json!({
            "cloudType": cloud,
            "gpuTypeId": spec.gpu,
            "gpuCount": spec.gpu_count.max(1),
            "name": name,
            "imageName": self.config.deploy.image,
            "containerDiskInGb": self.config.deploy.disk_gb,
            "volumeInGb": 0,
            "supportPublicIp": true,
            "startSsh": true,
            "ports": "22/tcp,8888/http",
        });
        let data = self
            .graphql(DEPLOY, json!({ "input": input }), "new pod")
            .await?;
        data.pointer("/podFindAndDeployOnDemand/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ProvisionError::Unavailable("unexpected answer: no pod id".into()))
    }

    async fn status_of(&self, machine: &str) -> Result<MachineStatus, ProvisionError> {
        let data = self
            .graphql(POD, json!({ "podId": machine }), machine)
            .await?;
        let pod = data
            .get("pod")
            .filter(|p| !p.is_null())
            .ok_or_else(|| ProvisionError::Unknown(machine.to_owned()))?;
        let status = pod["desiredStatus"].as_str().unwrap_or_default();
        Ok(match status {
            "RUNNING" if pod["runtime"].is_object() => {
                MachineStatus::Running(connection(machine, &pod["runtime"]))
            }
            "EXITED" | "PAUSED" => MachineStatus::Stopped,
            "TERMINATED" => MachineStatus::Terminated,
            "DEAD" => MachineStatus::Failed("RunPod reports the pod dead".into()),
            _ => MachineStatus::Provisioning,
        })
    }
}

/// SSH and Jupyter from a pod's `runtime`.
fn connection(pod_id: &str, runtime: &Value) -> Connection {
    let ports = runtime["ports"].as_array().cloned().unwrap_or_default();
    let mut conn = Connection::default();
    for port in &ports {
        let private = port["privatePort"].as_u64();
        if private == Some(22) && port["isIpPublic"] == true {
            conn.ssh_host = port["ip"].as_str().map(str::to_owned);
            conn.ssh_port = port["publicPort"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok());
            conn.ssh_user = Some("root".into());
        }
        if private == Some(8888) && port["type"] == "http" {
            conn.jupyter_url = Some(format!("https://{pod_id}-8888.proxy.runpod.net"));
        }
    }
    conn
}

impl Provisioner for RunpodProvisioner {
    fn create<'a>(&'a self, spec: &'a LaunchSpec) -> ProvisionFuture<'a, String> {
        Box::pin(async move {
            if spec.gpu.is_empty() {
                return Err(ProvisionError::Rejected(
                    "the offer names no GPU type".into(),
                ));
            }
            let name = machine_name(&spec.client_token);
            create_once(
                self.config.create_attempts,
                self.config.backoff,
                || self.find(&name),
                || self.deploy(spec, &name),
            )
            .await
        })
    }

    fn status<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, MachineStatus> {
        Box::pin(self.status_of(machine))
    }

    fn stop<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, ()> {
        Box::pin(async move {
            self.graphql(STOP, json!({ "podId": machine }), machine)
                .await
                .map(|_| ())
        })
    }

    fn start<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, ()> {
        Box::pin(async move {
            // A stopped pod resumes with the GPU count it was deployed with.
            let data = self
                .graphql(GPU_COUNT, json!({ "podId": machine }), machine)
                .await?;
            let gpus = data
                .pointer("/pod/gpuCount")
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .ok_or_else(|| ProvisionError::Unknown(machine.to_owned()))?;
            self.graphql(
                RESUME,
                json!({ "podId": machine, "gpuCount": gpus }),
                machine,
            )
            .await
            .map(|_| ())
        })
    }

    fn terminate<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, ()> {
        Box::pin(async move {
            self.graphql(TERMINATE, json!({ "podId": machine }), machine)
                .await
                .map(|_| ())
        })
    }
}
