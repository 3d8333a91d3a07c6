//! The compressor's arguments: outputs that would destroy an input, a device or each
//! other, output folders that cannot be written, inputs that are not files, and bad
//! `-q`, `--tensor-type`, `--threads` and missing flags.
//!
//! SIGINT/SIGTERM during a run stay in `compress/tests/cli_errors.rs`: they need a
//! checkpoint big enough to interrupt mid-write, which these cases do not copy.

use std::fs;

use crate::harness::Case;
use crate::hf_case::{make_fifo, make_link, Cases, ARGS};

/// [`ARGS`] with `-o` replaced.
fn with_output(o: &str) -> Vec<String> {
    let mut a: Vec<String> = ARGS.iter().map(|s| s.to_string()).collect();
    a[3] = o.to_string();
    a
}

pub fn cases() -> Vec<Case> {
    let mut c = Cases::new("compress_output");
    let mut out = Vec::new();

    // -o at a file the run reads, or at something that is not a regular file.
    for (o, mention) in [
        ("model/config.json", "model/config.json"),
        ("model/model.safetensors", "model/model.safetensors"),
        ("model/tokenizer.json", "model/tokenizer.json"),
        ("model/./config.json", "config.json"),
        ("model", "model"),
        ("out", "out"),
        ("/dev/null", "/dev/null"),
        ("/proc/model.gguf", "/proc/model.gguf"),
        ("out/no/such/dir/model.gguf", "out/no/such/dir"),
        ("model/config.json/model.gguf", "model/config.json"),
        ("", "output"),
    ] {
        out.push(
            c.hf_bare(format!("-o {o:?}"), |_| ())
                .args(with_output(o))
                .mentions(mention),
        );
    }
    // -o a FIFO, or a link to an input or a device.
    out.push(
        c.hf_bare("-o a FIFO", |m| {
            make_fifo(&m.parent().unwrap().join("out/model.gguf"))
        })
        .args(ARGS)
        .mentions("out/model.gguf"),
    );
    for target in ["../model/config.json", "/dev/null"] {
        out.push(
            c.hf_bare(format!("-o a link to {target}"), |m| {
                make_link(&m.parent().unwrap().join("out/model.gguf"), target)
            })
            .args(ARGS)
            .mentions("out/model.gguf"),
        );
    }

    // --json against the model, an input, a device, a missing folder.
    for (j, mention) in [
        ("out/model.gguf", "--json"),
        ("out/./model.gguf", "--json"),
        ("model/config.json", "model/config.json"),
        ("model/model.safetensors", "model/model.safetensors"),
        ("/dev/null", "/dev/null"),
        ("out", "out"),
        ("out/no/such/dir/report.json", "report.json"),
        ("/proc/report.json", "/proc/report.json"),
    ] {
        out.push(
            c.hf(format!("--json {j:?}"), |_| ())
                .args(["--json", j])
                .mentions(mention),
        );
    }
    out.push(
        c.hf("--json a FIFO", |m| {
            make_fifo(&m.parent().unwrap().join("out/report.json"))
        })
        .args(["--json", "out/report.json"])
        .mentions("out/report.json"),
    );

    // -i that is not a checkpoint.
    for (i, mention) in [
        ("no-such-dir", "no-such-dir"),
        ("/dev/zero", "/dev/zero"),
        ("/dev/null", "/dev/null"),
        ("fifo", "fifo"),
        ("empty", "empty"),
        ("model.onnx", "model.onnx"),
    ] {
        out.push(
            c.hf_bare(format!("-i {i}"), |m| {
                let dir = m.parent().unwrap();
                make_fifo(&dir.join("fifo"));
                fs::create_dir(dir.join("empty")).unwrap();
                fs::write(dir.join("model.onnx"), b"\x08\x07").unwrap();
            })
            .args(["-i", i, "-o", "out/model.gguf", "-q", "Q8_0"])
            .mentions(mention),
        );
    }

    // -q and --tensor-type.
    for q in ["", "Q7_X", "Q4_0 ", "F64", "IQ2_XXS", "q8_0x"] {
        let mut a = with_output("out/model.gguf");
        a[5] = q.to_string();
        out.push(
            c.hf_bare(format!("-q {q:?}"), |_| ())
                .args(a)
                .mentions(format!("'{q}'")),
        );
    }
    for tt in [
        "nothing_matches=Q8_0",
        "attn_q=Q7_X",
        "[unclosed=Q8_0",
        "no-equals-sign",
        "attn_q=",
        "(a{1000}){1000}{1000}=Q8_0",
    ] {
        out.push(
            c.hf(format!("--tensor-type {tt:?}"), |_| ())
                .args(["--tensor-type", tt])
                .mentions("--tensor-type"),
        );
    }

    // Missing or conflicting flags (clap's own messages, exit 2).
    for (what, args, mention) in [
        (
            "no -i",
            vec!["-o", "out/model.gguf", "-q", "Q8_0"],
            "--input",
        ),
        ("no -o", vec!["-i", "model", "-q", "Q8_0"], "--output"),
        (
            "no -q",
            vec!["-i", "model", "-o", "out/model.gguf"],
            "--quant",
        ),
        ("-q twice", [&ARGS[..], &["-q", "Q4_0"]].concat(), "--quant"),
        (
            "--threads -1",
            [&ARGS[..], &["--threads", "-1"]].concat(),
            "--threads",
        ),
        (
            "--threads x",
            [&ARGS[..], &["--threads", "x"]].concat(),
            "--threads",
        ),
        (
            "unknown flag",
            [&ARGS[..], &["--frobnicate"]].concat(),
            "--frobnicate",
        ),
    ] {
        out.push(c.hf_bare(what, |_| ()).args(args).mentions(mention));
    }
    // Thread counts far beyond the machine: capped or refused, never a minute of spawning.
    out.push(
        c.hf("--threads 100000", |_| ())
            .args(["--threads", "100000"])
            .mentions("--threads")
            .or_ok(),
    );
    out
}
