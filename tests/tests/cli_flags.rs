//! One flag style across `edgelm`'s subcommands: `-m/--model` wherever a model is
//! taken (`info` too, beside its positional form), and one default per option in
//! `--help`.

use std::process::Command;

use edgelm_tests::{fixtures_dir, workspace_bin};

fn edgelm(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(workspace_bin("edgelm"))
        .args(args)
        .output()
        .expect("start edgelm");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn info_takes_the_model_with_m_or_positionally() {
    let model = fixtures_dir().join("tiny/llama.gguf");
    let model = model.to_str().unwrap();
    let (code, by_flag, err) = edgelm(&["info", "-m", model]);
    assert_eq!(code, Some(0), "{err}");
    assert!(by_flag.contains("architecture: llama"), "{by_flag}");
    let (code, long, err) = edgelm(&["info", "--model", model]);
    assert_eq!(code, Some(0), "{err}");
    let (code, positional, err) = edgelm(&["info", model]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(by_flag, positional);
    assert_eq!(long, positional);
    // Neither form: the error names -m.
    let (code, _, err) = edgelm(&["info"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--model"), "{err}");
}

#[test]
fn every_option_shows_one_default() {
    for cmd in ["run", "chat", "info", "perplexity", "bench", "plan"] {
        let (code, help, err) = edgelm(&[cmd, "--help"]);
        assert_eq!(code, Some(0), "{cmd}: {err}");
        // Long help puts an option's description and clap's [default: ...] on one line.
        for line in help.lines() {
            let worded = line.contains("(default") || line.contains("the default");
            assert!(
                !(worded && line.contains("[default:")),
                "edgelm {cmd} --help shows two defaults: {line}"
            );
        }
        if cmd != "info" {
            assert!(help.contains("-m, --model"), "{cmd}: {help}");
        }
    }
}
