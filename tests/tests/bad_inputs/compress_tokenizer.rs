//! `tokenizer.json` (and `tokenizer_config.json`) mutated: the model object, the
//! vocabulary's ids, merges, added tokens, the file itself, and chat templates.

use std::fs;

use serde_json::json;

use crate::harness::Case;
use crate::hf_case::{edit_json, make_fifo, make_link, make_sparse, Cases, FileEdit, JsonEdit};

const TJ: &str = "tokenizer.json";
const TC: &str = "tokenizer_config.json";
const SPM: &str = "tokenizer.model";

pub fn cases() -> Vec<Case> {
    let mut c = Cases::new("compress_tokenizer");
    let mut out = Vec::new();

    // (what, edit of tokenizer.json, may it still be valid)
    let edits: Vec<(&str, JsonEdit, bool)> = vec![
        (
            "no model",
            Box::new(|t| drop(t.as_object_mut().unwrap().remove("model"))),
            false,
        ),
        (
            "model a string",
            Box::new(|t| t["model"] = json!("BPE")),
            false,
        ),
        (
            "model type WordPiece",
            Box::new(|t| t["model"]["type"] = json!("WordPiece")),
            false,
        ),
        (
            "model type Unigram",
            Box::new(|t| t["model"]["type"] = json!("Unigram")),
            false,
        ),
        (
            "model type missing",
            Box::new(|t| drop(t["model"].as_object_mut().unwrap().remove("type"))),
            false,
        ),
        (
            "model type 5",
            Box::new(|t| t["model"]["type"] = json!(5)),
            false,
        ),
        (
            "byte_fallback",
            Box::new(|t| t["model"]["byte_fallback"] = json!(true)),
            false,
        ),
        (
            "vocab a list",
            Box::new(|t| t["model"]["vocab"] = json!(["a", "b"])),
            false,
        ),
        (
            "vocab missing",
            Box::new(|t| drop(t["model"].as_object_mut().unwrap().remove("vocab"))),
            false,
        ),
        (
            "vocab id -1",
            Box::new(|t| t["model"]["vocab"]["!"] = json!(-1)),
            false,
        ),
        (
            "vocab id a string",
            Box::new(|t| t["model"]["vocab"]["!"] = json!("3")),
            false,
        ),
        (
            "vocab id 2^32",
            Box::new(|t| t["model"]["vocab"]["!"] = json!(1u64 << 32)),
            false,
        ),
        (
            "vocab id 512 (= vocab_size)",
            Box::new(|t| t["model"]["vocab"]["!"] = json!(512)),
            false,
        ),
        (
            "vocab id 2^32-1",
            Box::new(|t| t["model"]["vocab"]["!"] = json!(u32::MAX)),
            false,
        ),
        (
            "vocab id duplicated",
            Box::new(|t| t["model"]["vocab"]["!"] = json!(4)),
            false,
        ),
        (
            "vocab larger than vocab_size",
            Box::new(|t| t["model"]["vocab"]["new token"] = json!(600)),
            false,
        ),
        // Gaps are padded up to vocab_size as the converter does.
        (
            "vocab with a gap",
            Box::new(|t| drop(t["model"]["vocab"].as_object_mut().unwrap().remove("!"))),
            true,
        ),
        (
            "merges not a list",
            Box::new(|t| t["model"]["merges"] = json!("a b")),
            false,
        ),
        (
            "merge without a space",
            Box::new(|t| t["model"]["merges"][0] = json!("Ġt")),
            false,
        ),
        (
            "merge of three parts",
            Box::new(|t| t["model"]["merges"][0] = json!(["Ġ", "t", "x"])),
            false,
        ),
        (
            "merge a number",
            Box::new(|t| t["model"]["merges"][0] = json!(7)),
            false,
        ),
        (
            "merge of unknown tokens",
            Box::new(|t| t["model"]["merges"][0] = json!(["\u{4e00}", "\u{4e8c}"])),
            false,
        ),
        (
            "added_tokens not a list",
            Box::new(|t| t["added_tokens"] = json!({})),
            false,
        ),
        (
            "added token without id",
            Box::new(|t| drop(t["added_tokens"][0].as_object_mut().unwrap().remove("id"))),
            false,
        ),
        (
            "added token id 2^32-1",
            Box::new(|t| t["added_tokens"][0]["id"] = json!(u32::MAX)),
            false,
        ),
        (
            "added token id 512",
            Box::new(|t| t["added_tokens"][2]["id"] = json!(512)),
            false,
        ),
        (
            "added token id -1",
            Box::new(|t| t["added_tokens"][0]["id"] = json!(-1)),
            false,
        ),
        (
            "added token without content",
            Box::new(|t| {
                drop(
                    t["added_tokens"][1]
                        .as_object_mut()
                        .unwrap()
                        .remove("content"),
                )
            }),
            false,
        ),
        (
            "normalizer Lowercase",
            Box::new(|t| t["normalizer"] = json!({"type": "Lowercase"})),
            false,
        ),
        (
            "pre_tokenizer a number",
            Box::new(|t| t["pre_tokenizer"] = json!(3)),
            false,
        ),
    ];
    for (what, edit, ok) in edits {
        let case = c
            .hf(format!("tokenizer.json {what}"), |m| {
                edit_json(&m.join(TJ), edit)
            })
            .mentions(TJ);
        out.push(if ok { case.or_ok() } else { case });
    }

    let files: Vec<(&str, &str, FileEdit)> = vec![
        (TJ, "empty", Box::new(|p| fs::write(p, b"").unwrap())),
        (
            TJ,
            "not JSON",
            Box::new(|p| fs::write(p, b"{\"model\": ").unwrap()),
        ),
        (TJ, "a list", Box::new(|p| fs::write(p, b"[]").unwrap())),
        (TJ, "missing", Box::new(|p| fs::remove_file(p).unwrap())),
        (TJ, "a FIFO", Box::new(make_fifo)),
        (
            TJ,
            "a link to /dev/zero",
            Box::new(|p| make_link(p, "/dev/zero")),
        ),
        (TJ, "2 GiB of zeros", Box::new(|p| make_sparse(p, 2 << 30))),
        (
            TJ,
            "a directory",
            Box::new(|p| {
                fs::remove_file(p).unwrap();
                fs::create_dir(p).unwrap();
            }),
        ),
        (TC, "not JSON", Box::new(|p| fs::write(p, b"{").unwrap())),
        (TC, "a list", Box::new(|p| fs::write(p, b"[1]").unwrap())),
        (TC, "a FIFO", Box::new(make_fifo)),
        (
            TC,
            "a link to /dev/zero",
            Box::new(|p| make_link(p, "/dev/zero")),
        ),
        (
            TC,
            "a chat template that does not parse",
            Box::new(|p| {
                edit_json(p, |t| {
                    t["chat_template"] = json!("{% for m in messages %}{{ m")
                })
            }),
        ),
        (
            TC,
            "a chat template with an unclosed block",
            Box::new(|p| edit_json(p, |t| t["chat_template"] = json!("{% if x %}never closed"))),
        ),
        // A tokenizer.model beside tokenizer.json is what the converter reads for llama:
        // damaged, it is refused.
        (
            SPM,
            "with one empty piece",
            Box::new(|p| fs::write(p, b"\x0a\x00").unwrap()),
        ),
        (SPM, "empty", Box::new(|p| fs::write(p, b"").unwrap())),
        (
            SPM,
            "a piece running past the end",
            Box::new(|p| fs::write(p, b"\x0a\x05\x0a").unwrap()),
        ),
        (
            SPM,
            "a truncated varint",
            Box::new(|p| fs::write(p, b"\x0a\x80").unwrap()),
        ),
        (
            SPM,
            "a group (wire type 3)",
            Box::new(|p| fs::write(p, b"\x0b\x0c").unwrap()),
        ),
        (
            SPM,
            "a piece of type 9",
            Box::new(|p| fs::write(p, b"\x0a\x05\x0a\x01a\x18\x09").unwrap()),
        ),
        (
            SPM,
            "no UNKNOWN piece",
            Box::new(|p| fs::write(p, b"\x0a\x03\x0a\x01a").unwrap()),
        ),
        (SPM, "a FIFO", Box::new(make_fifo)),
        (
            SPM,
            "a link to /dev/zero",
            Box::new(|p| make_link(p, "/dev/zero")),
        ),
        (SPM, "a directory", Box::new(|p| fs::create_dir(p).unwrap())),
    ];
    for (file, what, edit) in files {
        out.push(
            c.hf(format!("{file} {what}"), |m| edit(&m.join(file)))
                .mentions(file),
        );
    }
    out
}
