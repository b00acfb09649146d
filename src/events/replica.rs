//! The cross-replica bus on PostgreSQL: LISTEN/NOTIFY carrying small messages (kinds and
//! ids, never offers), re-published on each replica's local bus.
//!
//! [`ReplicaBus::publish`] delivers to this replica's consumers at once and queues one
//! short notice per changed source (or config change, or user notification) for the
//! notifier task, which sends it with `pg_notify` outside any transaction (publishers
//! publish after their commit). The listener task on every replica skips its own notices,
//! reloads what a notice names from the database (a source's live offers, source health,
//! the signing keys) and publishes the resulting events locally. When the listening
//! connection is lost it reconnects, reloads the whole catalog and publishes
//! [`Event::Resync`] so WebSocket clients refresh their snapshots.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::{broadcast, mpsc};

use super::{Event, EventBus, LocalBus, SharedBatch, UserNotification};
use crate::app::AppState;

/// The NOTIFY channel.
pub const CHANNEL: &str = "gpubroker_events";
/// Notices waiting to be sent before new ones are dropped (and counted).
const OUTBOX: usize = 4096;
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; stay well below.
const MAX_PAYLOAD: usize = 7000;
/// Wait between attempts to (re)open the listening connection.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// One notice on the wire: who sent it and what changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// The sending replica's id.
    pub origin: String,
    #[serde(flatten)]
    pub what: Change,
}

/// What a notice reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The live offers of `source` changed: reload them.
    Offers { source: String },
    /// Source health changed: recompute freshness.
    Sources,
    /// Configuration changed: drop cached configuration.
    Config,
    /// A notification for one user (its payload is small by construction).
    Notification {
        user_id: String,
        /// The notification's own kind (`budget.alert`, …).
        topic: String,
        payload: serde_json::Value,
    },
}

/// The bus of a replica on PostgreSQL.
#[derive(Debug)]
pub struct ReplicaBus {
    local: LocalBus,
    origin: String,
    outbox: mpsc::Sender<String>,
    outbox_rx: Mutex<Option<mpsc::Receiver<String>>>,
}

impl ReplicaBus {
    /// A bus for the replica `origin`; nothing crosses replicas until [`start`] runs.
    pub fn new(origin: String, capacity: usize) -> Self {
        let (outbox, rx) = mpsc::channel(OUTBOX);
        Self {
            local: LocalBus::new(capacity),
            origin,
            outbox,
            outbox_rx: Mutex::new(Some(rx)),
        }
    }

    /// Publishes to this replica's consumers only (events that came from another replica).
    pub fn publish_local(&self, events: Vec<Event>) {
        self.local.publish(events);
    }

    /// The notices `events` produce, serialised.
    pub fn notices(&self, events: &[Event]) -> Vec<String> {
        let mut sources = BTreeSet::new();
        let mut changes = Vec::new();
        for event in events {
            match event {
                Event::Offer(e) => {
                    sources.insert(e.offer.source.clone());
                }
                Event::SourceStored(source) => {
                    sources.insert(source.clone());
                }
                Event::ProviderStatus(_) if !changes.contains(&Change::Sources) => {
                    changes.push(Change::Sources);
                }
                Event::ConfigChanged if !changes.contains(&Change::Config) => {
                    changes.push(Change::Config);
                }
                Event::Notification(n) => changes.push(Change::Notification {
                    user_id: n.user_id.clone(),
                    topic: n.kind.clone(),
                    payload: n.payload.clone(),
                }),
                _ => {}
            }
        }
        let offers = sources.into_iter().map(|source| Change::Offers { source });
        offers
            .chain(changes)
            .filter_map(|what| {
                let notice = Notice {
                    origin: self.origin.clone(),
                    what,
                };
                let text = serde_json::to_string(&notice).ok()?;
                if text.len() > MAX_PAYLOAD {
                    metrics::counter!("events_notify_dropped_total", "reason" => "too_big")
                        .increment(1);
                    tracing::warn!(
                        bytes = text.len(),
                        "event too big for NOTIFY; other replicas miss it"
                    );
                    return None;
                }
                Some(text)
            })
            .collect()
    }
}

impl EventBus for ReplicaBus {
    fn publish(&self, events: Vec<Event>) {
        for notice in self.notices(&events) {
            if self.outbox.try_send(notice).is_err() {
                metrics::counter!("events_notify_dropped_total", "reason" => "outbox_full")
                    .increment(1);
            }
        }
        self.local.publish(events);
    }

    fn subscribe(&self) -> broadcast::Receiver<SharedBatch> {
        self.local.subscribe()
    }
}

/// Starts the notifier and the listener of `bus` on `pool`; both stop on shutdown.
pub fn start(state: &AppState, bus: &ReplicaBus, pool: PgPool) {
    let Some(outbox) = bus
        .outbox_rx
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    else {
        return;
    };
    tokio::spawn(notify_loop(state.clone(), pool.clone(), outbox));
    tokio::spawn(listen_loop(state.clone(), pool, bus.origin.clone()));
}

/// Tells every replica listening on `pool`'s database that configuration changed (used
/// by the `gpubroker config` commands, which run outside any server). A failure is only
/// logged: replicas reload their cached configuration within a minute anyway.
pub async fn notify_config_changed(pool: &PgPool, origin: &str) {
    let notice = Notice {
        origin: origin.to_owned(),
        what: Change::Config,
    };
    let Ok(text) = serde_json::to_string(&notice) else {
        return;
    };
    if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(text)
        .execute(pool)
        .await
    {
        tracing::warn!(error = %e, "could not tell running servers that configuration changed");
    }
}

/// Sends queued notices in order.
async fn notify_loop(state: AppState, pool: PgPool, mut outbox: mpsc::Receiver<String>) {
    loop {
        let notice = tokio::select! {
            () = state.shutdown.cancelled() => break,
            notice = outbox.recv() => match notice {
                Some(n) => n,
                None => break,
            },
        };
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&notice)
            .execute(&pool)
            .await;
        match sent {
            Ok(_) => metrics::counter!("events_notify_sent_total").increment(1),
            Err(e) => {
                metrics::counter!("events_notify_dropped_total", "reason" => "error").increment(1);
                tracing::warn!(error = %e, "could not notify other replicas");
            }
        }
    }
}

/// Listens for other replicas' notices until shutdown, reconnecting when the connection
/// is lost.
async fn listen_loop(state: AppState, pool: PgPool, origin: String) {
    let mut connected_before = false;
    loop {
        let mut listener = tokio::select! {
            () = state.shutdown.cancelled() => return,
            listener = connect(&pool) => match listener {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other replicas' events; retrying");
                    tokio::select! {
                        () = state.shutdown.cancelled() => return,
                        () = tokio::time::sleep(RECONNECT_AFTER) => continue,
                    }
                }
            },
        };
        if connected_before {
            metrics::counter!("events_listener_reconnects_total").increment(1);
            tracing::info!("listening for other replicas' events again; resyncing");
            resync(&state).await;
        }
        connected_before = true;
        loop {
            let received = tokio::select! {
                () = state.shutdown.cancelled() => return,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(message)) => apply(&state, &origin, message.payload()).await,
                Ok(None) => {
                    tracing::warn!("lost the connection listening for other replicas' events");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listening for other replicas' events failed");
                    break;
                }
            }
        }
    }
}

async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Brings this replica up to date after missing notices: the whole catalog, source
/// freshness and configuration, then tells consumers to resync.
async fn resync(state: &AppState) {
    if let Err(e) = state.catalog.reload(&state.store).await {
        tracing::warn!(error = %e, "could not reload the catalog after reconnecting");
    }
    let mut events = status_events(state).await;
    reload_config(state).await;
    events.push(Event::ConfigChanged);
    events.push(Event::Resync);
    local(state, events);
}

/// Applies one notice from another replica.
async fn apply(state: &AppState, origin: &str, payload: &str) {
    let notice: Notice = match serde_json::from_str(payload) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring a malformed replica event");
            return;
        }
    };
    if notice.origin == origin {
        return; // our own notice: local consumers already had the events
    }
    metrics::counter!("events_received_total").increment(1);
    let events = match notice.what {
        Change::Offers { source } => match state.store.live_offers_of(&source).await {
            Ok(offers) => state.catalog.apply_stored(&source, offers),
            Err(e) => {
                tracing::warn!(source, error = %e, "could not reload a source's offers");
                return;
            }
        },
        Change::Sources => status_events(state).await,
        Change::Config => {
            reload_config(state).await;
            vec![Event::ConfigChanged]
        }
        Change::Notification {
            user_id,
            topic,
            payload,
        } => vec![Event::Notification(UserNotification {
            user_id,
            kind: topic,
            payload,
        })],
    };
    local(state, events);
}

async fn status_events(state: &AppState) -> Vec<Event> {
    match state
        .catalog
        .refresh_statuses(&state.store, &state.stale_windows())
        .await
    {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(error = %e, "could not refresh source freshness");
            Vec::new()
        }
    }
}

async fn reload_config(state: &AppState) {
    if let Err(e) = state.auth.reload_keys().await {
        tracing::warn!(error = %e, "could not reload the signing keys");
    }
}

/// Publishes on this replica only.
fn local(state: &AppState, events: Vec<Event>) {
    match &state.replica_bus {
        Some(bus) => bus.publish_local(events),
        None => state.events.publish(events),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::OfferChange;

    #[test]
    fn notices_name_sources_and_kinds_never_offers() {
        let bus = ReplicaBus::new("r1".into(), 8);
        let csv = "provider,instance_type,region,gpu,gpu_count,price_per_hour\nacme,h100x1,us-east,H100 SXM,1,2.50\n";
        let raw = crate::providers::file::parse_csv(csv)
            .unwrap()
            .offers
            .remove(0);
        let offer = crate::domain::offer::Offer::normalize(raw, "demo");
        let events = vec![
            Event::Offer(Box::new(crate::events::OfferEvent::new(
                OfferChange::Added,
                offer.clone(),
                None,
            ))),
            Event::Offer(Box::new(crate::events::OfferEvent::new(
                OfferChange::Removed,
                offer,
                None,
            ))),
            Event::SourceStored("demo".into()),
            Event::SourceStored("file:mine".into()),
            Event::ConfigChanged,
            Event::Resync,
        ];
        let notices: Vec<Notice> = bus
            .notices(&events)
            .iter()
            .map(|n| serde_json::from_str(n).unwrap())
            .collect();
        assert_eq!(
            notices,
            [
                Notice {
                    origin: "r1".into(),
                    what: Change::Offers {
                        source: "demo".into()
                    }
                },
                Notice {
                    origin: "r1".into(),
                    what: Change::Offers {
                        source: "file:mine".into()
                    }
                },
                Notice {
                    origin: "r1".into(),
                    what: Change::Config
                },
            ]
        );
    }
}
