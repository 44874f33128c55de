//! The last hour of each app's figures, kept in memory for the dashboard's charts: a sampler
//! reads every app's meters every [`PERIOD`] and keeps what happened in between in a ring of
//! [`SLOTS`] samples. An idle app's ring is not written (the chart shows a gap as zero), so a
//! thousand idle apps cost a few bytes each.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::supervisor::{Meter, Supervisor};

/// How often every app's meters are read.
pub const PERIOD: Duration = Duration::from_secs(5);
/// An hour of samples.
pub const SLOTS: usize = 720;

/// What one app did during one period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Sample {
    /// The end of the period, in seconds since the Unix epoch.
    pub at: u64,
    pub requests: u32,
    pub errors: u32,
    /// Latency of the period's requests (0 when there were none).
    pub p50_ms: f32,
    pub p99_ms: f32,
    /// Handler instances alive at the end of the period.
    pub instances: u32,
    pub cpu_seconds: f32,
    pub gb_seconds: f32,
}

/// The figures read at the end of the previous period.
#[derive(Default)]
struct Last {
    requests: u64,
    errors: u64,
    latency: Vec<u64>,
    cpu_seconds: f64,
    gb_seconds: f64,
}

#[derive(Default)]
struct Series {
    /// The app's name now (`skiff rename` keeps its series).
    name: String,
    last: Last,
    samples: VecDeque<Sample>,
}

/// The apps' series, by the daemon's number for each app ([`Supervisor::meters`]).
#[derive(Default)]
pub struct History {
    apps: Mutex<HashMap<u64, Series>>,
}

impl History {
    /// Starts the sampler; it ends when the supervisor is gone.
    pub fn start(supervisor: &Arc<Supervisor>) -> Arc<History> {
        let history = Arc::new(History::default());
        let weak: Weak<Supervisor> = Arc::downgrade(supervisor);
        let keep = history.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PERIOD);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(supervisor) = weak.upgrade() else {
                    return;
                };
                keep.record(now(), supervisor.meters());
            }
        });
        history
    }

    /// Adds one period's sample for each app from its meters read now; apps gone are forgotten.
    fn record(&self, at: u64, meters: Vec<(u64, String, Meter)>) {
        let mut apps = self.apps.lock().unwrap();
        let mut seen = HashMap::with_capacity(meters.len());
        for (id, name, meter) in meters {
            let mut series = apps.remove(&id).unwrap_or_default();
            series.name = name;
            let sample = series.next(at, meter);
            if sample
                != (Sample {
                    at,
                    ..Sample::default()
                })
            {
                if series.samples.len() == SLOTS {
                    series.samples.pop_front();
                }
                series.samples.push_back(sample);
            }
            seen.insert(id, series);
        }
        *apps = seen;
    }

    /// The app's samples of the last hour, oldest first.
    pub fn samples(&self, app: &str) -> Vec<Sample> {
        let apps = self.apps.lock().unwrap();
        apps.values()
            .find(|s| s.name == app)
            .map(|s| s.samples.iter().copied().collect())
            .unwrap_or_default()
    }
}

impl Series {
    fn next(&mut self, at: u64, meter: Meter) -> Sample {
        let last = &mut self.last;
        match meter {
            Meter::Http { stats, latency } => {
                let between: Vec<u64> = latency
                    .iter()
                    .enumerate()
                    .map(|(i, n)| n.saturating_sub(last.latency.get(i).copied().unwrap_or(0)))
                    .collect();
                let sample = Sample {
                    at,
                    requests: stats.requests.saturating_sub(last.requests) as u32,
                    errors: stats.errors.saturating_sub(last.errors) as u32,
                    p50_ms: skiff_http::quantile_ms(&between, 0.50) as f32,
                    p99_ms: skiff_http::quantile_ms(&between, 0.99) as f32,
                    instances: stats.instances as u32,
                    cpu_seconds: (stats.cpu_seconds - last.cpu_seconds).max(0.0) as f32,
                    gb_seconds: (stats.gb_seconds - last.gb_seconds).max(0.0) as f32,
                };
                *last = Last {
                    requests: stats.requests,
                    errors: stats.errors,
                    latency,
                    cpu_seconds: stats.cpu_seconds,
                    gb_seconds: stats.gb_seconds,
                };
                sample
            }
            Meter::Command { cpu, memory } => {
                let cpu = cpu.as_secs_f64();
                // A restart starts a new run's meter from zero.
                let used = if cpu >= last.cpu_seconds {
                    cpu - last.cpu_seconds
                } else {
                    cpu
                };
                last.cpu_seconds = cpu;
                Sample {
                    at,
                    cpu_seconds: used as f32,
                    gb_seconds: (memory as f64 / 1e9 * PERIOD.as_secs_f64()) as f32,
                    ..Sample::default()
                }
            }
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(requests: u64, errors: u64, latency: Vec<u64>) -> Meter {
        Meter::Http {
            stats: skiff_api::HttpStats {
                requests,
                errors,
                ..Default::default()
            },
            latency,
        }
    }

    #[test]
    fn a_sample_holds_what_happened_in_its_period() {
        let history = History::default();
        history.record(10, vec![(1, "shop".into(), http(5, 1, vec![5, 0, 0]))]);
        history.record(15, vec![(1, "shop".into(), http(5, 1, vec![5, 0, 0]))]);
        // Renamed (`skiff rename`): the same app, its series goes on.
        history.record(20, vec![(1, "store".into(), http(9, 1, vec![5, 0, 4]))]);
        assert!(history.samples("shop").is_empty());
        let samples = history.samples("store");
        // The idle period left no sample.
        assert_eq!(samples.len(), 2, "{samples:?}");
        assert_eq!(
            (samples[0].at, samples[0].requests, samples[0].errors),
            (10, 5, 1)
        );
        assert_eq!(
            (samples[1].at, samples[1].requests, samples[1].errors),
            (20, 4, 0)
        );
        // Only the period's requests count for its latency: all in bucket 2, none in bucket 0.
        assert!(samples[1].p50_ms > samples[0].p50_ms, "{samples:?}");
    }

    #[test]
    fn the_ring_keeps_an_hour_and_forgets_removed_apps() {
        let history = History::default();
        for i in 0..SLOTS as u64 + 10 {
            history.record(i, vec![(7, "busy".into(), http(i + 1, 0, vec![]))]);
        }
        let samples = history.samples("busy");
        assert_eq!(samples.len(), SLOTS);
        assert_eq!(samples[0].at, 10);
        history.record(9999, vec![]);
        assert!(history.samples("busy").is_empty());
    }
}
