//! Chat templates against Jinja2 rendering them as HF transformers' apply_chat_template
//! does (tests/fixtures/chat/make_fixtures.py): SmolLM2's own template (from the GGUF),
//! Llama 3, Qwen2, a Gemma-style one that raises, and a multi-line one with indented
//! block tags, Python string methods and loop controls.

use edgelm_runtime::chat::{render_chat, ChatMessage};
use serde_json::Value;

fn fixture() -> Value {
    let path = edgelm_tests::fixtures_dir().join("chat/chat_cases.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn messages(v: &Value) -> Vec<ChatMessage> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| ChatMessage {
            role: m["role"].as_str().unwrap().into(),
            content: m["content"].as_str().unwrap().into(),
        })
        .collect()
}

#[test]
fn templates_render_like_jinja2() {
    let f = fixture();
    let (bos, eos) = (
        f["bos_token"].as_str().unwrap(),
        f["eos_token"].as_str().unwrap(),
    );
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 30);
    let mut failures = Vec::new();
    for c in cases {
        let tname = c["template"].as_str().unwrap();
        let cname = c["conversation"].as_str().unwrap();
        let template = f["templates"][tname].as_str().unwrap();
        let msgs = messages(&f["conversations"][cname]);
        let agp = c["add_generation_prompt"].as_bool().unwrap();
        let got = render_chat(template, &msgs, agp, bos, eos);
        let label = format!("{tname} / {cname} / add_generation_prompt {agp}");
        match (&c["output"], &c["error"], got) {
            (Value::String(want), _, Ok(got)) if *want == got => {}
            (_, Value::String(msg), Err(e)) if e.to_string().contains(msg.as_str()) => {}
            (want, err, got) => {
                failures.push(format!("{label}\n  want {want} {err}\n  got  {got:?}"))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn smollm2_system_user_prompt() {
    let f = fixture();
    let template = f["templates"]["smollm2"].as_str().unwrap();
    let msgs = [
        ChatMessage {
            role: "system".into(),
            content: "You are a concise assistant.".into(),
        },
        ChatMessage {
            role: "user".into(),
            content: "What is the capital of France?".into(),
        },
    ];
    assert_eq!(
        render_chat(template, &msgs, true, "<|im_start|>", "<|im_end|>").unwrap(),
        "<|im_start|>system\nYou are a concise assistant.<|im_end|>\n\
         <|im_start|>user\nWhat is the capital of France?<|im_end|>\n\
         <|im_start|>assistant\n"
    );
}
