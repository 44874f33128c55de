//! How much an app may use: memory, CPU time, a share of the CPU, wall-clock time.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Resource limits. `None` means unlimited, as in `docker run`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Total linear memory across all of the app's memories.
    pub memory: Option<ByteSize>,
    /// CPU time the app may spend running guest code and host calls on its behalf.
    pub cpu_time: Option<Duration>,
    /// Wall-clock time from start to exit.
    pub timeout: Option<Duration>,
    /// A share of the CPU: at most this many cores' worth of CPU time per period, all of the
    /// app's instances together (`docker run --cpus`, a Kubernetes CPU limit). The app is held
    /// back, not stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
}

impl Limits {
    /// These limits with each one `over` sets in its place: flags over an image's defaults,
    /// `skiff update` over an app's own.
    pub fn overlaid(&self, over: &Limits) -> Limits {
        Limits {
            memory: over.memory.or(self.memory),
            cpu_time: over.cpu_time.or(self.cpu_time),
            timeout: over.timeout.or(self.timeout),
            cpus: over.cpus.or(self.cpus),
        }
    }
}

/// A CPU share in thousandths of a core: `0.5` (`500m`, as Kubernetes writes it) is half a core,
/// `2` two cores.
/// Read from the API or saved state as its number of thousandths, checked as `FromStr` checks
/// it: a share of zero would hold the app back for ever.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "u32", try_from = "u32")]
pub struct Cpus(pub u32);

impl From<Cpus> for u32 {
    fn from(cpus: Cpus) -> u32 {
        cpus.0
    }
}

impl TryFrom<u32> for Cpus {
    type Error = ParseLimitError;

    fn try_from(millis: u32) -> Result<Self, Self::Error> {
        if millis == 0 {
            return Err(ParseLimitError::Cpus("0m".to_string()));
        }
        Ok(Cpus(millis))
    }
}

impl Cpus {
    /// The CPU time the share allows in `period`.
    pub fn per(self, period: Duration) -> Duration {
        period * self.0 / 1000
    }
}

impl FromStr for Cpus {
    type Err = ParseLimitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseLimitError::Cpus(s.to_string());
        let t = s.trim();
        let millis = match t.strip_suffix('m') {
            Some(millis) => millis.parse::<u32>().map_err(|_| err())?,
            None => {
                let cores: f64 = t.parse().map_err(|_| err())?;
                if !cores.is_finite() || !(0.0..=1_000_000.0).contains(&cores) {
                    return Err(err());
                }
                (cores * 1000.0).round() as u32
            }
        };
        Cpus::try_from(millis).map_err(|_| err())
    }
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, thousandths) = (self.0 / 1000, self.0 % 1000);
        if thousandths == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{thousandths:03}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseLimitError {
    #[error(
        "invalid size `{0}`: expected a number with an optional unit, like `64MiB`, `512k` or `1g`"
    )]
    Size(String),
    #[error("invalid duration `{0}`: expected a number with a unit, like `500ms`, `2s` or `1m`")]
    Duration(String),
    #[error(
        "invalid CPU share `{0}`: expected a number of cores above zero, like `0.5`, `2` or `250m`"
    )]
    Cpus(String),
}

/// A number of bytes. Parses Docker's units, which are binary whatever their spelling:
/// `k`/`kb`/`kib` = 1024, `m` = 1024², `g` = 1024³ (case-insensitive); a bare number is bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = ParseLimitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseLimitError::Size(s.to_string());
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let n: u64 = digits.parse().map_err(|_| err())?;
        let shift = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            "t" | "tb" | "tib" => 40,
            _ => return Err(err()),
        };
        n.checked_mul(1 << shift)
            .filter(|n| *n > 0)
            .map(ByteSize)
            .ok_or_else(err)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        if value.fract() == 0.0 {
            write!(f, "{value} {}", UNITS[unit])
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

/// Parses `500ms`, `2s`, `1m30s`, `1h`: a number always needs its unit.
pub fn parse_duration(s: &str) -> Result<Duration, ParseLimitError> {
    humantime::parse_duration(s.trim())
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| ParseLimitError::Duration(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!("64MiB".parse::<ByteSize>().unwrap(), ByteSize(64 << 20));
        assert_eq!("64m".parse::<ByteSize>().unwrap(), ByteSize(64 << 20));
        assert_eq!("1G".parse::<ByteSize>().unwrap(), ByteSize(1 << 30));
        assert_eq!("4096".parse::<ByteSize>().unwrap(), ByteSize(4096));
        for bad in ["", "m", "64x", "-1m", "1.5g", "0", "99999999999t"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
        assert_eq!(ByteSize(64 << 20).to_string(), "64 MiB");
        assert_eq!(ByteSize(1536).to_string(), "1.5 KiB");
    }

    #[test]
    fn cpu_shares() {
        assert_eq!("0.5".parse::<Cpus>().unwrap(), Cpus(500));
        assert_eq!("2".parse::<Cpus>().unwrap(), Cpus(2000));
        assert_eq!("250m".parse::<Cpus>().unwrap(), Cpus(250));
        assert_eq!("1.25".parse::<Cpus>().unwrap(), Cpus(1250));
        for bad in ["", "0", "0m", "-1", "x", "NaN", "inf", "1.5m"] {
            assert!(bad.parse::<Cpus>().is_err(), "{bad}");
        }
        assert_eq!(Cpus(500).to_string(), "0.5");
        // From the API or saved state: the same check.
        assert_eq!(serde_json::from_str::<Cpus>("500").unwrap(), Cpus(500));
        assert!(serde_json::from_str::<Cpus>("0").is_err());
        assert_eq!(Cpus(2000).to_string(), "2");
        assert_eq!(Cpus(1250).to_string(), "1.25");
        assert_eq!(
            Cpus(250).per(Duration::from_millis(100)),
            Duration::from_millis(25)
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("2").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
