//! Per-app metering: what a serverless bill is made of, counted as requests happen.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use skiff_api::HttpStats;
use skiff_runtime::InstanceReport;

/// Latency buckets: 4 per power of two from 1 µs, so a quantile read from them is within 19 %.
const BUCKETS_PER_OCTAVE: usize = 4;
const BUCKETS: usize = 40 * BUCKETS_PER_OCTAVE;

#[derive(Debug)]
pub struct Stats {
    requests: AtomicU64,
    errors: AtomicU64,
    rejected: AtomicU64,
    instances: AtomicU64,
    invocations: AtomicU64,
    wall_ns: AtomicU64,
    cpu_ns: AtomicU64,
    /// Byte-seconds as an f64 (memory-time sums are not integers).
    memory_time: Mutex<f64>,
    latency: Box<[AtomicU64; BUCKETS]>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            instances: AtomicU64::new(0),
            invocations: AtomicU64::new(0),
            wall_ns: AtomicU64::new(0),
            cpu_ns: AtomicU64::new(0),
            memory_time: Mutex::new(0.0),
            latency: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

impl Stats {
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A response head went out `latency` after the request arrived.
    pub(crate) fn responded(&self, status: http::StatusCode, latency: Duration) {
        if status.is_server_error() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latency[bucket(latency)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn instance_started(&self) {
        self.instances.fetch_add(1, Ordering::Relaxed);
        self.invocations.fetch_add(1, Ordering::Relaxed);
    }

    /// An instance is gone, or a request failed before it had one.
    pub(crate) fn instance_ended(&self) {
        self.instances.fetch_sub(1, Ordering::Relaxed);
    }

    /// What an instance used, once it is gone (before [`Stats::instance_ended`]).
    pub(crate) fn instance_finished(&self, report: &InstanceReport) {
        self.wall_ns
            .fetch_add(report.wall.as_nanos() as u64, Ordering::Relaxed);
        self.cpu_ns
            .fetch_add(report.cpu.as_nanos() as u64, Ordering::Relaxed);
        *self.memory_time.lock().unwrap_or_else(|e| e.into_inner()) += report.memory_time;
    }

    /// Handler instances alive now.
    pub fn instances(&self) -> u64 {
        self.instances.load(Ordering::Relaxed)
    }

    /// The latency histogram's bucket counts so far: two of them taken apart give the
    /// quantiles of the requests in between ([`quantile_ms`]).
    pub fn latency_counts(&self) -> Vec<u64> {
        self.latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    pub fn snapshot(&self) -> HttpStats {
        let counts = self.latency_counts();
        HttpStats {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            instances: self.instances.load(Ordering::Relaxed),
            invocations: self.invocations.load(Ordering::Relaxed),
            p50_ms: quantile_ms(&counts, 0.50),
            p99_ms: quantile_ms(&counts, 0.99),
            wall_seconds: self.wall_ns.load(Ordering::Relaxed) as f64 / 1e9,
            cpu_seconds: self.cpu_ns.load(Ordering::Relaxed) as f64 / 1e9,
            gb_seconds: *self.memory_time.lock().unwrap_or_else(|e| e.into_inner()) / 1e9,
        }
    }
}

fn bucket(latency: Duration) -> usize {
    let micros = latency.as_secs_f64() * 1e6;
    if micros <= 1.0 {
        return 0;
    }
    let index = (micros.log2() * BUCKETS_PER_OCTAVE as f64).ceil() as usize;
    index.min(BUCKETS - 1)
}

/// The upper bound of the bucket holding the quantile, in milliseconds, from counts as
/// [`Stats::latency_counts`] gives them (0 when there are none).
pub fn quantile_ms(counts: &[u64], q: f64) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            let micros = 2f64.powf(index as f64 / BUCKETS_PER_OCTAVE as f64);
            return micros / 1e3;
        }
    }
    unreachable!("rank <= total")
}

/// The Prometheus text format for a set of apps.
pub fn render_prometheus<'a>(apps: impl Iterator<Item = (&'a str, HttpStats)>) -> String {
    let apps: Vec<(&str, HttpStats)> = apps.collect();
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, value: &dyn Fn(&HttpStats) -> String| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (app, stats) in &apps {
            let _ = writeln!(
                out,
                "{name}{{app=\"{}\"}} {}",
                escape_label(app),
                value(stats)
            );
        }
    };
    family(
        "skiff_http_requests_total",
        "counter",
        "Requests routed to the app.",
        &|s| s.requests.to_string(),
    );
    family(
        "skiff_http_errors_total",
        "counter",
        "Responses with a 5xx status.",
        &|s| s.errors.to_string(),
    );
    family(
        "skiff_http_rejected_total",
        "counter",
        "Requests refused with 503 because the app's instances were all busy.",
        &|s| s.rejected.to_string(),
    );
    family(
        "skiff_http_invocations_total",
        "counter",
        "Handler instances created (one per request).",
        &|s| s.invocations.to_string(),
    );
    family(
        "skiff_http_instances",
        "gauge",
        "Handler instances alive now.",
        &|s| s.instances.to_string(),
    );
    family(
        "skiff_http_wall_seconds_total",
        "counter",
        "Handler instance lifetime.",
        &|s| s.wall_seconds.to_string(),
    );
    family(
        "skiff_http_cpu_seconds_total",
        "counter",
        "CPU time used by handler instances.",
        &|s| s.cpu_seconds.to_string(),
    );
    family(
        "skiff_http_memory_gb_seconds_total",
        "counter",
        "Linear memory integrated over handler instance lifetime (GB-seconds).",
        &|s| s.gb_seconds.to_string(),
    );
    let _ = writeln!(
        out,
        "# HELP skiff_http_request_duration_seconds Time to the response head."
    );
    let _ = writeln!(out, "# TYPE skiff_http_request_duration_seconds summary");
    for (app, stats) in &apps {
        let app = escape_label(app);
        for (q, ms) in [("0.5", stats.p50_ms), ("0.99", stats.p99_ms)] {
            let _ = writeln!(
                out,
                "skiff_http_request_duration_seconds{{app=\"{app}\",quantile=\"{q}\"}} {}",
                ms / 1e3
            );
        }
        let _ = writeln!(
            out,
            "skiff_http_request_duration_seconds_count{{app=\"{app}\"}} {}",
            stats.requests - stats.rejected
        );
    }
    out
}

/// A Prometheus label value, escaped.
pub fn escape_label(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_buckets() {
        let stats = Stats::default();
        for _ in 0..98 {
            stats.responded(http::StatusCode::OK, Duration::from_micros(100));
        }
        for _ in 0..2 {
            stats.responded(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                Duration::from_millis(50),
            );
        }
        let snapshot = stats.snapshot();
        assert!(
            (0.1..0.12).contains(&snapshot.p50_ms),
            "{}",
            snapshot.p50_ms
        );
        assert!(
            (50.0..60.0).contains(&snapshot.p99_ms),
            "{}",
            snapshot.p99_ms
        );
        assert_eq!(snapshot.errors, 2);
    }

    #[test]
    fn prometheus_text_names_each_app() {
        let text = render_prometheus(
            [(
                "shop",
                HttpStats {
                    requests: 3,
                    ..Default::default()
                },
            )]
            .into_iter(),
        );
        assert!(text.contains("skiff_http_requests_total{app=\"shop\"} 3"));
        assert!(text.contains("# TYPE skiff_http_cpu_seconds_total counter"));
    }
}
