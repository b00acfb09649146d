//! Random operation sequences (proptest, fixed seed) against a simple in-memory model of
//! wallets and holds, on both backends. After every operation the outcome must match the
//! model's; after every sequence balances match, `ledger verify` finds no breach of
//! I1–I5 (I1, I2, I3, I4), replays and conflicting keys changed nothing (I6), holds
//! resolved at most once (I8), and the audit chain verifies with exactly one entry per
//! change (I15).

use chrono::{DateTime, Duration, Utc};
use gpubroker::ledger::{HoldStatus, IdempotencyKey, Ledger, LedgerError};
use gpubroker::store::Store;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

use super::{assert_clean, key, setup, usd, user};
use crate::both_backends;
use crate::common::Backend;

both_backends!(ledger_i1_i2_i3_i4_i6_i8_i15_model_random_sequences);

/// Sequences per backend and their length: modest, for a 2-core CI machine.
const CASES: usize = 10;
const USERS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    TopUp {
        user: usize,
        amount: i64,
    },
    Charge {
        user: usize,
        amount: i64,
    },
    Refund {
        user: usize,
        amount: i64,
    },
    Hold {
        user: usize,
        amount: i64,
        short: bool,
    },
    Capture {
        hold: usize,
        amount: i64,
    },
    Void {
        hold: usize,
    },
    /// Sweep at now + 2 h: expires the short (1 h) holds still pending.
    Expire,
    /// The n-th earlier successful call again, same key and parameters.
    Replay {
        n: usize,
    },
    /// The n-th earlier successful call's key with another amount.
    Conflict {
        n: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let amount = 1..5_000_i64;
    prop_oneof![
        3 => (0..USERS, amount.clone()).prop_map(|(user, amount)| Op::TopUp { user, amount }),
        2 => (0..USERS, amount.clone()).prop_map(|(user, amount)| Op::Charge { user, amount }),
        1 => (0..USERS, amount.clone()).prop_map(|(user, amount)| Op::Refund { user, amount }),
        3 => (0..USERS, amount, any::<bool>())
            .prop_map(|(user, amount, short)| Op::Hold { user, amount, short }),
        2 => (any::<usize>(), 1..6_000_i64).prop_map(|(hold, amount)| Op::Capture { hold, amount }),
        1 => any::<usize>().prop_map(|hold| Op::Void { hold }),
        1 => Just(Op::Expire),
        1 => any::<usize>().prop_map(|n| Op::Replay { n }),
        1 => any::<usize>().prop_map(|n| Op::Conflict { n }),
    ]
}

/// A call to the ledger, replayable.
#[derive(Clone, Debug)]
enum Call {
    TopUp(String, i64),
    Charge(String, i64),
    Refund(String, i64),
    Hold(String, i64, DateTime<Utc>),
    Capture(String, i64),
    Void(String),
}

struct ModelHold {
    id: String,
    user: usize,
    amount: i64,
    status: HoldStatus,
    short: bool,
}

#[derive(Default)]
struct Model {
    posted: [i64; USERS],
    holds: Vec<ModelHold>,
    changes: u64,
}

impl Model {
    fn held(&self, user: usize) -> i64 {
        self.holds
            .iter()
            .filter(|h| h.user == user && h.status == HoldStatus::Pending)
            .map(|h| h.amount)
            .sum()
    }

    fn available(&self, user: usize) -> i64 {
        self.posted[user] - self.held(user)
    }
}

async fn call(ledger: &Ledger, k: &IdempotencyKey, c: &Call) -> Result<Value, LedgerError> {
    Ok(match c {
        Call::TopUp(u, a) => to_json(&ledger.top_up(k, u, usd(*a), json!({})).await?),
        Call::Charge(u, a) => to_json(&ledger.charge(k, u, usd(*a), json!({})).await?),
        Call::Refund(u, a) => to_json(&ledger.refund(k, u, usd(*a), json!({})).await?),
        Call::Hold(u, a, at) => to_json(&ledger.place_hold(k, u, usd(*a), *at, json!({})).await?),
        Call::Capture(h, a) => to_json(&ledger.capture_hold(k, h, usd(*a), json!({})).await?),
        Call::Void(h) => to_json(&ledger.void_hold(k, h).await?),
    })
}

/// A result as JSON, for comparing replays.
fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

fn kind(result: &Result<Value, LedgerError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(LedgerError::InsufficientFunds { .. }) => "insufficient",
        Err(LedgerError::HoldResolved { .. }) => "resolved",
        Err(LedgerError::CaptureExceedsHold { .. }) => "exceeds",
        Err(LedgerError::IdempotencyConflict(_)) => "conflict",
        Err(_) => "other",
    }
}

async fn run_case(store: &Store, ledger: &Ledger, ops: &[Op]) {
    let mut users = Vec::new();
    for _ in 0..USERS {
        users.push(user(store).await);
    }
    let audit_before = store.audit_verify(None).await.unwrap().entries;
    let mut model = Model::default();
    let mut done: Vec<(IdempotencyKey, Call, Value)> = Vec::new();
    let soon = Utc::now() + Duration::hours(1);
    let later = Utc::now() + Duration::hours(3);
    for (i, op) in ops.iter().enumerate() {
        let k = |u: usize| key(&users[u], &format!("op-{i}"));
        let (k, c, expect) = match op {
            Op::TopUp { user, amount } => {
                (k(*user), Call::TopUp(users[*user].clone(), *amount), "ok")
            }
            Op::Charge { user, amount } | Op::Refund { user, amount } => {
                let u = users[*user].clone();
                let c = if matches!(op, Op::Charge { .. }) {
                    Call::Charge(u, *amount)
                } else {
                    Call::Refund(u, *amount)
                };
                let ok = model.available(*user) >= *amount;
                (k(*user), c, if ok { "ok" } else { "insufficient" })
            }
            Op::Hold {
                user,
                amount,
                short,
            } => {
                let at = if *short { soon } else { later };
                let ok = model.available(*user) >= *amount;
                let c = Call::Hold(users[*user].clone(), *amount, at);
                (k(*user), c, if ok { "ok" } else { "insufficient" })
            }
            Op::Capture { hold, .. } | Op::Void { hold } if !model.holds.is_empty() => {
                let h = &model.holds[hold % model.holds.len()];
                let capture = if let Op::Capture { amount, .. } = op {
                    Some(*amount)
                } else {
                    None
                };
                let expect = match capture {
                    _ if h.status != HoldStatus::Pending => "resolved",
                    Some(a) if a > h.amount => "exceeds",
                    _ => "ok",
                };
                let c = capture.map_or_else(
                    || Call::Void(h.id.clone()),
                    |a| Call::Capture(h.id.clone(), a),
                );
                (k(h.user), c, expect)
            }
            Op::Expire => {
                let expired = ledger
                    .expire_holds(Utc::now() + Duration::hours(2), 1_000)
                    .await
                    .unwrap();
                let mut due: Vec<&mut ModelHold> = model
                    .holds
                    .iter_mut()
                    .filter(|h| h.short && h.status == HoldStatus::Pending)
                    .collect();
                assert_eq!(expired.len(), due.len(), "op {i}: expired holds");
                for h in &mut due {
                    h.status = HoldStatus::Expired;
                }
                model.changes += expired.len() as u64;
                continue;
            }
            Op::Replay { n } | Op::Conflict { n } if !done.is_empty() => {
                let (k, c, first) = done[n % done.len()].clone();
                if matches!(op, Op::Replay { .. }) {
                    let again = call(ledger, &k, &c).await.unwrap();
                    assert_eq!(again, first, "op {i}: a replay returns the first result");
                    continue;
                }
                let changed = match c {
                    Call::TopUp(u, a) => Call::TopUp(u, a + 1),
                    Call::Charge(u, a) => Call::Charge(u, a + 1),
                    Call::Refund(u, a) => Call::Refund(u, a + 1),
                    Call::Hold(u, a, at) => Call::Hold(u, a + 1, at),
                    Call::Capture(h, a) => Call::Capture(h, a + 1),
                    Call::Void(_) => Call::Void("hold_other".into()),
                };
                (k, changed, "conflict")
            }
            _ => continue,
        };
        let result = call(ledger, &k, &c).await;
        assert_eq!(kind(&result), expect, "op {i} {op:?}: {result:?}");
        let Ok(value) = result else { continue };
        model.changes += 1;
        match &c {
            Call::TopUp(u, a) => model.posted[index(&users, u)] += a,
            Call::Charge(u, a) | Call::Refund(u, a) => model.posted[index(&users, u)] -= a,
            Call::Hold(u, a, at) => model.holds.push(ModelHold {
                id: value["id"].as_str().unwrap().to_owned(),
                user: index(&users, u),
                amount: *a,
                status: HoldStatus::Pending,
                short: *at == soon,
            }),
            Call::Capture(h, a) => {
                let hold = model.holds.iter_mut().find(|m| &m.id == h).unwrap();
                hold.status = HoldStatus::Captured;
                model.posted[hold.user] -= a;
            }
            Call::Void(h) => {
                let hold = model.holds.iter_mut().find(|m| &m.id == h).unwrap();
                hold.status = HoldStatus::Voided;
            }
        }
        done.push((k, c, value));
    }
    for (n, u) in users.iter().enumerate() {
        let b = ledger.balance(u).await.unwrap();
        assert_eq!(
            (b.posted.0, b.held.0, b.available.0),
            (model.posted[n], model.held(n), model.available(n)),
            "user {n}"
        );
        assert!(b.available.0 >= 0);
    }
    let audited = assert_clean(store).await;
    assert_eq!(
        audited - audit_before,
        model.changes,
        "one audit entry per change"
    );
}

fn index(users: &[String], id: &str) -> usize {
    users.iter().position(|u| u == id).unwrap()
}

async fn ledger_i1_i2_i3_i4_i6_i8_i15_model_random_sequences(backend: Backend) {
    let Some((_db, store, ledger)) = setup(backend).await else {
        return;
    };
    let mut runner = TestRunner::deterministic();
    let sequences = proptest::collection::vec(op(), 10..40);
    for case in 0..CASES {
        let ops = sequences.new_tree(&mut runner).unwrap().current();
        eprintln!("case {case}: {} ops", ops.len());
        run_case(&store, &ledger, &ops).await;
    }
}
