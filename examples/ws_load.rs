//! WebSocket fan-out load tool: opens N subscribers to a running `gpubroker serve`, makes
//! one offer's price change (by rewriting the server's `file:` source and sending it
//! SIGUSR1), and reports delivery latency and the server's memory per connection.
//!
//! Run through `scripts/bench-ws.sh`, which starts the server and raises `ulimit -n`.
//! Latency is measured from the event's `at` (when the server published it, after the
//! commit) to its arrival at the client, both on this machine's clock; `e2e` is measured
//! from the trigger (file rewrite + signal) and includes the fetch, diff and commit.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Command line of the load tool.
#[derive(Debug, Parser)]
struct Args {
    /// WebSocket URL of the server.
    #[arg(long, default_value = "ws://127.0.0.1:10355/ws")]
    url: String,
    /// Process id of the server (for RSS and SIGUSR1).
    #[arg(long)]
    pid: u32,
    /// The CSV file the server's `file:` source reads.
    #[arg(long)]
    file: PathBuf,
    /// Subscribers to open.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Price changes to measure.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
    /// Seconds to wait for one round's deliveries.
    #[arg(long, default_value_t = 30)]
    round_timeout: u64,
}

/// One delivery: microseconds since publish and since the trigger's wall-clock time.
struct Delivery {
    at_us: i64,
    received_us: i64,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The bench offers: three rows of provider `bench`; the first one's price moves.
pub fn offers_csv(round: usize) -> String {
    let first = 200 + round;
    format!(
        "provider,instance_type,region,gpu,gpu_count,price_per_hour,availability\n\
         bench,bench-1,local,H100,1,{}.{:02},available\n\
         bench,bench-2,local,A100,1,1.50,available\n\
         bench,bench-3,local,L4,1,0.50,available\n",
        first / 100,
        first % 100
    )
}

/// User + system CPU time of `pid`, milliseconds (from `/proc/<pid>/stat`, 100 ticks/s).
fn cpu_ms(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces) start at `state`.
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((ticks(11) + ticks(12)) * 10)
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}

/// Opens one subscriber, reports readiness, then forwards each price-change delivery.
async fn subscriber(
    url: String,
    ready: mpsc::Sender<()>,
    deliveries: mpsc::UnboundedSender<Delivery>,
) -> anyhow::Result<()> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true).await?;
    let subscribe = r#"{"type":"subscribe","id":"b","query":"provider=bench"}"#;
    ws.send(Message::text(subscribe)).await?;
    let mut subscribed = false;
    while let Some(message) = ws.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        // Only the envelope matters here; a full JSON parse of every offer would make the
        // client, which shares the machine with the server, dominate the measurement.
        let text = text.as_str();
        if text.starts_with(r#"{"type":"event""#) {
            if !text.contains(r#""kind":"offer.price_changed""#) {
                continue;
            }
            let received_us = now_us();
            let at = text
                .split_once(r#""at":""#)
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(at, _)| at)
                .unwrap_or_default();
            let at_us = chrono::DateTime::parse_from_rfc3339(at)
                .map(|t| t.timestamp_micros())
                .unwrap_or(received_us);
            let _ = deliveries.send(Delivery { at_us, received_us });
        } else if text.contains(r#""type":"resync_required""#) {
            println!("a client was told to resync");
        } else if !subscribed && text.contains(r#""type":"snapshot""#) {
            subscribed = true;
            ready.send(()).await?;
        }
    }
    Ok(())
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rss_before = rss_kib(args.pid)?;
    let (ready_tx, mut ready_rx) = mpsc::channel::<()>(1024);
    let (tx, mut rx) = mpsc::unbounded_channel::<Delivery>();
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    let opening = Instant::now();
    for _ in 0..args.clients {
        let permit = Arc::clone(&gate).acquire_owned().await?;
        let (url, ready, tx) = (args.url.clone(), ready_tx.clone(), tx.clone());
        tokio::spawn(async move {
            // The permit is held until the subscription is confirmed (or failed).
            let (confirmed_tx, mut confirmed_rx) = mpsc::channel::<()>(1);
            let relay = tokio::spawn(async move {
                let ok = confirmed_rx.recv().await.is_some();
                drop(permit);
                if ok {
                    let _ = ready.send(()).await;
                }
            });
            if let Err(e) = subscriber(url, confirmed_tx, tx).await {
                println!("subscriber failed: {e}");
            }
            drop(relay);
        });
    }
    drop(ready_tx);
    let mut open = 0;
    while open < args.clients {
        match tokio::time::timeout(Duration::from_secs(30), ready_rx.recv()).await {
            Ok(Some(())) => open += 1,
            _ => break,
        }
    }
    if open == 0 {
        bail!("no subscriber could connect");
    }
    println!(
        "opened {open}/{} subscribers in {:.1}s",
        args.clients,
        opening.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_idle = rss_kib(args.pid)?;
    let per_conn = (rss_idle.saturating_sub(rss_before)) as f64 / open as f64;
    println!("server RSS: {rss_before} KiB before, {rss_idle} KiB with {open} idle subscribers: {per_conn:.1} KiB per connection");

    let (mut p50s, mut p99s, mut e2e_p99s) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        while rx.try_recv().is_ok() {}
        let tmp = args.file.with_extension("tmp");
        std::fs::write(&tmp, offers_csv(round))?;
        std::fs::rename(&tmp, &args.file)?;
        let cpu_before = cpu_ms(args.pid)?;
        let trigger_us = now_us();
        let signal = std::process::Command::new("kill")
            .args(["-USR1", &args.pid.to_string()])
            .status()?;
        if !signal.success() {
            bail!("could not signal the server");
        }
        let deadline = Instant::now() + Duration::from_secs(args.round_timeout);
        let (mut latency, mut e2e) = (Vec::with_capacity(open), Vec::with_capacity(open));
        while latency.len() < open {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some(d)) => {
                    latency.push(d.received_us - d.at_us);
                    e2e.push(d.received_us - trigger_us);
                }
                _ => break,
            }
        }
        let server_cpu = cpu_ms(args.pid)?.saturating_sub(cpu_before);
        latency.sort_unstable();
        e2e.sort_unstable();
        let (p50, p99) = (percentile(&latency, 50.0), percentile(&latency, 99.0));
        println!(
            "round {round}: delivered {}/{open}; publish→client p50 {p50:.1} ms, p99 {p99:.1} ms, max {:.1} ms; trigger→client p50 {:.1} ms, p99 {:.1} ms; server CPU {server_cpu} ms",
            latency.len(),
            percentile(&latency, 100.0),
            percentile(&e2e, 50.0),
            percentile(&e2e, 99.0),
        );
        p50s.push(p50);
        p99s.push(p99);
        e2e_p99s.push(percentile(&e2e, 99.0));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let rss_after = rss_kib(args.pid)?;
    println!(
        "SUMMARY clients={open} rounds={} median_p50_ms={:.1} median_p99_ms={:.1} median_e2e_p99_ms={:.1} idle_kib_per_conn={per_conn:.1} rss_before_kib={rss_before} rss_idle_kib={rss_idle} rss_after_kib={rss_after}",
        args.rounds,
        median(p50s),
        median(p99s),
        median(e2e_p99s),
    );
    Ok(())
}
