//! Measuring: latencies and percentiles, CPU time, rates per core, peak memory.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{BenchError, Result, failure};

/// Latencies of the operations that succeeded, and how many failed, over a wall-clock span.
pub(crate) struct Run {
    pub(crate) latencies: Vec<Duration>,
    pub(crate) failures: u64,
    pub(crate) elapsed: Duration,
    /// CPU time this process (server and clients) used meanwhile: steadier than rates on a
    /// shared machine.
    pub(crate) cpu: Duration,
}

/// User + system CPU time of this process so far, from `/proc/self/stat` (in clock ticks of
/// 10 ms; fine over seconds).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesized command name; utime and stime are the 14th and 15th.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

impl Run {
    /// Runs `op` in a loop on every item concurrently until `seconds` have passed.
    pub(crate) async fn drive<T, F, Fut>(items: Vec<T>, seconds: u64, op: F) -> Result<Run>
    where
        T: Send + Sync + 'static,
        F: Fn(Arc<T>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = bool> + Send,
    {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let cpu_before = process_cpu();
        let tasks: Vec<_> = items
            .into_iter()
            .map(|item| {
                let (item, op) = (Arc::new(item), op.clone());
                tokio::spawn(async move {
                    let (mut latencies, mut failures) = (Vec::new(), 0u64);
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        if op(item.clone()).await {
                            latencies.push(t.elapsed());
                        } else {
                            failures += 1;
                        }
                    }
                    (latencies, failures)
                })
            })
            .collect();
        let mut run = Run {
            latencies: Vec::new(),
            failures: 0,
            elapsed: Duration::ZERO,
            cpu: Duration::ZERO,
        };
        for task in tasks {
            let (l, f) = task.await.map_err(failure)?;
            run.latencies.extend(l);
            run.failures += f;
        }
        run.elapsed = started.elapsed();
        run.cpu = process_cpu().saturating_sub(cpu_before);
        run.latencies.sort();
        Ok(run)
    }

    pub(crate) fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }

    pub(crate) fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// `in_process`: whether the server ran in this process (its CPU is then counted too).
    pub(crate) fn print(&self, what: &str, clients: usize, bound: f64, in_process: bool) {
        println!(
            "{what} over HTTP: {clients} clients, {:.1} s, {} ok, {} failed, {} cores",
            self.elapsed.as_secs_f64(),
            self.latencies.len(),
            self.failures,
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        );
        println!(
            "  {:.0} /s  p50 {:.2} ms  p99 {:.2} ms  = {:.0}% of the single-core crypto bound",
            self.rate(),
            ms(self.percentile(0.50)),
            ms(self.percentile(0.99)),
            100.0 * self.rate() / bound
        );
        println!(
            "  {:.0} µs of CPU per operation ({}; the crypto alone is {:.0} µs)",
            self.cpu.as_secs_f64() * 1e6 / self.latencies.len().max(1) as f64,
            match in_process {
                true => "server and clients together",
                false => "clients only: the server is another process",
            },
            1e6 / bound
        );
    }
}

/// The `p` quantile of `sorted` (zero when there are none).
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or_default()
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Operations per second of `op` on this thread over `budget`.
pub(crate) fn per_second(budget: Duration, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            op();
        }
        n += 16;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

pub(crate) fn check_counts(clients: usize, seconds: u64) -> Result {
    if clients == 0 || seconds == 0 {
        return Err(BenchError::usage(
            "--clients and --seconds must be at least 1",
        ));
    }
    Ok(())
}
