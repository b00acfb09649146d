//! Settings of running several replicas (the leader lease) and the WebSocket caps, parsed
//! from their raw layers with every problem named.

use std::time::Duration;

use super::parse_duration;
use super::ws::WsLimits;

/// Leader lease timing: a holder renews every `renew_every`; a lease not renewed for
/// `ttl` may be taken by another replica (the longest failover after a crash is about
/// `ttl + renew_every`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseSettings {
    pub ttl: Duration,
    pub renew_every: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }
}

/// Parses `GPUBROKER_POD_METER_INTERVAL` (1 s to 1 h), `GPUBROKER_POD_TICK` (100 ms to
/// 1 min, at most the interval) and `GPUBROKER_POD_PREPAID` (1 min to 7 days).
pub fn pod_settings(
    problems: &mut Vec<String>,
    interval: Option<&str>,
    tick: Option<&str>,
    prepaid: Option<&str>,
) -> crate::pods::PodSettings {
    let d = crate::pods::PodSettings::default();
    let meter_interval = duration(
        problems,
        "GPUBROKER_POD_METER_INTERVAL",
        interval,
        d.meter_interval,
    );
    let tick = duration(problems, "GPUBROKER_POD_TICK", tick, d.tick);
    let prepaid = duration(problems, "GPUBROKER_POD_PREPAID", prepaid, d.prepaid);
    if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&meter_interval) {
        problems.push(format!(
            "GPUBROKER_POD_METER_INTERVAL must be from 1s to 1h, not {meter_interval:?}"
        ));
    }
    if !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&tick)
        || tick > meter_interval
    {
        problems.push(format!(
            "GPUBROKER_POD_TICK must be from 100ms to 1min and at most GPUBROKER_POD_METER_INTERVAL, not {tick:?}"
        ));
    }
    if !(Duration::from_secs(60)..=Duration::from_secs(7 * 86_400)).contains(&prepaid) {
        problems.push(format!(
            "GPUBROKER_POD_PREPAID must be from 1min to 7d, not {prepaid:?}"
        ));
    }
    crate::pods::PodSettings {
        meter_interval,
        tick,
        prepaid,
        ..d
    }
}

/// The raw WebSocket layer: every field optional.
#[derive(Clone, Debug, Default)]
pub struct RawWsLimits {
    pub max_message_bytes: Option<usize>,
    pub max_subscriptions: Option<usize>,
    pub max_connections_per_user: Option<usize>,
    pub queue_messages: Option<usize>,
    pub queue_bytes: Option<usize>,
    pub heartbeat: Option<String>,
    pub idle_timeout: Option<String>,
    pub snapshot_limit: Option<usize>,
}

fn duration(
    problems: &mut Vec<String>,
    name: &str,
    raw: Option<&str>,
    default: Duration,
) -> Duration {
    match raw.map(parse_duration) {
        None => default,
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            problems.push(format!("{name}: {e}"));
            default
        }
    }
}

/// Parses `GPUBROKER_LEASE_TTL` and `GPUBROKER_LEASE_RENEW`: a TTL from 1 s to 1 h, and at
/// least three renewals per TTL so one failed renewal does not lose the lease.
pub fn lease_settings(
    problems: &mut Vec<String>,
    ttl: Option<&str>,
    renew: Option<&str>,
) -> LeaseSettings {
    let defaults = LeaseSettings::default();
    let ttl = duration(problems, "GPUBROKER_LEASE_TTL", ttl, defaults.ttl);
    let renew_every = duration(
        problems,
        "GPUBROKER_LEASE_RENEW",
        renew,
        defaults.renew_every,
    );
    if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&ttl) {
        problems.push(format!(
            "GPUBROKER_LEASE_TTL must be from 1s to 1h, not {ttl:?}"
        ));
    } else if renew_every < Duration::from_millis(100) || renew_every.saturating_mul(3) > ttl {
        problems.push(format!(
            "GPUBROKER_LEASE_RENEW must be at least 100ms and at most a third of GPUBROKER_LEASE_TTL ({ttl:?}), not {renew_every:?}"
        ));
    }
    LeaseSettings { ttl, renew_every }
}

/// Parses the `GPUBROKER_WS_*` caps; zero and unsafe values are refused.
pub fn ws_limits(problems: &mut Vec<String>, raw: &RawWsLimits) -> WsLimits {
    let d = WsLimits::default();
    let mut count = |name: &str,
                     value: Option<usize>,
                     default: usize,
                     range: std::ops::RangeInclusive<usize>| match value {
        None => default,
        Some(v) if range.contains(&v) => v,
        Some(v) => {
            problems.push(format!(
                "{name} must be from {} to {}, not {v}",
                range.start(),
                range.end()
            ));
            default
        }
    };
    let max_message_bytes = count(
        "GPUBROKER_WS_MAX_MESSAGE_BYTES",
        raw.max_message_bytes,
        d.max_message_bytes,
        256..=1024 * 1024,
    );
    let max_subscriptions = count(
        "GPUBROKER_WS_MAX_SUBSCRIPTIONS",
        raw.max_subscriptions,
        d.max_subscriptions,
        1..=1000,
    );
    let max_connections_per_user = count(
        "GPUBROKER_WS_MAX_CONNECTIONS_PER_USER",
        raw.max_connections_per_user,
        d.max_connections_per_user,
        1..=10_000,
    );
    let queue_size = count(
        "GPUBROKER_WS_QUEUE_MESSAGES",
        raw.queue_messages,
        d.queue_size,
        1..=1_000_000,
    );
    let max_queue_bytes = count(
        "GPUBROKER_WS_QUEUE_BYTES",
        raw.queue_bytes,
        d.max_queue_bytes,
        1024..=1024 * 1024 * 1024,
    );
    let snapshot_limit = count(
        "GPUBROKER_WS_SNAPSHOT_LIMIT",
        raw.snapshot_limit,
        d.snapshot_limit,
        1..=1000,
    );
    let heartbeat = duration(
        problems,
        "GPUBROKER_WS_HEARTBEAT",
        raw.heartbeat.as_deref(),
        d.heartbeat,
    );
    let idle_timeout = duration(
        problems,
        "GPUBROKER_WS_IDLE_TIMEOUT",
        raw.idle_timeout.as_deref(),
        d.idle_timeout,
    );
    if heartbeat < Duration::from_millis(100) {
        problems.push(format!(
            "GPUBROKER_WS_HEARTBEAT must be at least 100ms, not {heartbeat:?}"
        ));
    } else if idle_timeout <= heartbeat {
        problems.push(format!(
            "GPUBROKER_WS_IDLE_TIMEOUT ({idle_timeout:?}) must be longer than GPUBROKER_WS_HEARTBEAT ({heartbeat:?}), or every client is closed before it can answer a ping"
        ));
    }
    WsLimits {
        max_message_bytes,
        max_subscriptions,
        max_connections_per_user,
        queue_size,
        max_queue_bytes,
        heartbeat,
        idle_timeout,
        snapshot_limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_defaults_and_bad_timings_are_named() {
        let mut problems = Vec::new();
        assert_eq!(
            lease_settings(&mut problems, None, None),
            LeaseSettings::default()
        );
        assert_eq!(
            lease_settings(&mut problems, Some("3s"), Some("1s")).renew_every,
            Duration::from_secs(1)
        );
        assert!(problems.is_empty(), "{problems:?}");
        lease_settings(&mut problems, Some("10s"), Some("5s"));
        lease_settings(&mut problems, Some("0s"), None);
        lease_settings(&mut problems, Some("soon"), None);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("GPUBROKER_LEASE_RENEW"));
        assert!(problems[1].contains("GPUBROKER_LEASE_TTL"));
        assert!(problems[2].contains("GPUBROKER_LEASE_TTL"));
    }

    #[test]
    fn pod_timings_are_parsed_and_out_of_range_ones_named() {
        let mut problems = Vec::new();
        assert_eq!(
            pod_settings(&mut problems, None, None, None),
            crate::pods::PodSettings::default()
        );
        let set = pod_settings(&mut problems, Some("2s"), Some("500ms"), Some("10m"));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            (set.meter_interval, set.tick, set.prepaid),
            (
                Duration::from_secs(2),
                Duration::from_millis(500),
                Duration::from_secs(600)
            )
        );
        pod_settings(&mut problems, Some("2h"), None, None);
        pod_settings(&mut problems, Some("2s"), Some("3s"), None);
        pod_settings(&mut problems, None, None, Some("1s"));
        pod_settings(&mut problems, None, Some("later"), None);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("GPUBROKER_POD_METER_INTERVAL"));
        assert!(problems[1].contains("GPUBROKER_POD_TICK"));
        assert!(problems[2].contains("GPUBROKER_POD_PREPAID"));
        assert!(problems[3].contains("GPUBROKER_POD_TICK"));
    }

    #[test]
    fn ws_caps_are_parsed_and_zero_or_inconsistent_values_refused() {
        let mut problems = Vec::new();
        assert_eq!(
            ws_limits(&mut problems, &RawWsLimits::default()),
            WsLimits::default()
        );
        let set = ws_limits(
            &mut problems,
            &RawWsLimits {
                queue_messages: Some(8),
                heartbeat: Some("2s".into()),
                idle_timeout: Some("5s".into()),
                ..RawWsLimits::default()
            },
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!((set.queue_size, set.heartbeat), (8, Duration::from_secs(2)));
        ws_limits(
            &mut problems,
            &RawWsLimits {
                max_subscriptions: Some(0),
                max_message_bytes: Some(10),
                heartbeat: Some("30s".into()),
                idle_timeout: Some("10s".into()),
                ..RawWsLimits::default()
            },
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems
            .iter()
            .any(|p| p.contains("GPUBROKER_WS_MAX_SUBSCRIPTIONS")));
        assert!(problems
            .iter()
            .any(|p| p.contains("GPUBROKER_WS_MAX_MESSAGE_BYTES")));
        assert!(problems
            .iter()
            .any(|p| p.contains("GPUBROKER_WS_IDLE_TIMEOUT")));
    }
}
