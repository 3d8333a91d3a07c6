//! `--lora DIR`: a copy of the `plain` adapter (`lora/`) mutated in its config and its
//! weights, plus the adapter made for other shapes and bad scales.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::harness::Case;
use crate::hf_case::{
    adapters_dir, copy_dir, edit_json, make_fifo, set_f32, Cases, FileEdit, JsonEdit, St,
};

const CFG: &str = "adapter_config.json";
const W: &str = "adapter_model.safetensors";
const QA: &str = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
const QB: &str = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";

/// A case with the base checkpoint, `lora/` a copy of adapter `from` changed by `edit`,
/// and `--lora lora<suffix>`.
fn lora_case(
    c: &mut Cases,
    name: String,
    from: &str,
    suffix: &str,
    edit: impl FnOnce(&Path),
) -> Case {
    let case = c.hf(name, |m| {
        let dir = m.parent().unwrap().join("lora");
        copy_dir(&adapters_dir().join(from), &dir);
        edit(&dir);
    });
    case.args(["--lora".to_string(), format!("lora{suffix}")])
        .mentions("lora")
}

pub fn cases() -> Vec<Case> {
    let mut c = Cases::new("compress_lora");
    let mut out = Vec::new();

    let configs: Vec<(&str, JsonEdit)> = vec![
        ("r 0", Box::new(|v| v["r"] = json!(0))),
        ("r -8", Box::new(|v| v["r"] = json!(-8))),
        ("r \"8\"", Box::new(|v| v["r"] = json!("8"))),
        (
            "r 2^32 (not the weights' rank)",
            Box::new(|v| v["r"] = json!(1u64 << 32)),
        ),
        (
            "lora_alpha \"NaN\"",
            Box::new(|v| v["lora_alpha"] = json!("NaN")),
        ),
        (
            "lora_alpha null",
            Box::new(|v| v["lora_alpha"] = Value::Null),
        ),
        (
            "lora_alpha 1.8e308 (merge overflows)",
            Box::new(|v| v["lora_alpha"] = json!(f64::MAX)),
        ),
        (
            "target_modules of another model",
            Box::new(|v| v["target_modules"] = json!(["c_attn"])),
        ),
        (
            "peft_type PREFIX_TUNING",
            Box::new(|v| v["peft_type"] = json!("PREFIX_TUNING")),
        ),
        ("use_dora", Box::new(|v| v["use_dora"] = json!(true))),
    ];
    for (what, edit) in configs {
        out.push(lora_case(
            &mut c,
            format!("adapter {what}"),
            "plain",
            "",
            |d| edit_json(&d.join(CFG), edit),
        ));
    }

    let files: Vec<(&str, FileEdit)> = vec![
        (
            "config missing",
            Box::new(|d| fs::remove_file(d.join(CFG)).unwrap()),
        ),
        (
            "config not JSON",
            Box::new(|d| fs::write(d.join(CFG), b"{r: 8").unwrap()),
        ),
        ("config a FIFO", Box::new(|d| make_fifo(&d.join(CFG)))),
        (
            "weights missing",
            Box::new(|d| fs::remove_file(d.join(W)).unwrap()),
        ),
        (
            "weights truncated",
            Box::new(|d| {
                let b = fs::read(d.join(W)).unwrap();
                fs::write(d.join(W), &b[..b.len() / 2]).unwrap();
            }),
        ),
        ("weights a FIFO", Box::new(|d| make_fifo(&d.join(W)))),
        (
            "lora_A missing",
            Box::new(|d| edit_w(d, |st| st.tensors.retain(|t| t.name != QA))),
        ),
        (
            "lora_B missing",
            Box::new(|d| edit_w(d, |st| st.tensors.retain(|t| t.name != QB))),
        ),
        (
            "lora_B NaN",
            Box::new(|d| edit_w(d, |st| set_f32(st.get_mut(QB), 3, f32::NAN))),
        ),
        (
            "lora_A inf",
            Box::new(|d| edit_w(d, |st| set_f32(st.get_mut(QA), 0, f32::INFINITY))),
        ),
        (
            "lora_A of another rank",
            Box::new(|d| {
                edit_w(d, |st| {
                    let t = st.get_mut(QA);
                    t.shape = vec![4, 128];
                })
            }),
        ),
        (
            "an adapter for layer 7",
            Box::new(|d| {
                edit_w(d, |st| {
                    for t in st
                        .tensors
                        .iter_mut()
                        .filter(|t| t.name == QA || t.name == QB)
                    {
                        t.name = t.name.replace("layers.0.", "layers.7.");
                    }
                })
            }),
        ),
    ];
    for (what, edit) in files {
        out.push(lora_case(
            &mut c,
            format!("adapter {what}"),
            "plain",
            "",
            edit,
        ));
    }

    out.push(lora_case(
        &mut c,
        "adapter for other shapes".into(),
        "wrong_shape",
        "",
        |_| (),
    ));
    for scale in ["nan", "inf", "-inf"] {
        out.push(lora_case(
            &mut c,
            format!("scale {scale}"),
            "plain",
            &format!(":{scale}"),
            |_| (),
        ));
    }
    out.push(
        c.hf("adapter folder missing", |_| ())
            .args(["--lora", "no-such-adapter"])
            .mentions("no-such-adapter"),
    );
    out
}

fn edit_w(dir: &Path, f: impl FnOnce(&mut St)) {
    let mut st = St::read(&dir.join(W));
    f(&mut st);
    st.write(&dir.join(W));
}
