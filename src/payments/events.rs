//! Gateway events in Stripe's shape (`{id, type, created, data: {object}}`), read into the
//! few facts the broker acts on. The sandbox sends the same shapes, so one reader serves
//! both gateways. Reading is pure and never panics: a malformed event is an error, an
//! event type the broker does not act on is [`EventKind::Ignored`].

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

/// Largest accepted webhook body, bytes (Stripe's events are a few KiB).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// A verified gateway event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The gateway's event id (`evt_…`); each is applied once.
    pub id: String,
    /// The event's `type`, as sent.
    pub event_type: String,
    pub kind: EventKind,
}

/// What a checkout was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutMode {
    Payment,
    Subscription,
}

/// A refund's state at the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundState {
    Pending,
    Succeeded,
    Failed,
}

/// The facts of an event the broker acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A checkout whose payment succeeded (`checkout.session.completed` with
    /// `payment_status` paid or no_payment_required, or
    /// `checkout.session.async_payment_succeeded`).
    CheckoutPaid {
        session_ref: String,
        /// Our checkout id (`client_reference_id`, else `metadata.checkout_id`).
        checkout_id: Option<String>,
        mode: CheckoutMode,
        /// The PaymentIntent (`pi_…`) for payment mode.
        payment_ref: Option<String>,
        subscription_ref: Option<String>,
        customer_ref: Option<String>,
        /// Minor units (cents) actually paid.
        amount_total: i64,
        currency: String,
    },
    /// A completed checkout whose payment is still processing (it will be followed by
    /// an async success or failure).
    CheckoutAwaitingPayment { session_ref: String },
    /// A checkout that ended without payment (`async_payment_failed` or `expired`).
    CheckoutEnded {
        session_ref: String,
        checkout_id: Option<String>,
        expired: bool,
    },
    /// A refund object changed (`refund.created`, `refund.updated`, `refund.failed`,
    /// `charge.refund.updated`).
    Refund {
        refund_ref: String,
        /// Our refund id (`metadata.refund_id`).
        refund_id: Option<String>,
        state: RefundState,
    },
    /// A subscription invoice was paid or failed (`invoice.paid`,
    /// `invoice.payment_failed`).
    Invoice {
        invoice_ref: String,
        number: Option<String>,
        subscription_ref: String,
        paid: bool,
        /// Minor units.
        amount: i64,
        currency: String,
        period_start: DateTime<Utc>,
        period_end: DateTime<Utc>,
    },
    /// `customer.subscription.deleted`.
    SubscriptionDeleted {
        subscription_ref: String,
        at: DateTime<Utc>,
    },
    /// `payment_method.attached` with card details (never the number).
    PaymentMethodAttached {
        method_ref: String,
        customer_ref: String,
        brand: Option<String>,
        last4: Option<String>,
        exp_month: Option<i32>,
        exp_year: Option<i32>,
    },
    /// Any other event type.
    Ignored,
}

/// Why an event could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed event: {0}")]
pub struct EventError(pub String);

fn bad(what: impl Into<String>) -> EventError {
    EventError(what.into())
}

fn text(obj: &Value, field: &str) -> Option<String> {
    match obj.get(field)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        // Expanded objects carry their id.
        Value::Object(o) => o.get("id")?.as_str().map(str::to_owned),
        _ => None,
    }
}

fn required(obj: &Value, field: &str) -> Result<String, EventError> {
    text(obj, field).ok_or_else(|| bad(format!("{field} is missing")))
}

fn integer(obj: &Value, field: &str) -> Result<i64, EventError> {
    obj.get(field)
        .and_then(Value::as_i64)
        .ok_or_else(|| bad(format!("{field} is missing or not an integer")))
}

fn timestamp(obj: &Value, field: &str) -> Result<DateTime<Utc>, EventError> {
    let secs = integer(obj, field)?;
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or_else(|| bad(format!("{field} is not a timestamp")))
}

/// Reads a raw event body.
pub fn parse(body: &[u8]) -> Result<Event, EventError> {
    if body.len() > MAX_EVENT_BYTES {
        return Err(bad("the event is too large"));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let id = required(&value, "id")?;
    if id.len() > 255 {
        return Err(bad("id is too long"));
    }
    let event_type = required(&value, "type")?;
    let object = value
        .get("data")
        .and_then(|d| d.get("object"))
        .filter(|o| o.is_object())
        .ok_or_else(|| bad("data.object is missing"))?;
    let kind = read_kind(&event_type, object)?;
    Ok(Event {
        id,
        event_type,
        kind,
    })
}

fn read_kind(event_type: &str, object: &Value) -> Result<EventKind, EventError> {
    Ok(match event_type {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            let session_ref = required(object, "id")?;
            let status = text(object, "payment_status").unwrap_or_default();
            if event_type == "checkout.session.completed"
                && !matches!(status.as_str(), "paid" | "no_payment_required")
            {
                return Ok(EventKind::CheckoutAwaitingPayment { session_ref });
            }
            let mode = match text(object, "mode").as_deref() {
                Some("payment") => CheckoutMode::Payment,
                Some("subscription") => CheckoutMode::Subscription,
                other => return Err(bad(format!("unsupported checkout mode {other:?}"))),
            };
            let amount_total = integer(object, "amount_total")?;
            if amount_total < 0 {
                return Err(bad("amount_total is negative"));
            }
            EventKind::CheckoutPaid {
                session_ref,
                checkout_id: checkout_id(object),
                mode,
                payment_ref: text(object, "payment_intent"),
                subscription_ref: text(object, "subscription"),
                customer_ref: text(object, "customer"),
                amount_total,
                currency: required(object, "currency")?.to_ascii_lowercase(),
            }
        }
        "checkout.session.async_payment_failed" | "checkout.session.expired" => {
            EventKind::CheckoutEnded {
                session_ref: required(object, "id")?,
                checkout_id: checkout_id(object),
                expired: event_type == "checkout.session.expired",
            }
        }
        "refund.created" | "refund.updated" | "refund.failed" | "charge.refund.updated" => {
            let state = match text(object, "status").as_deref() {
                Some("succeeded") => RefundState::Succeeded,
                Some("failed" | "canceled") => RefundState::Failed,
                _ => RefundState::Pending,
            };
            EventKind::Refund {
                refund_ref: required(object, "id")?,
                refund_id: object.get("metadata").and_then(|m| text(m, "refund_id")),
                state,
            }
        }
        "invoice.paid" | "invoice.payment_failed" => {
            // Older API versions put the subscription on the invoice, newer ones under
            // parent.subscription_details.
            let subscription_ref = text(object, "subscription").or_else(|| {
                object
                    .get("parent")
                    .and_then(|p| p.get("subscription_details"))
                    .and_then(|d| text(d, "subscription"))
            });
            let Some(subscription_ref) = subscription_ref else {
                // A one-off invoice: not a subscription's.
                return Ok(EventKind::Ignored);
            };
            // The subscription period is on the first line; the invoice's own period
            // fields describe the previous one.
            let period = object
                .get("lines")
                .and_then(|l| l.get("data"))
                .and_then(|d| d.get(0))
                .and_then(|line| line.get("period"));
            let (period_start, period_end) = match period {
                Some(p) => (timestamp(p, "start")?, timestamp(p, "end")?),
                None => (
                    timestamp(object, "period_start")?,
                    timestamp(object, "period_end")?,
                ),
            };
            let paid = event_type == "invoice.paid";
            let amount = integer(object, if paid { "amount_paid" } else { "amount_due" })?;
            if amount < 0 || period_end < period_start {
                return Err(bad("negative amount or inverted period"));
            }
            EventKind::Invoice {
                invoice_ref: required(object, "id")?,
                number: text(object, "number"),
                subscription_ref,
                paid,
                amount,
                currency: required(object, "currency")?.to_ascii_lowercase(),
                period_start,
                period_end,
            }
        }
        "customer.subscription.deleted" => EventKind::SubscriptionDeleted {
            subscription_ref: required(object, "id")?,
            at: timestamp(object, "ended_at")
                .or_else(|_| timestamp(object, "canceled_at"))
                .unwrap_or_else(|_| crate::store::now()),
        },
        "payment_method.attached" => {
            let card = object.get("card").cloned().unwrap_or(Value::Null);
            let last4 = text(&card, "last4")
                .filter(|l| l.len() == 4 && l.chars().all(|c| c.is_ascii_digit()));
            EventKind::PaymentMethodAttached {
                method_ref: required(object, "id")?,
                customer_ref: required(object, "customer")?,
                brand: text(&card, "brand"),
                last4,
                exp_month: card
                    .get("exp_month")
                    .and_then(Value::as_i64)
                    .and_then(|m| i32::try_from(m).ok()),
                exp_year: card
                    .get("exp_year")
                    .and_then(Value::as_i64)
                    .and_then(|y| i32::try_from(y).ok()),
            }
        }
        _ => EventKind::Ignored,
    })
}

fn checkout_id(object: &Value) -> Option<String> {
    text(object, "client_reference_id")
        .or_else(|| object.get("metadata").and_then(|m| text(m, "checkout_id")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, object: Value) -> Vec<u8> {
        let mut event = json!({
            "id": "evt_1", "object": "event", "type": kind, "created": 1_700_000_000,
            "livemode": false
        });
        event["data"] = json!({});
        event["data"]["object"] = object;
        serde_json::to_vec(&event).unwrap()
    }

    #[test]
    fn a_paid_checkout_is_read_with_its_references() {
        let e = parse(&event(
            "checkout.session.completed",
            json!({"id": "cs_1", "object": "checkout.session", "mode": "payment",
                   "payment_status": "paid", "amount_total": 2500, "currency": "USD",
                   "client_reference_id": "chk_1", "payment_intent": "pi_1",
                   "customer": {"id": "cus_1"}}),
        ))
        .unwrap();
        assert_eq!(
            e.kind,
            EventKind::CheckoutPaid {
                session_ref: "cs_1".into(),
                checkout_id: Some("chk_1".into()),
                mode: CheckoutMode::Payment,
                payment_ref: Some("pi_1".into()),
                subscription_ref: None,
                customer_ref: Some("cus_1".into()),
                amount_total: 2500,
                currency: "usd".into(),
            }
        );
    }

    #[test]
    fn an_unpaid_completion_waits_for_the_async_result() {
        let e = parse(&event(
            "checkout.session.completed",
            json!({"id": "cs_1", "mode": "payment", "payment_status": "unpaid",
                   "amount_total": 100, "currency": "usd"}),
        ))
        .unwrap();
        assert_eq!(
            e.kind,
            EventKind::CheckoutAwaitingPayment {
                session_ref: "cs_1".into()
            }
        );
    }

    #[test]
    fn invoices_take_the_period_of_their_first_line_and_either_subscription_field() {
        let e = parse(&event(
            "invoice.paid",
            json!({"id": "in_1", "amount_paid": 2900, "currency": "usd",
                   "period_start": 1, "period_end": 2,
                   "parent": {"subscription_details": {"subscription": "sub_1"}},
                   "lines": {"data": [{"period": {"start": 1_700_000_000, "end": 1_702_592_000}}]}}),
        ))
        .unwrap();
        match e.kind {
            EventKind::Invoice {
                subscription_ref,
                period_end,
                paid,
                ..
            } => {
                assert_eq!(subscription_ref, "sub_1");
                assert_eq!(period_end.timestamp(), 1_702_592_000);
                assert!(paid);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_events_are_errors_and_unknown_types_are_ignored() {
        assert!(parse(b"not json").is_err());
        assert!(parse(br#"{"id":"evt_1","type":"x"}"#).is_err());
        assert!(parse(&event(
            "checkout.session.completed",
            json!({"id": "cs_1", "mode": "payment", "payment_status": "paid", "currency": "usd"})
        ))
        .is_err());
        assert_eq!(
            parse(&event("customer.created", json!({"id": "cus_1"})))
                .unwrap()
                .kind,
            EventKind::Ignored
        );
    }

    #[test]
    fn card_details_keep_only_brand_last_four_and_expiry() {
        let e = parse(&event(
            "payment_method.attached",
            json!({"id": "pm_1", "customer": "cus_1",
                   "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030}}),
        ))
        .unwrap();
        assert!(matches!(
            e.kind,
            EventKind::PaymentMethodAttached { ref last4, .. } if last4.as_deref() == Some("4242")
        ));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            // Random bytes are almost never JSON; whatever they are, reading returns.
            let is_json = serde_json::from_slice::<Value>(&body).is_ok();
            proptest::prop_assert!(parse(&body).is_err() || is_json);
        }
    }
}
