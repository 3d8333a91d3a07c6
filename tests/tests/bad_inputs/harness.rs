//! Runs one bad input through a release-shaped binary and judges it as a hostile user
//! would: exit 1 or 2 with one `error:` line naming the file (or flag) and the problem,
//! no panic, under a memory cap and a time limit, with nothing left behind and no input
//! touched.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rayon::prelude::*;

/// Address-space cap for every run: an allocation sized from a hostile header must fail
/// as an error, not succeed by luck of overcommit.
const MEMORY_CAP_KIB: u64 = 1 << 20;
/// A case that runs longer has hung (debug binaries on tiny inputs take well under 1 s).
const TIME_LIMIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bin {
    Edgelm,
    Compress,
}

impl Bin {
    fn path(self) -> PathBuf {
        edgelm_tests::workspace_bin(match self {
            Bin::Edgelm => "edgelm",
            Bin::Compress => "edgelm-compress",
        })
    }
}

/// What a clean run of a case is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Exit 1 or 2 with the message; nothing written.
    Refused,
    /// The input may be valid after all (a mutation that keeps the file consistent):
    /// exit 0 is clean too, and then the run may write its outputs.
    RefusedOrOk,
    /// The unmutated input: it must run (exit 0), or every refusal proves nothing.
    Succeeds,
}

/// One bad input: a folder of files made for it, a command over them, and the text its
/// error line must contain (the file's name, or the flag).
pub struct Case {
    pub name: String,
    pub bin: Bin,
    pub args: Vec<OsString>,
    pub dir: PathBuf,
    pub mention: String,
    pub expect: Expect,
}

/// A fresh, empty folder for one case: `<tmp>/edgelm-bad-<pid>/<group>/<index>`.
pub fn case_dir(group: &str, index: usize) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("edgelm-bad-{}", std::process::id()))
        .join(group.replace(|c: char| !c.is_ascii_alphanumeric(), "_"))
        .join(index.to_string());
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("case folder");
    dir
}

impl Case {
    pub fn new(name: impl Into<String>, bin: Bin, dir: &Path) -> Case {
        Case {
            name: name.into(),
            bin,
            args: Vec::new(),
            dir: dir.to_path_buf(),
            mention: String::new(),
            expect: Expect::Refused,
        }
    }
    pub fn args<I, S>(mut self, args: I) -> Case
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
    /// The error line must contain `text` (a file name or a flag).
    pub fn mentions(mut self, text: impl Into<String>) -> Case {
        self.mention = text.into();
        self
    }
    pub fn or_ok(mut self) -> Case {
        self.expect = Expect::RefusedOrOk;
        self
    }
    pub fn succeeds(mut self) -> Case {
        self.expect = Expect::Succeeds;
        self
    }
}

/// Size and content of each entry under a folder; FIFOs, links and devices by kind
/// only (reading them could block).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(m) = fs::symlink_metadata(&p) else {
                continue;
            };
            let v = if m.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if m.is_file() {
                let bytes = fs::read(&p).unwrap_or_default();
                format!("file {} {:016x}", bytes.len(), fnv(&bytes))
            } else if m.file_type().is_symlink() {
                format!("link -> {:?}", fs::read_link(&p).ok())
            } else {
                "special".to_string()
            };
            out.insert(p.strip_prefix(dir).unwrap_or(&p).to_path_buf(), v);
        }
    }
    out
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// More output than this from one case is a fault in itself (an error repeated without
/// end, or a run that ignored `-n`).
const OUTPUT_LIMIT: usize = 1 << 20;

/// Reads a pipe to its end, keeping the first `OUTPUT_LIMIT` bytes: a child that writes
/// without end must not exhaust this process's memory.
fn drain(r: &mut impl Read) -> (Vec<u8>, usize) {
    let (mut kept, mut total, mut buf) = (Vec::new(), 0, [0u8; 1 << 16]);
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            break;
        }
        total += n;
        if kept.len() < OUTPUT_LIMIT {
            kept.extend_from_slice(&buf[..n]);
        }
    }
    (kept, total)
}

/// Runs one case; `Err` says why it was not clean.
pub fn run(case: &Case) -> Result<(), String> {
    let before = snapshot(&case.dir);
    // `ulimit -v` in a shell that then execs the binary: the cap covers only it.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {MEMORY_CAP_KIB} && exec \"$0\" \"$@\""))
        .arg(case.bin.path())
        .args(&case.args)
        .current_dir(&case.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || drain(&mut so));
    let err_t = std::thread::spawn(move || drain(&mut se));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if start.elapsed() > TIME_LIMIT {
            child.kill().ok();
            child.wait().ok();
            return Err(format!("hung (killed after {} s)", TIME_LIMIT.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (_, stdout_len) = out_t.join().unwrap_or_default();
    let (stderr, stderr_len) = err_t.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let code = status.code();
    let tail = || stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
    if stderr.contains("panicked") {
        return Err(format!("panicked: {}", tail()));
    }
    if stdout_len + stderr_len > OUTPUT_LIMIT {
        return Err(format!(
            "wrote {stdout_len} bytes to stdout and {stderr_len} to stderr: {}",
            tail()
        ));
    }
    match code {
        Some(0) if case.expect != Expect::Refused => return Ok(()),
        _ if case.expect == Expect::Succeeds => {
            return Err(format!("the unmutated input failed ({status}): {}", tail()))
        }
        Some(1) | Some(2) => {}
        Some(c) => return Err(format!("exit {c}: {}", tail())),
        None => return Err(format!("killed by a signal ({status}): {}", tail())),
    }
    let line = stderr
        .lines()
        .find(|l| l.contains("error:"))
        .ok_or_else(|| format!("exit {code:?} with no error line: {}", tail()))?;
    // clap lists a missing argument on the lines after its error line.
    let named = line.contains(&case.mention) || (code == Some(2) && stderr.contains(&case.mention));
    if !named {
        return Err(format!(
            "the error does not name {:?}: {line}",
            case.mention
        ));
    }
    let after = snapshot(&case.dir);
    if before != after {
        let changed: Vec<_> = after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(v))
            .map(|(k, _)| k.display().to_string())
            .chain(
                before
                    .keys()
                    .filter(|k| !after.contains_key(*k))
                    .map(|k| format!("{} (removed)", k.display())),
            )
            .collect();
        return Err(format!("changed or left behind: {changed:?} ({line})"));
    }
    Ok(())
}

/// Runs a group's cases in parallel, prints `group: tried N, clean M`, and fails with
/// every unclean case listed.
pub fn run_group(group: &str, cases: Vec<Case>) {
    assert!(!cases.is_empty(), "{group}: no cases");
    let results: Vec<(String, Result<(), String>)> =
        cases.par_iter().map(|c| (c.name.clone(), run(c))).collect();
    let bad: Vec<String> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("  {n}: {e}")))
        .collect();
    println!(
        "| {group} | {} | {} |",
        results.len(),
        results.len() - bad.len()
    );
    let groups: std::collections::BTreeSet<_> =
        cases.iter().filter_map(|c| c.dir.parent()).collect();
    for g in groups {
        let _ = fs::remove_dir_all(g);
    }
    assert!(
        bad.is_empty(),
        "{group}: {} of {} cases unclean:\n{}",
        bad.len(),
        results.len(),
        bad.join("\n")
    );
}
