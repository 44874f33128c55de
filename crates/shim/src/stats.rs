//! A task's stats as containerd reads them: the cgroup v2 `Metrics` runc's shim reports, filled
//! from Skiff's own meter (CPU time of the app's polls, its linear memories and tables), so that
//! `ctr task metrics` prints its table and the CRI plugin (`kubectl top`) reads CPU and memory.

use std::time::Duration;

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use prost::Message as _;

/// The type containerd's `typeurl` knows the message by (its full protobuf name, no prefix):
/// `ctr` and the CRI plugin compare it exactly before decoding.
const TYPE_URL: &str = "io.containerd.cgroups.v2.Metrics";

/// What an app has used, as Skiff's runtime meters it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// CPU time of the guest, every instance together.
    pub cpu: Duration,
    /// Linear memories and tables allocated now, in bytes.
    pub memory: u64,
    /// `--memory` (the spec's memory limit), if any.
    pub memory_limit: Option<u64>,
}

impl Sample {
    /// The sample as the `Any` a task service's `Stats` answers.
    pub fn to_any(self) -> Any {
        let usec = u64::try_from(self.cpu.as_micros()).unwrap_or(u64::MAX);
        let metrics = Metrics {
            cpu: Some(CpuStat {
                usage_usec: usec,
                // The meter reads the thread's CPU clock around the guest's polls: guest code
                // and the host calls it makes, which are not told apart.
                user_usec: usec,
                system_usec: 0,
            }),
            memory: Some(MemoryStat {
                // Linear memory is anonymous memory, and none of it is page cache: the CRI
                // plugin's working set (usage - inactive_file) is all of it.
                anon: self.memory,
                usage: self.memory,
                // cgroup v2's `max`, as containerd's cgroups library reads it.
                usage_limit: self.memory_limit.unwrap_or(u64::MAX),
            }),
        };
        Any {
            type_url: TYPE_URL.to_string(),
            value: metrics.encode_to_vec(),
            ..Default::default()
        }
    }
}

// The messages of containerd/cgroups `cgroup2/stats/metrics.proto`, only the fields Skiff
// meters (a field left out reads as 0, as an absent field does in proto3).

#[derive(Clone, PartialEq, prost::Message)]
struct Metrics {
    #[prost(message, optional, tag = "2")]
    cpu: Option<CpuStat>,
    #[prost(message, optional, tag = "4")]
    memory: Option<MemoryStat>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct CpuStat {
    #[prost(uint64, tag = "1")]
    usage_usec: u64,
    #[prost(uint64, tag = "2")]
    user_usec: u64,
    #[prost(uint64, tag = "3")]
    system_usec: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MemoryStat {
    #[prost(uint64, tag = "1")]
    anon: u64,
    #[prost(uint64, tag = "32")]
    usage: u64,
    #[prost(uint64, tag = "33")]
    usage_limit: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_encoded_as_cgroup_v2_metrics() {
        let any = Sample {
            cpu: Duration::from_millis(1500),
            memory: 64 << 20,
            memory_limit: None,
        }
        .to_any();
        assert_eq!(any.type_url, "io.containerd.cgroups.v2.Metrics");
        let metrics = Metrics::decode(any.value.as_slice()).unwrap();
        let cpu = metrics.cpu.unwrap();
        assert_eq!((cpu.usage_usec, cpu.user_usec), (1_500_000, 1_500_000));
        let memory = metrics.memory.unwrap();
        assert_eq!(
            (memory.usage, memory.anon, memory.usage_limit),
            (64 << 20, 64 << 20, u64::MAX)
        );
        // The wire tags of metrics.proto: cpu = 2, memory = 4, memory.usage = 32.
        assert_eq!(any.value[0], 2 << 3 | 2);
        assert!(any.value.windows(2).any(|w| w == [0x80, 0x02]), "tag 32");
    }
}
