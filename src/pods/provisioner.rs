//! Provisioners start and stop machines at a provider: the simulated one for the demo
//! market here, the RunPod, Vast.ai and Lambda clients in [`super::providers`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::domain::offer::Offer;

/// How to reach a running machine; every part is optional (providers say what they know).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Connection {
    pub ssh_host: Option<String>,
    pub ssh_port: Option<u16>,
    pub ssh_user: Option<String>,
    pub jupyter_url: Option<String>,
}

impl Connection {
    /// Nothing is known.
    pub fn is_empty(&self) -> bool {
        self == &Connection::default()
    }
}

/// What a provider says about a machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MachineStatus {
    Provisioning,
    /// Running, with how to reach it.
    Running(Connection),
    Stopped,
    Terminated,
    /// The machine failed; the text says why.
    Failed(String),
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The provider refused (no capacity, bad request); retrying will not help.
    #[error("the provider refused: {0}")]
    Rejected(String),
    /// The provider did not answer; worth retrying.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    #[error("the provider does not know machine {0}")]
    Unknown(String),
}

/// A machine to create.
#[derive(Clone, Debug)]
pub struct LaunchSpec {
    /// Makes creation idempotent: a repeated create with the same token returns the
    /// machine made by the first.
    pub client_token: String,
    pub offer_id: String,
    pub provider: String,
    pub name: String,
    /// The offer's instance type as the provider names it (Lambda `gpu_1x_a100`).
    pub instance_type: String,
    pub region: String,
    /// The GPU as the provider wrote it (a RunPod GPU type id).
    pub gpu: String,
    pub gpu_count: u32,
    /// The offer's provider-specific extras (RunPod `cloud`, Vast `offer_id`).
    pub extras: Map<String, Value>,
}

impl LaunchSpec {
    /// The machine of `offer`, created with `client_token` and named `name`.
    pub fn for_offer(offer: &Offer, client_token: String, name: &str) -> Self {
        Self {
            client_token,
            offer_id: offer.id.clone(),
            provider: offer.provider.clone(),
            name: name.to_owned(),
            instance_type: offer.instance_type.clone(),
            region: offer.region.clone(),
            gpu: offer.gpu_raw.clone(),
            gpu_count: offer.gpu_count,
            extras: offer.extras.clone(),
        }
    }
}

/// The future of a provider call.
pub type ProvisionFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, ProvisionError>> + Send + 'a>>;

/// Creates and controls machines at one provider.
pub trait Provisioner: Send + Sync + std::fmt::Debug {
    /// Creates a machine (or returns the one already made for `spec.client_token`);
    /// answers the provider's machine reference.
    fn create<'a>(&'a self, spec: &'a LaunchSpec) -> ProvisionFuture<'a, String>;
    fn status<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, MachineStatus>;
    fn stop<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, ()>;
    fn terminate<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, ()>;
    /// Starts a stopped machine again; providers that cannot refuse.
    fn start<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, ()> {
        let _ = machine;
        Box::pin(async {
            Err(ProvisionError::Rejected(
                "this provider cannot restart a stopped machine; deploy a new pod".into(),
            ))
        })
    }
}

/// How the simulated provider behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimulatedBehaviour {
    /// Time from create to running.
    pub boot_delay: Duration,
    /// Every create is refused.
    pub fail_launch: bool,
    /// Machines fail instead of reaching running.
    pub fail_boot: bool,
}

impl Default for SimulatedBehaviour {
    fn default() -> Self {
        Self {
            boot_delay: Duration::from_secs(5),
            fail_launch: false,
            fail_boot: false,
        }
    }
}

#[derive(Debug)]
struct Machine {
    created: Instant,
    stopped: bool,
    terminated: bool,
}

/// A provider in memory for demo-market offers: machines boot after a delay.
#[derive(Debug, Default)]
pub struct SimulatedProvisioner {
    behaviour: Mutex<SimulatedBehaviour>,
    machines: Mutex<HashMap<String, Machine>>,
}

impl SimulatedProvisioner {
    pub fn new(behaviour: SimulatedBehaviour) -> Self {
        Self {
            behaviour: Mutex::new(behaviour),
            machines: Mutex::default(),
        }
    }

    /// Changes the behaviour of later calls (tests).
    pub fn set_behaviour(&self, behaviour: SimulatedBehaviour) {
        if let Ok(mut b) = self.behaviour.lock() {
            *b = behaviour;
        }
    }

    fn behaviour(&self) -> SimulatedBehaviour {
        self.behaviour.lock().map(|b| *b).unwrap_or_default()
    }

    fn with_machine<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Machine) -> T,
    ) -> Result<T, ProvisionError> {
        let mut machines = self
            .machines
            .lock()
            .map_err(|_| ProvisionError::Unavailable("simulator state poisoned".into()))?;
        machines
            .get_mut(id)
            .map(f)
            .ok_or_else(|| ProvisionError::Unknown(id.to_owned()))
    }
}

impl Provisioner for SimulatedProvisioner {
    fn create<'a>(&'a self, spec: &'a LaunchSpec) -> ProvisionFuture<'a, String> {
        Box::pin(async move { self.create_now(spec) })
    }

    fn status<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, MachineStatus> {
        Box::pin(async move { self.status_now(machine) })
    }

    fn stop<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, ()> {
        Box::pin(async move { self.with_machine(machine, |m| m.stopped = true) })
    }

    fn terminate<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, ()> {
        Box::pin(async move {
            self.with_machine(machine, |m| {
                m.stopped = true;
                m.terminated = true;
            })
        })
    }

    fn start<'a>(&'a self, machine: &'a str) -> ProvisionFuture<'a, ()> {
        Box::pin(async move {
            let fail = self.behaviour().fail_launch;
            self.with_machine(machine, |m| {
                if m.terminated {
                    return Err(ProvisionError::Rejected("the machine is terminated".into()));
                }
                if fail {
                    return Err(ProvisionError::Rejected("no capacity (simulated)".into()));
                }
                // Boots again after the boot delay.
                m.stopped = false;
                m.created = Instant::now();
                Ok(())
            })?
        })
    }
}

impl SimulatedProvisioner {
    fn create_now(&self, spec: &LaunchSpec) -> Result<String, ProvisionError> {
        if self.behaviour().fail_launch {
            return Err(ProvisionError::Rejected("no capacity (simulated)".into()));
        }
        let id = format!("sim-{}", spec.client_token);
        let mut machines = self
            .machines
            .lock()
            .map_err(|_| ProvisionError::Unavailable("simulator state poisoned".into()))?;
        machines.entry(id.clone()).or_insert_with(|| Machine {
            created: Instant::now(),
            stopped: false,
            terminated: false,
        });
        Ok(id)
    }

    fn status_now(&self, machine: &str) -> Result<MachineStatus, ProvisionError> {
        let b = self.behaviour();
        self.with_machine(machine, |m| {
            if m.terminated {
                MachineStatus::Terminated
            } else if m.stopped {
                MachineStatus::Stopped
            } else if m.created.elapsed() < b.boot_delay {
                MachineStatus::Provisioning
            } else if b.fail_boot {
                MachineStatus::Failed("the machine did not boot (simulated)".into())
            } else {
                // Not a real machine: there is nothing to connect to.
                MachineStatus::Running(Connection::default())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(token: &str) -> LaunchSpec {
        LaunchSpec {
            client_token: token.into(),
            offer_id: "demo-x".into(),
            provider: "demo-aws".into(),
            name: "n".into(),
            instance_type: "t".into(),
            region: "r".into(),
            gpu: "H100".into(),
            gpu_count: 1,
            extras: Map::new(),
        }
    }

    #[tokio::test]
    async fn boots_after_the_delay_and_create_is_idempotent() {
        let sim = SimulatedProvisioner::new(SimulatedBehaviour {
            boot_delay: Duration::from_millis(50),
            ..SimulatedBehaviour::default()
        });
        let a = sim.create(&spec("t1")).await.unwrap();
        assert_eq!(sim.create(&spec("t1")).await.unwrap(), a);
        assert_eq!(sim.status(&a).await.unwrap(), MachineStatus::Provisioning);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            sim.status(&a).await.unwrap(),
            MachineStatus::Running(Connection::default())
        );
        sim.stop(&a).await.unwrap();
        assert_eq!(sim.status(&a).await.unwrap(), MachineStatus::Stopped);
        sim.terminate(&a).await.unwrap();
        assert_eq!(sim.status(&a).await.unwrap(), MachineStatus::Terminated);
        assert!(matches!(
            sim.status("nope").await,
            Err(ProvisionError::Unknown(_))
        ));
    }

    #[tokio::test]
    async fn configured_failures() {
        let sim = SimulatedProvisioner::new(SimulatedBehaviour {
            boot_delay: Duration::ZERO,
            fail_launch: true,
            fail_boot: false,
        });
        assert!(matches!(
            sim.create(&spec("t")).await,
            Err(ProvisionError::Rejected(_))
        ));
        sim.set_behaviour(SimulatedBehaviour {
            boot_delay: Duration::ZERO,
            fail_launch: false,
            fail_boot: true,
        });
        let m = sim.create(&spec("t")).await.unwrap();
        assert!(matches!(sim.status(&m).await, Ok(MachineStatus::Failed(_))));
    }
}
