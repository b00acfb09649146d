use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;

fn at(secs: u32, micros: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, secs).unwrap()
        + chrono::Duration::microseconds(i64::from(micros))
}

/// Two entries built from a fixed input; the expected bytes and hashes were computed
/// independently (Python `hashlib.sha256`).
fn fixed_chain() -> (AuditEntry, AuditEntry) {
    let first = AuditEntry::next(
        &ChainHead::genesis(),
        // Nanoseconds beyond the microsecond are dropped.
        at(5, 123_456) + chrono::Duration::nanoseconds(789),
        "u_1",
        "config.set",
        Some("smtp.host"),
        json!({"z": {"y": "\u{1}é", "k": true}, "key": "smtp.host", "b": null, "a": [1, 2.5, "x"]}),
    );
    let second = AuditEntry::next(
        &first.head(),
        at(6, 0),
        "system",
        "auth.login",
        None,
        json!({}),
    );
    (first, second)
}

#[test]
fn canonical_encoding_and_hash_match_the_fixed_vector() {
    let (first, second) = fixed_chain();
    assert_eq!(
        first.canonical(),
        r#"{"action":"config.set","actor":"u_1","at":"2026-01-02T03:04:05.123456Z","detail":{"a":[1,2.5,"x"],"b":null,"key":"smtp.host","z":{"k":true,"y":"\u0001é"}},"seq":1,"target":"smtp.host"}"#
    );
    assert_eq!(first.prev_hash, GENESIS_HASH);
    assert_eq!(
        first.hash,
        "81b2f836fd7fdafdfcb2b4e948ffae4df13ce882d34d1488b1569f9c2a09fbf0"
    );
    assert_eq!(
        second.canonical(),
        r#"{"action":"auth.login","actor":"system","at":"2026-01-02T03:04:06.000000Z","detail":{},"seq":2,"target":null}"#
    );
    assert_eq!(second.prev_hash, first.hash);
    assert_eq!(
        second.hash,
        "29da7e8a78a46bf026fb220800d57ca90ec76371d6a9eb4a66480b1c7c546fd1"
    );
}

#[test]
fn canonical_json_is_independent_of_key_order() {
    let a: Value = serde_json::from_str(r#"{"b":{"d":1,"c":[{"f":2,"e":3}]},"a":"x"}"#).unwrap();
    let b: Value =
        serde_json::from_str(r#"{ "a": "x", "b": { "c": [ {"e":3, "f":2} ], "d": 1 } }"#).unwrap();
    assert_eq!(
        canonical_json(&a),
        r#"{"a":"x","b":{"c":[{"e":3,"f":2}],"d":1}}"#
    );
    assert_eq!(canonical_json(&a), canonical_json(&b));
}

fn verify(
    entries: &[AuditEntry],
    checkpoints: Vec<(CheckpointSource, AuditCheckpoint)>,
) -> VerifyReport {
    let mut verifier = ChainVerifier::new(checkpoints);
    for entry in entries {
        verifier.push(entry);
    }
    verifier.finish()
}

fn chain(n: i64) -> Vec<AuditEntry> {
    let mut head = ChainHead::genesis();
    (1..=n)
        .map(|i| {
            let entry = AuditEntry::next(
                &head,
                at(0, 0),
                "system",
                "test.step",
                None,
                json!({ "i": i }),
            );
            head = entry.head();
            entry
        })
        .collect()
}

fn checkpoint(entry: &AuditEntry) -> AuditCheckpoint {
    AuditCheckpoint {
        seq: entry.seq,
        hash: entry.hash.clone(),
        at: at(0, 0),
    }
}

#[test]
fn an_intact_chain_verifies() {
    let entries = chain(5);
    let report = verify(
        &entries,
        vec![(CheckpointSource::Database, checkpoint(&entries[4]))],
    );
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, 5);
    assert_eq!(report.head, entries[4].head());
    assert!(verify(&[], Vec::new()).is_intact());
}

#[test]
fn every_kind_of_tampering_is_named() {
    let entries = chain(5);
    let mut edited = entries.clone();
    edited[2].detail = json!({ "i": 99 });
    assert_eq!(
        verify(&edited, Vec::new()).problems,
        vec![AuditProblem::Altered { seq: 3 }]
    );

    let mut deleted = entries.clone();
    deleted.remove(2);
    assert_eq!(
        verify(&deleted, Vec::new()).problems,
        vec![AuditProblem::Missing { first: 3, last: 3 }]
    );

    // A self-consistent replacement of entry 3 breaks the link of entry 4.
    let mut replaced = entries.clone();
    replaced[2] = AuditEntry::next(&entries[1].head(), at(0, 0), "x", "forged", None, json!({}));
    assert_eq!(
        verify(&replaced, Vec::new()).problems,
        vec![AuditProblem::BrokenLink { seq: 4 }]
    );

    let cp = checkpoint(&entries[4]);
    let truncated = verify(&entries[..3], vec![(CheckpointSource::File, cp.clone())]);
    assert_eq!(
        truncated.problems,
        vec![AuditProblem::Truncated {
            checkpoint_seq: 5,
            head_seq: 3,
            from: CheckpointSource::File
        }]
    );
    let mut rewritten = chain(5);
    rewritten[4] = AuditEntry::next(
        &rewritten[3].head(),
        at(1, 0),
        "x",
        "forged",
        None,
        json!({}),
    );
    assert_eq!(
        verify(&rewritten, vec![(CheckpointSource::Database, cp)]).problems,
        vec![AuditProblem::CheckpointMismatch {
            seq: 5,
            from: CheckpointSource::Database
        }]
    );
}
