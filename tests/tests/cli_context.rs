//! `edgelm run` at the edges of the context: a prompt longer than it is an error naming
//! `--ctx`; a generation that fills it stops cleanly and says so.

use std::process::Command;

use edgelm_tests::tiny_gguf::TinyGguf;
use edgelm_tests::workspace_bin;

fn run(model: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(workspace_bin("edgelm"))
        .args(["run", "-m"])
        .arg(model)
        .args(args)
        .output()
        .expect("start edgelm");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_prompt_longer_than_the_context_is_an_error_and_a_full_context_stops_cleanly() {
    let path = std::env::temp_dir().join(format!("edgelm-ctx-{}.gguf", std::process::id()));
    TinyGguf::llama().write(&path);
    let (code, err) = run(&path, &["-p", &"ab a ".repeat(10), "--ctx", "4"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--ctx"), "{err}");
    let (code, err) = run(
        &path,
        &["-p", "ab", "--ctx", "6", "-n", "50", "--temp", "0"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("context is full"), "{err}");
    std::fs::remove_file(&path).ok();
}
