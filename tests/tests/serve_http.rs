//! `edgelm serve` driven over real HTTP: the official `openai` Python client against
//! the tiny llama fixture and SmolLM2 (tests/scripts/serve_openai_check.py), a soak of
//! 10,000 mixed requests (tests/scripts/serve_soak.py), and a clean stop on SIGTERM.
//! Nothing is mocked: each test starts the real binary on a free port.
//!
//! The tests take turns ([`one_at_a_time`]) and the tiny model's servers compute on one
//! thread: on a 2-core CI machine, servers, Python clients and forward-pass workers
//! all at once would starve each other and turn timing checks into noise.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use edgelm_tests::{fixtures_dir, smollm2_path, test_python, workspace_bin, workspace_root};

/// Held for a whole test: one server test at a time.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the next one may still run.
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running `edgelm serve`; stopped (SIGTERM, then SIGKILL) when dropped.
struct Server {
    child: Child,
    addr: String,
    /// Everything the server wrote to stderr so far.
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `edgelm serve -m model --port 0 args...` and waits until it answers
    /// /health. Port 0: the kernel picks a free port and the startup line names it,
    /// so parallel tests never race for one.
    fn start(model: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(workspace_bin("edgelm"))
            .args(["serve", "-m"])
            .arg(model)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting edgelm serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                        let _ = tx.send(addr);
                    }
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "edgelm serve printed no startup line in 60 s:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        let server = Server { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.get("/health").0 != 200 {
            assert!(Instant::now() < deadline, "/health never answered 200");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A plain HTTP/1.0 GET: (status, body); (0, "") if the server does not answer.
    fn get(&self, path: &str) -> (u16, String) {
        let Ok(mut s) = TcpStream::connect(&self.addr) else {
            return (0, String::new());
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr);
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, body.to_string())
    }

    /// Sends SIGTERM and waits for the exit status (SIGKILL after `patience`).
    fn terminate(&mut self, patience: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate(Duration::from_secs(10));
        }
    }
}

/// The test python, if it has the `openai` package (tests/scripts/python-env.sh
/// installs it); otherwise a note and `None`, or a failure under
/// EDGELM_REQUIRE_FIXTURES=1.
fn python_with_openai() -> Option<PathBuf> {
    let py = test_python()?;
    let has = Command::new(&py)
        .args(["-c", "import openai"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has {
        return Some(py);
    }
    let msg = format!(
        "{} has no `openai` package (bash tests/scripts/python-env.sh installs it)",
        py.display()
    );
    if std::env::var("EDGELM_REQUIRE_FIXTURES").as_deref() == Ok("1") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    None
}

/// Runs a script of tests/scripts with `args`; fails the test with its output and the
/// server's log unless it exits 0.
fn run_script(py: &Path, script: &str, args: &[String], server: &Server) -> String {
    let out = Command::new(py)
        .arg(workspace_root().join("tests/scripts").join(script))
        .args(args)
        .output()
        .expect("running python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log()
    );
    stdout
}

fn tiny_llama() -> PathBuf {
    fixtures_dir().join("tiny/llama.gguf")
}

#[test]
fn openai_client_against_tiny_llama() {
    let Some(py) = python_with_openai() else {
        return;
    };
    let _turn = one_at_a_time();
    let server = Server::start(
        &tiny_llama(),
        &[
            "--threads",
            "1",
            "--api-key",
            "test-key",
            "--parallel",
            "2",
            "--ctx",
            "1024",
            "--max-queue",
            "1",
            "--alias",
            "tiny-llama",
        ],
    );
    let out = run_script(
        &py,
        "serve_openai_check.py",
        &[
            "--base-url".into(),
            server.url(),
            "--api-key".into(),
            "test-key".into(),
            "--model".into(),
            "tiny-llama".into(),
            "tiny".into(),
        ],
        &server,
    );
    eprintln!("{out}");
    assert!(out.contains("all checks passed"));
}

#[test]
fn openai_client_chat_smollm2() {
    let (Some(model), Some(py)) = (smollm2_path(), python_with_openai()) else {
        return;
    };
    let _turn = one_at_a_time();
    let server = Server::start(&model, &["--parallel", "2", "--ctx", "2048"]);
    let id = model.file_name().unwrap().to_string_lossy().into_owned();
    let out = run_script(
        &py,
        "serve_openai_check.py",
        &[
            "--base-url".into(),
            server.url(),
            "--model".into(),
            id,
            "smollm2".into(),
        ],
        &server,
    );
    eprintln!("{out}");
    assert!(out.contains("Paris"), "{out}");
}

/// 10,000 requests at a concurrency of 16: well-formed ones (each must get a whole
/// answer), malformed ones and streams the client drops midway; the server stays up
/// and its peak RSS stays within 10% of what it reached after 1,000.
#[test]
fn soak_ten_thousand_mixed_requests() {
    let Some(py) = test_python() else {
        return;
    };
    let _turn = one_at_a_time();
    let server = Server::start(
        &tiny_llama(),
        // A 64 KiB body limit: the soak's 413s then cost the server little, so its
        // peak RSS measures leaks rather than how many uploads happened to overlap.
        &[
            "--threads",
            "1",
            "--parallel",
            "4",
            "--ctx",
            "2048",
            "--max-body",
            "65536",
        ],
    );
    let out = run_script(
        &py,
        "serve_soak.py",
        &[
            "--base-url".into(),
            server.url(),
            "--pid".into(),
            server.pid().to_string(),
            "--requests".into(),
            "10000".into(),
            "--concurrency".into(),
            "16".into(),
            "--max-body".into(),
            "65536".into(),
        ],
        &server,
    );
    eprintln!("{out}");
    assert_eq!(
        server.get("/health").0,
        200,
        "the server is down after the soak"
    );
}

/// SIGTERM stops the server with exit status 0, and a stream running then still ends
/// with `data: [DONE]` (it is let finish) before the process goes.
#[test]
fn sigterm_stops_cleanly() {
    let _turn = one_at_a_time();
    let mut server = Server::start(&tiny_llama(), &["--threads", "1", "--ctx", "1024"]);
    let mut s = TcpStream::connect(&server.addr).unwrap();
    // Short enough to finish within the 5 s grace even on a loaded machine.
    let body = r#"{"prompt":"Hello","max_tokens":20,"ignore_eos":true,"stream":true}"#;
    write!(
        s,
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut first = [0u8; 64];
    let n = s.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    let status = server
        .terminate(Duration::from_secs(20))
        .expect("edgelm serve did not exit within 20 s of SIGTERM");
    assert!(status.success(), "exit status {status}:\n{}", server.log());
    let mut rest = String::new();
    let _ = s.read_to_string(&mut rest);
    assert!(rest.contains("data: [DONE]"), "the stream was cut: {rest}");
    let log = server.log();
    assert!(log.contains("edgelm serve: stopped"), "{log}");
}
