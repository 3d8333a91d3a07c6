//! `edgelm chat` through a pseudo-terminal (tests/scripts/chat_pty.py): three turns
//! with SmolLM2, each after the first prefilling only what the cache lacks, then Ctrl-C
//! during an answer, which returns to the prompt, and /exit.

use std::process::Command;

use edgelm_tests::{smollm2_path, test_python, workspace_bin, workspace_root};
use serde_json::Value;

#[test]
fn three_turns_reuse_the_cache_and_ctrl_c_stops_only_the_answer() {
    let (Some(model), Some(python)) = (smollm2_path(), test_python()) else {
        return;
    };
    let out = Command::new(python)
        .arg(workspace_root().join("tests/scripts/chat_pty.py"))
        .arg(workspace_bin("edgelm"))
        .arg(&model)
        .output()
        .expect("start python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let turn = |i: usize| {
        let t = &j["prefilled"][i];
        (t[0].as_u64().unwrap(), t[1].as_u64().unwrap())
    };
    let (new1, cached1) = turn(0);
    assert_eq!(cached1, 0, "{j}");
    // Turn 2 reuses turn 1's whole prompt (and its answer) and evaluates only the
    // end of that answer's turn and the new message.
    let (new2, cached2) = turn(1);
    assert!(cached2 > new1, "{j}");
    assert!(new2 < 32, "{j}");
    let (new3, cached3) = turn(2);
    assert!(cached3 > cached2 && new3 < cached3, "{j}");
    assert_eq!(j["stopped"], true, "{j}");
    assert_eq!(j["exit"], 0, "{j}");
}
