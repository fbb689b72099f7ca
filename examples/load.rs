//! A paced load generator for the receive-path benchmark (`bench/run.sh`): sends signed GitHub
//! deliveries at a fixed rate and reports latency percentiles. Latency is measured from each
//! request's scheduled send time, so a stalled server cannot hide its queueing delay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::sync::Mutex;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    url: String,
    /// File holding the request body.
    #[arg(long)]
    body: std::path::PathBuf,
    /// X-Hub-Signature-256 value for the body.
    #[arg(long)]
    signature: String,
    /// Requests per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let body = axum::body::Bytes::from(std::fs::read(&args.body)?);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let total = args.rate * args.seconds;
    let mut ticks = tokio::time::interval(Duration::from_nanos(1_000_000_000 / args.rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        let scheduled = ticks.tick().await.into_std();
        let (client, body, url, sig) = (
            client.clone(),
            body.clone(),
            args.url.clone(),
            args.signature.clone(),
        );
        let (latencies, errors) = (latencies.clone(), errors.clone());
        tasks.spawn(async move {
            let sent = client
                .post(&url)
                .header("Content-Type", "application/json")
                .header("X-GitHub-Event", "issues")
                .header("X-GitHub-Delivery", format!("paced-{n}"))
                .header("X-Hub-Signature-256", sig)
                .body(body)
                .send()
                .await;
            let ok = matches!(&sent, Ok(r) if r.status().is_success());
            if !ok {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            latencies.lock().await.push(scheduled.elapsed());
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let mut l = latencies.lock().await.clone();
    l.sort();
    let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
    println!(
        "sent {} in {:.1}s ({:.0} req/s), errors {}, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        l.len(),
        elapsed.as_secs_f64(),
        l.len() as f64 / elapsed.as_secs_f64(),
        errors.load(std::sync::atomic::Ordering::Relaxed),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        l.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    Ok(())
}
