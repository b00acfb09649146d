//! Verification of an audit chain read in seq order, one entry at a time.

use super::{AuditCheckpoint, AuditEntry, ChainHead, GENESIS_HASH};

/// Problems kept in a report; further ones are only counted.
const MAX_PROBLEMS: usize = 100;

/// Where a checkpoint came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointSource {
    /// The newest row of `audit_checkpoints`.
    Database,
    /// A file written by `gpubroker audit checkpoint --export`.
    File,
}

impl std::fmt::Display for CheckpointSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Database => "the database checkpoint",
            Self::File => "the checkpoint file",
        })
    }
}

/// One way the chain fails to verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuditProblem {
    /// The entry's content or hash was changed: its hash does not match.
    #[error("entry {seq} was altered: its hash does not match its content")]
    Altered { seq: i64 },
    /// Entries `first..=last` are missing (deleted).
    #[error("entries {first}..={last} are missing")]
    Missing { first: i64, last: i64 },
    /// The entry's `prev_hash` is not the previous entry's hash (reordered or replaced).
    #[error("entry {seq} does not link to the entry before it (reordered or replaced)")]
    BrokenLink { seq: i64 },
    /// The log ends before a checkpoint's entry: the tail was truncated.
    #[error("the log ends at entry {head_seq} but {from} recorded entry {checkpoint_seq}: the tail was truncated")]
    Truncated {
        checkpoint_seq: i64,
        head_seq: i64,
        from: CheckpointSource,
    },
    /// The entry at a checkpoint's seq has another hash than the checkpoint recorded.
    #[error("entry {seq} differs from {from}")]
    CheckpointMismatch { seq: i64, from: CheckpointSource },
}

/// The outcome of verifying a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries read.
    pub entries: u64,
    /// The last entry read (genesis when none).
    pub head: ChainHead,
    /// The first problems found, in seq order (at most 100).
    pub problems: Vec<AuditProblem>,
    /// All problems found, including those not kept.
    pub problem_count: u64,
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_intact(&self) -> bool {
        self.problem_count == 0
    }
}

/// Checks entries fed in ascending seq order against each other and the checkpoints.
#[derive(Debug)]
pub struct ChainVerifier {
    checkpoints: Vec<(CheckpointSource, AuditCheckpoint)>,
    head: ChainHead,
    entries: u64,
    problems: Vec<AuditProblem>,
    problem_count: u64,
}

impl ChainVerifier {
    /// A verifier that also checks the chain against `checkpoints`.
    pub fn new(checkpoints: Vec<(CheckpointSource, AuditCheckpoint)>) -> ChainVerifier {
        ChainVerifier {
            checkpoints,
            head: ChainHead::genesis(),
            entries: 0,
            problems: Vec::new(),
            problem_count: 0,
        }
    }

    /// Checks the next entry (entries must come in ascending seq order).
    pub fn push(&mut self, entry: &AuditEntry) {
        let expected = self.head.seq + 1;
        if entry.seq > expected {
            self.problem(AuditProblem::Missing {
                first: expected,
                last: entry.seq - 1,
            });
        } else if entry.seq < expected || entry.prev_hash != self.head.hash {
            // After a gap the link is broken by construction; only the gap is reported.
            self.problem(AuditProblem::BrokenLink { seq: entry.seq });
        }
        if entry.computed_hash() != entry.hash {
            self.problem(AuditProblem::Altered { seq: entry.seq });
        }
        let mismatches: Vec<AuditProblem> = self
            .checkpoints
            .iter()
            .filter(|(_, cp)| cp.seq == entry.seq && cp.hash != entry.hash)
            .map(|(source, _)| AuditProblem::CheckpointMismatch {
                seq: entry.seq,
                from: *source,
            })
            .collect();
        for problem in mismatches {
            self.problem(problem);
        }
        // Continue from the stored hash so one edit is reported once, not at every later entry.
        self.head = entry.head();
        self.entries += 1;
    }

    /// Finishes: checks that no checkpoint lies beyond the last entry.
    pub fn finish(mut self) -> VerifyReport {
        let checkpoints = std::mem::take(&mut self.checkpoints);
        for (source, cp) in checkpoints {
            if cp.seq > self.head.seq {
                self.problem(AuditProblem::Truncated {
                    checkpoint_seq: cp.seq,
                    head_seq: self.head.seq,
                    from: source,
                });
            } else if cp.seq == 0 && cp.hash != GENESIS_HASH {
                self.problem(AuditProblem::CheckpointMismatch {
                    seq: 0,
                    from: source,
                });
            }
        }
        VerifyReport {
            entries: self.entries,
            head: self.head,
            problems: self.problems,
            problem_count: self.problem_count,
        }
    }

    fn problem(&mut self, problem: AuditProblem) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        }
    }
}
