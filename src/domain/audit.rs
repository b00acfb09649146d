//! The audit log's hash chain: the canonical encoding of an entry and its hash.
//!
//! # Canonical encoding (version 1)
//!
//! An entry is encoded as one line of JSON with no insignificant whitespace whose object
//! keys are sorted by their UTF-8 bytes, at every depth:
//!
//! ```text
//! {"action":"config.set","actor":"u_1","at":"2026-01-02T03:04:05.123456Z","detail":{"key":"smtp.host"},"seq":1,"target":"smtp.host"}
//! ```
//!
//! - `seq` is a JSON integer, `target` a string or `null`;
//! - `at` is RFC 3339 in UTC with exactly six fractional digits and a `Z` suffix;
//! - strings use serde_json's escaping (`"` `\` and control characters escaped, everything
//!   else literal UTF-8); numbers use serde_json's shortest round-trip form;
//! - `detail` is a JSON object, canonicalised recursively the same way (arrays keep their
//!   order).
//!
//! The hash of an entry is `hex(SHA-256(prev_hash || canonical))`, where `prev_hash` is the
//! previous entry's hash as 64 lowercase ASCII hex digits (64 `0`s for the first entry,
//! [`GENESIS_HASH`]) and `hex` is lowercase. Each entry therefore commits to its own
//! content, its position (`seq`) and everything before it.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod verify;

pub use verify::{AuditProblem, ChainVerifier, CheckpointSource, VerifyReport};

/// `prev_hash` of the first entry: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry of the audit log, as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1 without gaps.
    pub seq: i64,
    /// When it was appended (microsecond precision, UTC).
    pub at: DateTime<Utc>,
    /// Who: a user id, `system`, or `cli:<os user>`.
    pub actor: String,
    /// What, as `area.verb`, e.g. `config.set` or `auth.login`.
    pub action: String,
    /// The object acted on, when there is one.
    pub target: Option<String>,
    /// Further facts, a JSON object.
    pub detail: Value,
    /// Hash of the previous entry ([`GENESIS_HASH`] for seq 1).
    pub prev_hash: String,
    /// Hash of this entry (see the module documentation).
    pub hash: String,
}

/// The newest entry of a chain: its seq and hash (seq 0 and [`GENESIS_HASH`] when empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis() -> ChainHead {
        ChainHead {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

/// A recorded head of the chain, kept in the database and exportable as a JSON file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheckpoint {
    pub seq: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
}

impl AuditEntry {
    /// The entry that follows `head`, with its hash computed; `at` is truncated to
    /// microseconds (what both databases store).
    pub fn next(
        head: &ChainHead,
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: Value,
    ) -> AuditEntry {
        let mut entry = AuditEntry {
            seq: head.seq + 1,
            at: at.trunc_subsecs(6),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            detail,
            prev_hash: head.hash.clone(),
            hash: String::new(),
        };
        entry.hash = entry.computed_hash();
        entry
    }

    /// The canonical encoding of this entry's content (everything but the two hashes).
    pub fn canonical(&self) -> String {
        let (before, after) = self.canonical_around_seq();
        format!("{before}{}{after}", self.seq)
    }

    /// The canonical encoding split around the decimal `seq`: `before + seq + after` is
    /// [`AuditEntry::canonical`]. Lets a database that assigns the seq under its own lock
    /// compute the hash itself (see `store::ledger`).
    pub fn canonical_around_seq(&self) -> (String, String) {
        let mut before = String::with_capacity(256);
        before.push_str("{\"action\":");
        push_string(&mut before, &self.action);
        before.push_str(",\"actor\":");
        push_string(&mut before, &self.actor);
        before.push_str(",\"at\":");
        push_string(&mut before, &format_at(self.at));
        before.push_str(",\"detail\":");
        push_canonical(&mut before, &self.detail);
        before.push_str(",\"seq\":");
        let mut after = String::from(",\"target\":");
        match &self.target {
            Some(target) => push_string(&mut after, target),
            None => after.push_str("null"),
        }
        after.push('}');
        (before, after)
    }

    /// The hash this entry's content and `prev_hash` call for.
    pub fn computed_hash(&self) -> String {
        chain_hash(&self.prev_hash, self.canonical().as_bytes())
    }

    /// This entry as the head of the chain.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// `hex(SHA-256(prev_hash || canonical))`, lowercase.
pub fn chain_hash(prev_hash: &str, canonical: &[u8]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(prev_hash.as_bytes());
    ctx.update(canonical);
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `at` as hashed: RFC 3339, UTC, six fractional digits, `Z`.
pub fn format_at(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `value` as canonical JSON: sorted keys, no whitespace.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    push_canonical(&mut out, value);
    out
}

fn push_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => push_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_canonical(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Sorted here rather than trusting the map's order: a dependency enabling
            // serde_json's `preserve_order` must not change the hashes.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_string(out, key);
                out.push(':');
                if let Some(item) = map.get(key) {
                    push_canonical(out, item);
                }
            }
            out.push('}');
        }
    }
}

fn push_string(out: &mut String, s: &str) {
    // Serialising a string cannot fail; the fallback is unreachable.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

#[cfg(test)]
mod tests;
