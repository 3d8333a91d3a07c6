//! How many worker threads to start by default: one per performance core.
//!
//! Phones and many boards mix fast and slow cores (big.LITTLE: a 4+4, or 1+3+4 with
//! one prime core). A matrix step waits for its slowest thread, so work spread over
//! LITTLE cores makes every step slower; hyper-threads share one core's vector units
//! and add little. So the default is the distinct physical cores outside the slowest
//! cluster, when the kernel reports more than one kind of core
//! (`cpu_capacity`, else `cpufreq/cpuinfo_max_freq`), and all physical cores otherwise.

use std::collections::HashSet;
use std::path::Path;

/// The default thread count, and why (for the report).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadChoice {
    pub threads: usize,
    pub reason: String,
}

/// The choice for this machine, from `/sys/devices/system/cpu` (Linux and Android);
/// elsewhere, or when sysfs says nothing, the physical cores from `/proc/cpuinfo`.
pub fn default_threads() -> ThreadChoice {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    choose(Path::new("/sys/devices/system/cpu"), logical).unwrap_or_else(|| ThreadChoice {
        threads: crate::metrics::physical_cores(),
        reason: "physical cores".into(),
    })
}

/// One logical CPU as sysfs describes it.
struct Cpu {
    /// Relative speed: `cpu_capacity` or the maximum frequency.
    speed: Option<u64>,
    /// (package, core): hyper-threads of one core share it.
    core: Option<(u64, u64)>,
}

/// The choice from a sysfs CPU folder (a fake tree in tests), at most `logical`;
/// `None` when it lists no CPU.
pub(crate) fn choose(sysfs: &Path, logical: usize) -> Option<ThreadChoice> {
    let cpus = read_cpus(sysfs)?;
    let distinct = |cpus: &[&Cpu]| -> usize {
        let cores: HashSet<_> = cpus.iter().filter_map(|c| c.core).collect();
        if cores.len() == cpus.len() || cores.is_empty() {
            // Without topology, count logical CPUs.
            cpus.len().max(cores.len())
        } else {
            cores.len()
        }
    };
    let all: Vec<&Cpu> = cpus.iter().collect();
    let physical = distinct(&all).min(logical).max(1);
    let speeds: Option<Vec<u64>> = cpus.iter().map(|c| c.speed).collect();
    let speeds = speeds.filter(|s| !s.is_empty());
    let (min, max) = match &speeds {
        Some(s) => (*s.iter().min()?, *s.iter().max()?),
        None => (0, 0),
    };
    if min == max {
        return Some(ThreadChoice {
            threads: physical,
            reason: "physical cores".into(),
        });
    }
    let fast: Vec<&Cpu> = cpus.iter().filter(|c| c.speed > Some(min)).collect();
    let threads = distinct(&fast).min(physical).max(1);
    let source = if sysfs.join("cpu0/cpu_capacity").exists() {
        "cpu_capacity"
    } else {
        "cpuinfo_max_freq"
    };
    Some(ThreadChoice {
        threads,
        reason: format!(
            "performance cores: {threads} of {physical} (the slowest cluster left out, by {source})"
        ),
    })
}

fn read_cpus(sysfs: &Path) -> Option<Vec<Cpu>> {
    let mut ids: Vec<u32> = std::fs::read_dir(sysfs)
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("cpu")?.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    let num = |p: &Path| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let cpus: Vec<Cpu> = ids
        .iter()
        .map(|id| {
            let dir = sysfs.join(format!("cpu{id}"));
            let speed = num(&dir.join("cpu_capacity"))
                .or_else(|| num(&dir.join("cpufreq/cpuinfo_max_freq")));
            let topo = dir.join("topology");
            let core = num(&topo.join("core_id"))
                .map(|c| (num(&topo.join("physical_package_id")).unwrap_or(0), c));
            Cpu { speed, core }
        })
        .collect();
    (!cpus.is_empty()).then_some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/sys/devices/system/cpu`: per CPU (speed file, speed, core id).
    fn tree(name: &str, cpus: &[(&str, u64, u64)]) -> std::path::PathBuf {
        let root = std::env::temp_dir().join(format!("edgelm-cpus-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (i, &(file, speed, core)) in cpus.iter().enumerate() {
            let dir = root.join(format!("cpu{i}"));
            std::fs::create_dir_all(dir.join("cpufreq")).unwrap();
            std::fs::create_dir_all(dir.join("topology")).unwrap();
            if !file.is_empty() {
                std::fs::write(dir.join(file), format!("{speed}\n")).unwrap();
            }
            std::fs::write(dir.join("topology/core_id"), format!("{core}\n")).unwrap();
            std::fs::write(dir.join("topology/physical_package_id"), "0\n").unwrap();
        }
        // Not CPUs: must be ignored.
        std::fs::create_dir_all(root.join("cpufreq")).unwrap();
        std::fs::write(root.join("online"), "0-7\n").unwrap();
        root
    }

    fn pick(name: &str, cpus: &[(&str, u64, u64)]) -> ThreadChoice {
        let root = tree(name, cpus);
        let c = choose(&root, 64).unwrap();
        std::fs::remove_dir_all(root).unwrap();
        c
    }

    const CAP: &str = "cpu_capacity";
    const FREQ: &str = "cpufreq/cpuinfo_max_freq";

    #[test]
    fn a_4_plus_4_phone_uses_its_4_big_cores() {
        let cpus: Vec<_> = (0..8)
            .map(|i| (CAP, if i < 4 { 446 } else { 1024 }, i))
            .collect();
        let c = pick("4+4", &cpus);
        assert_eq!(c.threads, 4);
        assert!(
            c.reason.contains("4 of 8") && c.reason.contains(CAP),
            "{}",
            c.reason
        );
    }

    #[test]
    fn a_1_3_4_phone_uses_the_prime_and_big_cores() {
        // Snapdragon 888-like: four A55, three A78, one X1.
        let caps = [238, 238, 238, 238, 732, 732, 732, 1024];
        let cpus: Vec<_> = caps
            .iter()
            .enumerate()
            .map(|(i, &c)| (CAP, c, i as u64))
            .collect();
        assert_eq!(pick("1+3+4", &cpus).threads, 4);
        // The same phone described by maximum frequencies only.
        let freqs = [
            1_804_800, 1_804_800, 1_804_800, 1_804_800, 2_419_200, 2_419_200, 2_419_200, 2_841_600,
        ];
        let cpus: Vec<_> = freqs
            .iter()
            .enumerate()
            .map(|(i, &f)| (FREQ, f, i as u64))
            .collect();
        let c = pick("1+3+4-freq", &cpus);
        assert_eq!(c.threads, 4);
        assert!(c.reason.contains("cpuinfo_max_freq"), "{}", c.reason);
    }

    #[test]
    fn a_uniform_board_uses_every_core() {
        let cpus: Vec<_> = (0..4).map(|i| (CAP, 1024, i)).collect();
        let c = pick("uniform", &cpus);
        assert_eq!(
            c,
            ThreadChoice {
                threads: 4,
                reason: "physical cores".into()
            }
        );
        // No speed files at all (many x86 VMs): still every core.
        let cpus: Vec<_> = (0..4).map(|i| ("", 0, i)).collect();
        assert_eq!(pick("no-speed", &cpus).threads, 4);
    }

    #[test]
    fn hyper_threads_count_once() {
        // A hybrid laptop: 2 performance cores with 2 threads each, 4 efficient cores.
        let cpus = [
            (FREQ, 4_700_000, 0),
            (FREQ, 4_700_000, 0),
            (FREQ, 4_700_000, 1),
            (FREQ, 4_700_000, 1),
            (FREQ, 3_600_000, 2),
            (FREQ, 3_600_000, 3),
            (FREQ, 3_600_000, 4),
            (FREQ, 3_600_000, 5),
        ];
        let c = pick("hybrid", &cpus);
        assert_eq!(c.threads, 2, "{}", c.reason);
        assert!(c.reason.contains("2 of 6"), "{}", c.reason);
        // An SMT desktop with uniform cores: 4 cores, 8 threads.
        let cpus: Vec<_> = (0..8).map(|i| (FREQ, 4_000_000, i / 2)).collect();
        assert_eq!(pick("smt", &cpus).threads, 4);
    }

    #[test]
    fn this_machine_gets_a_sane_answer() {
        let c = default_threads();
        let logical = std::thread::available_parallelism().unwrap().get();
        assert!(c.threads >= 1 && c.threads <= logical, "{c:?}");
    }
}
