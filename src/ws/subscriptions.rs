//! One connection's subscriptions: parsing, snapshots, and which events each one sees.
//!
//! Events are matched against a subscription's filters only (`sort=` and `limit=` shape
//! the snapshot, not the stream). A price change is sent with a `transition`: `updated`
//! when the offer matched before and after, `entered` when it matches only after the
//! change, `left` when it matched only before; it is not sent when it matched neither.

use std::sync::Arc;

use serde_json::json;

use super::protocol::{self, ErrorCode, MAX_ID_CHARS};
use crate::app::AppState;
use crate::catalog::Snapshot;
use crate::domain::query::{Field, Query};
use crate::events::{Event, EventBatch, OfferChange, OfferEvent, ProviderStatusEvent};
use crate::http::offer_view::{last_success, OfferView};
use crate::http::offers::search_response;

/// One subscription.
#[derive(Debug)]
pub struct Subscription {
    pub id: String,
    /// The id encoded as a JSON string, spliced into every event.
    id_json: String,
    query: Query,
}

/// The subscriptions of one connection.
#[derive(Debug, Default)]
pub struct Subscriptions {
    subs: Vec<Subscription>,
}

impl Subscriptions {
    /// Adds the subscription `id`, or replaces its query when it exists.
    pub fn subscribe(
        &mut self,
        id: &str,
        text: &str,
        max: usize,
    ) -> Result<&Subscription, (ErrorCode, String)> {
        if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
            return Err((
                ErrorCode::BadId,
                format!("a subscription id has 1 to {MAX_ID_CHARS} characters"),
            ));
        }
        let query = Query::parse(text).map_err(|e| (ErrorCode::BadQuery, e.to_string()))?;
        let position = match self.subs.iter().position(|s| s.id == id) {
            Some(k) => {
                self.subs[k].query = query;
                k
            }
            None if self.subs.len() >= max => {
                return Err((
                    ErrorCode::TooManySubscriptions,
                    format!("at most {max} subscriptions per connection"),
                ))
            }
            None => {
                self.subs.push(Subscription {
                    id: id.to_owned(),
                    id_json: serde_json::to_string(id).unwrap_or_else(|_| "\"\"".into()),
                    query,
                });
                self.subs.len() - 1
            }
        };
        Ok(&self.subs[position])
    }

    /// Removes `id`; false when it was not subscribed.
    pub fn unsubscribe(&mut self, id: &str) -> bool {
        let before = self.subs.len();
        self.subs.retain(|s| s.id != id);
        self.subs.len() != before
    }

    /// Number of subscriptions.
    pub fn len(&self) -> usize {
        self.subs.len()
    }

    /// Every subscription.
    pub fn iter(&self) -> impl Iterator<Item = &Subscription> {
        self.subs.iter()
    }

    /// The messages `batch` produces for this connection: matching offer and provider
    /// events per subscription, and the notifications addressed to `user`.
    pub fn messages(
        &self,
        state: &AppState,
        batch: &EventBatch,
        user: Option<&str>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let mut snapshot: Option<Arc<Snapshot>> = None;
        let at = batch
            .published_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        for event in &batch.events {
            match event {
                Event::Offer(e) if !self.subs.is_empty() => {
                    let snapshot = snapshot.get_or_insert_with(|| state.catalog.snapshot());
                    for sub in &self.subs {
                        if let Some(transition) = transition(snapshot, &sub.query, e) {
                            let body = e.rendered.get_or_init(|| render_offer(state, snapshot, e));
                            out.push(protocol::event(
                                &sub.id_json,
                                e.change.kind(),
                                transition,
                                &at,
                                body,
                            ));
                        }
                    }
                }
                Event::ProviderStatus(e) => {
                    for sub in self
                        .subs
                        .iter()
                        .filter(|s| wants_source(&s.query, &e.status.source))
                    {
                        out.push(provider_event(&sub.id_json, &at, e));
                    }
                }
                Event::Notification(n) if user == Some(n.user_id.as_str()) => {
                    out.push(protocol::notification(&n.kind, &at, &n.payload));
                }
                _ => {}
            }
        }
        out
    }
}

/// The `snapshot` message of `sub`: its current matches in query order, at most the
/// query's `limit=` (or `default_limit`), with the total and any source warnings.
pub fn snapshot(state: &AppState, sub: &Subscription, default_limit: usize) -> String {
    let limit = sub.query.limit.map_or(default_limit, |l| l as usize);
    let page = search_response(&state.catalog, &sub.query, 0, limit);
    json!({
        "type": "snapshot",
        "id": sub.id,
        "query": page.query,
        "total": page.total,
        "offers": page.offers,
        "warnings": page.warnings,
    })
    .to_string()
}

/// Whether (and how) `event` concerns a subscription with `query`: `Some(None)` for
/// added and removed offers that match, `Some(Some(transition))` for price changes.
fn transition(
    snapshot: &Snapshot,
    query: &Query,
    event: &OfferEvent,
) -> Option<Option<&'static str>> {
    let now = snapshot.offer_matches(query, &event.offer);
    match event.change {
        OfferChange::Added | OfferChange::Removed => now.then_some(None),
        OfferChange::PriceChanged => {
            let before = event
                .previous
                .as_ref()
                .is_some_and(|p| snapshot.offer_matches(query, p));
            match (before, now) {
                (true, true) => Some(Some("updated")),
                (false, true) => Some(Some("entered")),
                (true, false) => Some(Some("left")),
                (false, false) => None,
            }
        }
    }
}

/// The shared body of an offer event: `"offer":{…}` and, for a price change,
/// `"previous":{price_per_hour, spot_price_per_hour, availability}`.
fn render_offer(state: &AppState, snapshot: &Snapshot, event: &OfferEvent) -> Arc<str> {
    let seen = last_success(&state.catalog.statuses());
    let view = OfferView::new(&event.offer, snapshot, &seen);
    let offer = serde_json::to_string(&view).unwrap_or_else(|_| "null".into());
    let body = match &event.previous {
        Some(previous) => {
            let old = OfferView::new(previous, snapshot, &seen);
            let previous = json!({
                "price_per_hour": old.price_per_hour,
                "spot_price_per_hour": old.spot_price_per_hour,
                "availability": old.availability,
            });
            format!(r#""offer":{offer},"previous":{previous}"#)
        }
        None => format!(r#""offer":{offer}"#),
    };
    Arc::from(body)
}

/// A source's status concerns a subscription unless its provider filters exclude the
/// source's provider (`skypilot:lambda` is provider `lambda`).
fn wants_source(query: &Query, source: &str) -> bool {
    let provider = source.rsplit_once(':').map_or(source, |(_, p)| p);
    query
        .filters
        .iter()
        .filter(|f| f.field == Field::Provider)
        .all(|f| f.test_text(Some(provider)))
}

fn provider_event(id_json: &str, at: &str, e: &ProviderStatusEvent) -> String {
    let status = serde_json::to_string(&e.status).unwrap_or_else(|_| "null".into());
    let previous = serde_json::to_string(&e.previous).unwrap_or_else(|_| "null".into());
    protocol::event(
        id_json,
        "provider.status",
        None,
        at,
        &format!(r#""provider":{status},"previous":{previous}"#),
    )
}
