//! `skiff daemon`: host apps in the background and serve the API, until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use clap::{Args, ValueEnum};
use skiff_capabilities::parse_duration;

use crate::commands::Logging;
use crate::settings::{GlobalFlags, parse_host};

/// Run the daemon: it hosts the apps of `skiff run -d` in one process and serves the API on a
/// Unix socket (mode 0600, no TCP) until SIGINT or SIGTERM
///
/// HTTP apps are served on their own ports (`-p`) and on the shared gateway (`--route`, or
/// `NAME.localhost` by default); the admin listener (`--admin`) has their figures for Prometheus
/// (`GET /metrics`) and the dashboard, a page in the browser (`skiff dashboard` opens it).
///
/// Apps and their logs live under `--root`; give each daemon its own `--root` and `--socket` to
/// keep several apart. Logs go to stderr at level `info` unless SKIFF_LOG says otherwise.
#[derive(Debug, Args)]
pub struct Daemon {
    /// The API socket to create: `unix:///PATH` or a path [default: the -H/SKIFF_HOST socket,
    /// else $XDG_RUNTIME_DIR/skiff/skiff.sock, or /run/skiff/skiff.sock for root]
    #[arg(long, value_name = "PATH", value_parser = parse_host)]
    socket: Option<PathBuf>,
    /// Log format on stderr: `text`, or `json` (one object per line, for journald and log
    /// shippers)
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Where the shared HTTP gateway listens (`--route` apps), or `none`
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080", value_parser = parse_listen)]
    gateway: Listen,
    /// Where the admin listener is, or `none`: Prometheus metrics (`GET /metrics`) and the
    /// dashboard (`/`). The dashboard needs the token `skiff info` prints; off loopback, so does
    /// `/metrics`
    #[arg(long, visible_alias = "metrics", value_name = "ADDR", default_value = "127.0.0.1:9090", value_parser = parse_listen)]
    admin: Listen,
    /// What the dashboard bills HTTP apps at, in your currency:
    /// `request=PRICE,cpu-second=PRICE,gb-second=PRICE` (any of the three; the others are 0),
    /// e.g. `request=0.0000002,gb-second=0.0000166667`. Without it the bill is in its units only
    #[arg(long, value_name = "RATES", value_parser = parse_prices)]
    prices: Option<skiff_daemon::Prices>,
    /// Compiled HTTP handlers kept in memory; an app beyond them is loaded again from the compile
    /// cache on its next request (idle apps hold no instance either way)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_loaded_handlers: usize,
    /// How long a loaded HTTP handler serves no request before it gives back the memory of its
    /// compiled code (the kernel's page cache keeps it; its next request maps back what it runs)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    code_idle_after: Duration,
    /// HTTP handler instances alive at once, all apps together (slots reserved up front; a
    /// request beyond them gets 503)
    #[arg(long, value_name = "N", default_value_t = skiff_runtime::Pooling::default().max_instances)]
    max_instances: u32,
    /// Instances one HTTP app may hold at once, whatever its `--max-concurrency` (a higher one is
    /// lowered to this) [default: half of --max-instances]
    #[arg(long, value_name = "N")]
    max_app_concurrency: Option<u32>,
    /// The longest `--timeout` an HTTP app's request may have (a longer one is lowered to this)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    max_request_timeout: Duration,
}

/// A listening address, or none.
#[derive(Clone, Copy, Debug)]
struct Listen(Option<SocketAddr>);

fn parse_listen(spec: &str) -> Result<Listen, String> {
    if spec == "none" {
        return Ok(Listen(None));
    }
    spec.parse()
        .map(|addr| Listen(Some(addr)))
        .map_err(|_| format!("`{spec}` is not ADDR:PORT (e.g. 127.0.0.1:8080) or `none`"))
}

fn parse_prices(spec: &str) -> Result<skiff_daemon::Prices, String> {
    let mut prices = skiff_daemon::Prices::default();
    for pair in spec.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}` is not KEY=PRICE"))?;
        let value: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("`{value}` is not a price (a number, 0 or more)"))?;
        match key.trim() {
            "request" => prices.request = value,
            "cpu-second" => prices.cpu_second = value,
            "gb-second" => prices.gb_second = value,
            other => {
                return Err(format!(
                    "unknown rate `{other}`: the rates are request, cpu-second and gb-second"
                ));
            }
        }
    }
    Ok(prices)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

impl Daemon {
    pub fn logging(&self) -> Logging {
        Logging {
            json: self.log_format == LogFormat::Json,
            default_level: "info",
            timestamps: true,
            off: false,
        }
    }

    fn bounds(&self) -> skiff_http::Bounds {
        let share = skiff_http::Bounds::shared(self.max_instances.max(1));
        skiff_http::Bounds {
            max_concurrency: self.max_app_concurrency.map_or(share.max_concurrency, |n| {
                n.clamp(1, self.max_instances.max(1))
            }),
            max_timeout: self.max_request_timeout,
            ..share
        }
    }

    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let bounds = self.bounds();
        skiff_daemon::run(skiff_daemon::DaemonConfig {
            root: global.root(),
            socket: self.socket.unwrap_or_else(|| global.socket()),
            gateway: self.gateway.0,
            admin: self.admin.0,
            prices: self.prices,
            loaded_handlers: self.max_loaded_handlers,
            code_idle_after: self.code_idle_after,
            max_instances: self.max_instances.max(1),
            bounds,
        })?;
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_prices;

    #[test]
    fn prices_name_their_rates() {
        let prices = parse_prices("request=0.0000002,gb-second=0.0000166667").unwrap();
        assert_eq!(
            (prices.request, prices.cpu_second, prices.gb_second),
            (0.0000002, 0.0, 0.0000166667)
        );
        assert!(
            parse_prices("requests=1")
                .unwrap_err()
                .contains("unknown rate")
        );
        assert!(parse_prices("request=-1").is_err());
        assert!(parse_prices("request").is_err());
    }
}
