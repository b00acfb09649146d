//! Failed-login throttling: after [`MAX_FAILURES`] failures for one email within
//! [`WINDOW`], further logins for it fail without checking the password until the oldest
//! failure leaves the window. Unknown emails are counted the same way (no enumeration).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per email within [`WINDOW`].
pub const MAX_FAILURES: usize = 5;
/// The sliding window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Tracked emails beyond which expired entries are swept.
const SWEEP_AT: usize = 10_000;

/// Recent login failures by normalised email; in-process (per replica).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    /// Whether logins for `email` are refused at `now`.
    pub fn is_blocked(&self, email: &str, now: Instant) -> bool {
        let mut map = self.lock();
        let Some(times) = map.get_mut(email) else {
            return false;
        };
        prune(times, now);
        times.len() >= MAX_FAILURES
    }

    /// Records a failed login for `email` at `now`.
    pub fn record_failure(&self, email: &str, now: Instant) {
        let mut map = self.lock();
        if map.len() >= SWEEP_AT {
            map.retain(|_, times| {
                prune(times, now);
                !times.is_empty()
            });
        }
        let times = map.entry(email.to_owned()).or_default();
        prune(times, now);
        times.push_back(now);
    }

    /// Forgets the failures of `email` (after a successful login).
    pub fn clear(&self, email: &str) {
        self.lock().remove(email);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_five_failures_until_the_window_passes() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert!(!throttle.is_blocked("a@x.io", t0));
            throttle.record_failure("a@x.io", t0 + Duration::from_secs(i as u64));
        }
        assert!(throttle.is_blocked("a@x.io", t0 + Duration::from_secs(60)));
        assert!(!throttle.is_blocked("b@x.io", t0 + Duration::from_secs(60)));
        assert!(throttle.is_blocked("a@x.io", t0 + WINDOW - Duration::from_secs(1)));
        assert!(!throttle.is_blocked("a@x.io", t0 + WINDOW));
        throttle.record_failure("b@x.io", t0);
        throttle.clear("b@x.io");
        assert!(!throttle.is_blocked("b@x.io", t0));
    }
}
