//! GPU registry (placeholder until the registry lands).
