//! Figures read from the operating system: peak resident memory and core counts.

/// Peak resident set size of this process in MiB (`VmHWM`), where the OS exposes it.
pub fn peak_rss_mib() -> Option<f64> {
    proc_status_kib("VmHWM:").map(|kib| kib as f64 / 1024.0)
}

/// This machine's memory in bytes (`MemTotal`), where the OS exposes it.
pub fn total_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line["MemTotal:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Physical cores (hyper-threads share a core's vector units, so matrix kernels gain
/// little from them); falls back to the logical count.
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return logical;
    };
    let mut cores = std::collections::HashSet::new();
    let mut physical = "";
    for line in info.lines() {
        let mut kv = line.splitn(2, ':').map(str::trim);
        match (kv.next(), kv.next()) {
            (Some("physical id"), Some(v)) => physical = v,
            (Some("core id"), Some(v)) => {
                cores.insert((physical.to_string(), v.to_string()));
            }
            _ => {}
        }
    }
    if cores.is_empty() {
        logical
    } else {
        cores.len().min(logical)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn figures_are_plausible() {
        let cores = super::physical_cores();
        assert!(cores >= 1 && cores <= std::thread::available_parallelism().unwrap().get());
        if cfg!(target_os = "linux") {
            let rss = super::peak_rss_mib().expect("VmHWM on Linux");
            assert!(rss > 0.1 && rss < 1e6);
        }
    }
}
