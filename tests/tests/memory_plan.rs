//! The memory plan (`edgelm plan`, and the check at the top of `edgelm run`) against
//! the peak RSS a run really reaches with its whole context filled; and a run that
//! cannot fit stops before loading, saying what fits.

use std::path::Path;
use std::process::Command;

use edgelm_tests::{fixtures_dir, gemma3_path, smollm2_path, workspace_bin};
use serde_json::Value;

/// A prompt of about `tokens` tokens of English from the GPL-3 text.
fn prompt_file(tokens: usize) -> std::path::PathBuf {
    let text = std::fs::read_to_string(fixtures_dir().join("text/gpl-3.txt")).unwrap();
    // ~3.5 characters per token; cut on a char boundary.
    let mut end = (tokens * 7 / 2).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let path =
        std::env::temp_dir().join(format!("edgelm-plan-{}-{tokens}.txt", std::process::id()));
    std::fs::write(&path, &text[..end]).unwrap();
    path
}

/// Runs until the context is full; returns (planned, measured) peak RSS in MiB.
fn planned_and_measured(model: &Path, ctx: usize, kv: &str) -> (f64, f64) {
    let prompt = prompt_file(ctx * 3 / 5);
    let out = Command::new(workspace_bin("edgelm"))
        .args(["run", "-m"])
        .arg(model)
        .arg("-f")
        .arg(&prompt)
        .args([
            "--ctx",
            &ctx.to_string(),
            "--kv-type",
            kv,
            "-n",
            "100000",
            "--temp",
            "0",
            "--json",
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&prompt);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        j["stop"], "context_full",
        "the whole context must be used: {j}"
    );
    (
        j["plan"]["peak_rss_mib"].as_f64().unwrap(),
        j["peak_rss_mib"].as_f64().unwrap(),
    )
}

#[test]
fn the_plan_is_within_10_percent_of_the_measured_peak() {
    let mut cases = Vec::new();
    if let Some(m) = smollm2_path() {
        cases.push((m.clone(), 512, "f16"));
        cases.push((m, 1024, "f32"));
    }
    if let Some(m) = gemma3_path() {
        cases.push((m, 512, "f16"));
    }
    for (model, ctx, kv) in cases {
        let (plan, peak) = planned_and_measured(&model, ctx, kv);
        let err = (plan - peak).abs() / peak;
        eprintln!(
            "{} ctx {ctx} {kv}: plan {plan:.1} MiB, measured {peak:.1} MiB ({:.1}%)",
            model.display(),
            err * 100.0
        );
        assert!(
            err < 0.10,
            "{}: ctx {ctx} {kv}: plan {plan} MiB vs measured {peak} MiB",
            model.display()
        );
    }
}

fn edgelm(args: &[&str], available: &str) -> (Option<i32>, String, String) {
    let out = Command::new(workspace_bin("edgelm"))
        .args(args)
        .env("EDGELM_MEM_AVAILABLE", available)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_run_that_cannot_fit_stops_before_loading_and_says_what_fits() {
    let Some(m) = smollm2_path() else { return };
    let m = m.to_str().unwrap();
    // SmolLM2's weights are ~92 MiB; 4096 f32 positions of KV cache are 360 MiB more.
    let (code, _, err) = edgelm(
        &[
            "run",
            "-m",
            m,
            "-p",
            "hi",
            "-n",
            "1",
            "--ctx",
            "4096",
            "--kv-type",
            "f32",
        ],
        "200M",
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("available;") && err.contains("--ctx ") && err.contains(" fits"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one message: {err}");
    // What it advised does run.
    let ctx = err
        .split("--ctx ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let (code, _, err) = edgelm(
        &[
            "run",
            "-m",
            m,
            "-p",
            "hi",
            "-n",
            "1",
            "--ctx",
            ctx,
            "--kv-type",
            "f32",
        ],
        "200M",
    );
    assert_eq!(code, Some(0), "--ctx {ctx}: {err}");
    // --ctx auto picks the largest that fits, and says so.
    let (code, _, err) = edgelm(
        &[
            "run",
            "-m",
            m,
            "-p",
            "hi",
            "-n",
            "1",
            "--ctx",
            "auto",
            "--mem-budget",
            "200M",
        ],
        "1G",
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("--ctx auto: "), "{err}");
    // `edgelm plan --json` gives the same figures as one object.
    let (code, out, err) = edgelm(&["plan", "-m", m, "--ctx", "2048", "--json"], "1G");
    assert_eq!(code, Some(0), "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    for key in [
        "weights_mib",
        "kv_cache_mib",
        "scratch_mib",
        "peak_rss_mib",
        "available_mib",
    ] {
        assert!(j[key].as_f64().unwrap() > 0.0, "{key}: {j}");
    }
    assert_eq!(j["fits"], true);
    assert_eq!(
        j["kv_cache_mib"].as_f64().unwrap(),
        45.0,
        "30 layers × 2048 × 192 × 2 × f16"
    );
    let (code, _, _) = edgelm(&["plan", "-m", m, "--ctx", "2048"], "50M");
    assert_eq!(code, Some(1), "does not fit: exit 1");
}
