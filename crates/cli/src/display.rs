//! Showing daemon data to people: tables, times and amounts, as `docker ps` shows them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use skiff_api::{AppInfo, AppState, HealthStatus};
use skiff_capabilities::ByteSize;

/// Left-aligned columns two spaces apart; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&headers).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count() + 2;
                out.push_str(cell);
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// An RFC 3339 instant from the daemon.
pub fn parse_time(at: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How long ago `at` was; zero for a time in the future (clock skew) or one that does not parse.
pub fn since(at: &str) -> Option<Duration> {
    parse_time(at).map(|t| (Utc::now() - t).to_std().unwrap_or_default())
}

/// `45s`, `12m5s`, `3h12m`, `2d3h`: the two largest units.
pub fn compact(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes, seconds) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match () {
        _ if days > 0 => format!("{days}d{hours}h"),
        _ if hours > 0 => format!("{hours}h{minutes}m"),
        _ if minutes > 0 => format!("{minutes}m{seconds}s"),
        _ => format!("{seconds}s"),
    }
}

/// CPU time in seconds with two decimals: `1.23s`.
pub fn cpu(ms: u64) -> String {
    format!("{}.{:02}s", ms / 1000, ms % 1000 / 10)
}

/// `worker.wasm` for `/srv/apps/worker.wasm`; an image reference as it is.
pub fn image(source: &str) -> String {
    if source.starts_with('/') {
        std::path::Path::new(source)
            .file_name()
            .map_or(source.to_string(), |n| n.to_string_lossy().into_owned())
    } else {
        source.to_string()
    }
}

/// `running`, `restarting`, or `exited (CODE) 5s ago`, as `docker ps` says it; an app with a
/// health check adds its health as Docker does: `serving (healthy)`, `serving (unhealthy)`,
/// `serving (health: starting)`.
pub fn status(app: &AppInfo) -> String {
    if is_created(app) {
        return "created".to_string();
    }
    match (app.state, app.exits.last()) {
        (AppState::Exited, Some(exit)) => match since(&exit.at) {
            Some(ago) => format!("exited ({}) {} ago", exit.code, compact(ago)),
            None => format!("exited ({})", exit.code),
        },
        (state, _) if app.paused => format!("{state} (paused)"),
        (state, _) => match &app.health {
            Some(health) if is_live(app) => match health.status {
                HealthStatus::Starting => format!("{state} (health: starting)"),
                status => format!("{state} ({status})"),
            },
            _ => state.to_string(),
        },
    }
}

/// Whether the app was created (`skiff create`) and has never been started.
pub fn is_created(app: &AppInfo) -> bool {
    app.state == AppState::Exited && app.exits.is_empty() && !app.desired_running
}

/// Whether the app has a run whose usage means something now.
pub fn is_live(app: &AppInfo) -> bool {
    matches!(app.state, AppState::Running | AppState::Serving)
}

pub fn uptime(app: &AppInfo) -> String {
    match (&app.started_at, is_live(app)) {
        (Some(started), true) => since(started).map_or("-".into(), compact),
        _ => "-".into(),
    }
}

/// Where an HTTP app is served, as `docker ps` shows ports: its own ports, then its gateway routes.
/// Where the app can be reached: an HTTP app's ports and routes, a command's `-p` ports.
pub fn published(app: &AppInfo) -> String {
    match &app.http {
        Some(http) => {
            let mut places: Vec<&str> = http.ports.iter().map(String::as_str).collect();
            places.extend(http.routes.iter().map(String::as_str));
            places.join(", ")
        }
        None => app.listen.join(", "),
    }
}

pub fn cpu_column(app: &AppInfo) -> String {
    if is_live(app) {
        cpu(app.cpu_ms)
    } else {
        "-".into()
    }
}

pub fn memory_column(app: &AppInfo) -> String {
    if is_live(app) {
        ByteSize(app.memory_bytes).to_string()
    } else {
        "-".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(compact(Duration::from_secs(45)), "45s");
        assert_eq!(compact(Duration::from_secs(725)), "12m5s");
        assert_eq!(compact(Duration::from_secs(3 * 3600 + 720)), "3h12m");
        assert_eq!(compact(Duration::from_secs(2 * 86_400 + 3 * 3600)), "2d3h");
        assert_eq!(cpu(1234), "1.23s");
        assert_eq!(cpu(5), "0.00s");
        assert_eq!(image("/srv/apps/worker.wasm"), "worker.wasm");
        assert_eq!(image("worker:1.0"), "worker:1.0");
        assert_eq!(
            table(&["A", "BB"], &[vec!["xyz".into(), "1".into()]]),
            "A    BB\nxyz  1\n"
        );
    }
}
