//! gguf-py's `SpecialVocab` for a tokenizer.json directory: special token ids, whether
//! BOS/EOS/SEP are added, and chat templates, read from tokenizer.json's post-processor,
//! tokenizer_config.json, config.json and the chat template files, with its precedence
//! rules (the first source to set an id wins).

use std::path::Path;

use serde_json::{Map, Value};

use super::json::read_json;
use super::tokenizer::AddedToken;
use crate::input_file::is_present;
use crate::CompressError;
use edgelm_runtime::chat::{render_chat, ChatError};

#[derive(Debug, Default)]
pub(crate) struct SpecialVocab {
    /// (type, id) in the order they were set: bos, eos, unk, sep, pad, cls, mask, eot, eom.
    pub ids: Vec<(String, u32)>,
    /// (type, add it?) in the order they were set.
    pub add: Vec<(String, bool)>,
    pub chat_template: Option<String>,
    /// Extra named templates (`additional_chat_templates/*.jinja` or a template list).
    pub named_templates: Vec<(String, String)>,
    /// From tokenizer.json's normalizer: Lowercase / StripAccents (or BertNormalizer's
    /// flags).
    pub normalizer_lowercase: Option<bool>,
    pub normalizer_strip_accents: Option<bool>,
    /// Ids at or past this are skipped (the converter's `n_vocab`; SentencePiece only).
    n_vocab: Option<u32>,
}

impl SpecialVocab {
    fn set_id(&mut self, typ: &str, id: u32) {
        if self.n_vocab.is_some_and(|n| id >= n) {
            return;
        }
        if !self.ids.iter().any(|(t, _)| t == typ) {
            self.ids.push((typ.to_string(), id));
        }
    }

    fn add_default(&mut self, typ: &str, v: bool) {
        if !self.add.iter().any(|(t, _)| t == typ) {
            self.add.push((typ.to_string(), v));
        }
    }

    fn add_force(&mut self, typ: &str, v: bool) {
        match self.add.iter_mut().find(|(t, _)| t == typ) {
            Some(e) => e.1 = v,
            None => self.add.push((typ.to_string(), v)),
        }
    }
}

/// Python truthiness of a JSON value as the converter tests it.
pub(crate) fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
    }
}

/// `x.get('Sequence', {}).get('id')` of a template entry.
fn sequence_id(v: &Value) -> Option<&str> {
    v.get("Sequence")?.get("id")?.as_str()
}

/// `x.get('SpecialToken', {}).get('id')` of a template entry.
fn special_id(v: Option<&Value>) -> Option<&str> {
    v?.get("SpecialToken")?.get("id")?.as_str()
}

fn same(a: Option<&str>, b: Option<&Value>) -> bool {
    matches!((a, b), (Some(a), Some(Value::String(b))) if a == b)
}

/// gguf-py's `_parse_normalizer`.
fn parse_normalizer(sv: &mut SpecialVocab, n: &Value) {
    match n.get("type").and_then(Value::as_str) {
        Some("Lowercase") => sv.normalizer_lowercase = Some(true),
        Some("StripAccents") => sv.normalizer_strip_accents = Some(true),
        Some("BertNormalizer") => {
            if let Some(v) = n.get("lowercase") {
                sv.normalizer_lowercase = Some(truthy(Some(v)));
            }
            if let Some(v) = n.get("strip_accents") {
                sv.normalizer_strip_accents = Some(truthy(Some(v)));
            }
        }
        Some("Sequence") => {
            for m in n
                .get("normalizers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                parse_normalizer(sv, m);
            }
        }
        _ => {}
    }
}

/// `tj` is tokenizer.json's document (`Value::Null` when there is none), `added` its
/// added tokens; `n_vocab` as the converter passes it (the SentencePiece vocabularies).
pub(crate) fn special_vocab(
    dir: &Path,
    tj: &Value,
    added: &[AddedToken],
    n_vocab: Option<u32>,
) -> Result<SpecialVocab, CompressError> {
    let mut sv = SpecialVocab {
        n_vocab,
        ..SpecialVocab::default()
    };
    let has_tj = truthy(Some(tj));
    if let Some(n) = tj.get("normalizer").filter(|n| truthy(Some(n))) {
        parse_normalizer(&mut sv, n);
    }
    let mut types: Vec<&str> = vec!["bos", "eos", "unk", "sep", "pad", "cls", "mask"];
    let tc_path = dir.join("tokenizer_config.json");
    let mut tc: Option<Map<String, Value>> = if is_present(&tc_path) {
        match read_json(&tc_path)? {
            Value::Object(m) => Some(m),
            _ => return Err(CompressError::input(&tc_path, "not a JSON object")),
        }
    } else {
        None
    };
    let tc_truthy = tc.as_ref().is_some_and(|m| !m.is_empty());
    let get = |tc: &Option<Map<String, Value>>, k: &str| -> Option<Value> {
        tc.as_ref()
            .and_then(|m| m.get(k))
            .filter(|v| !v.is_null())
            .cloned()
    };
    let mut bos = get(&tc, "bos_token");
    let mut cls = get(&tc, "cls_token");
    let mut eos = get(&tc, "eos_token");
    let mut sep = get(&tc, "sep_token");
    let put = |tc: &mut Option<Map<String, Value>>, k: &str, v: Option<Value>| {
        if let Some(m) = tc.as_mut() {
            m.insert(k.to_string(), v.unwrap_or(Value::Null));
        }
    };
    if has_tj && !truthy(bos.as_ref()) && truthy(cls.as_ref()) && tc_truthy {
        bos = cls.clone();
        put(&mut tc, "bos_token", bos.clone());
    }
    if has_tj && !truthy(eos.as_ref()) && truthy(sep.as_ref()) && tc_truthy {
        eos = sep.clone();
        put(&mut tc, "eos_token", eos.clone());
    }

    if let Some(pp) = tj.get("post_processor").filter(|v| truthy(Some(v))) {
        let processors: Vec<&Value> = match pp.get("processors") {
            Some(Value::Array(a)) => a.iter().collect(),
            _ => vec![pp],
        };
        for p in processors {
            match p.get("type").and_then(Value::as_str) {
                Some("ByteLevel") => {
                    sv.add_default("bos", false);
                    sv.add_default("eos", false);
                }
                Some("RobertaProcessing") => {
                    for t in ["bos", "eos", "sep"] {
                        sv.add_force(t, true);
                    }
                    if !truthy(cls.as_ref()) && tc_truthy {
                        cls = p.get("cls").and_then(|c| c.get(0)).cloned().or(bos.clone());
                        put(&mut tc, "cls_token", cls.clone());
                    }
                    if !truthy(sep.as_ref()) && tc_truthy {
                        sep = p.get("sep").and_then(|c| c.get(0)).cloned().or(eos.clone());
                        put(&mut tc, "sep_token", sep.clone());
                    }
                }
                Some("TemplateProcessing") => {
                    let empty = Vec::new();
                    let single = p.get("single").and_then(Value::as_array).unwrap_or(&empty);
                    let pair = p.get("pair").and_then(Value::as_array).unwrap_or(&empty);
                    let mut first = None;
                    let mut last = None;
                    if single.len() > 1 {
                        first = special_id(single.first()).filter(|s| !s.is_empty());
                        if let Some(f) = first {
                            let fv = Some(Value::String(f.to_string()));
                            if !tc_truthy {
                                bos = fv;
                            } else if !same(first, bos.as_ref()) && !same(first, cls.as_ref()) {
                                if !truthy(bos.as_ref()) {
                                    bos = fv.clone();
                                    put(&mut tc, "bos_token", fv.clone());
                                }
                                if !truthy(cls.as_ref()) {
                                    cls = fv.clone();
                                    put(&mut tc, "cls_token", fv);
                                }
                            }
                            let hit = same(first, bos.as_ref()) || same(first, cls.as_ref());
                            sv.add_force("bos", hit);
                        }
                        last = special_id(single.last()).filter(|s| !s.is_empty());
                        if let Some(l) = last {
                            let lv = Some(Value::String(l.to_string()));
                            if !tc_truthy {
                                eos = lv;
                            } else if !same(last, eos.as_ref()) {
                                // The old EOS becomes EOT (or EOM) and the template's last
                                // token the EOS.
                                if !types.contains(&"eot") {
                                    types.push("eot");
                                    put(&mut tc, "eot_token", eos.clone());
                                } else if !types.contains(&"eom") {
                                    types.push("eom");
                                    put(&mut tc, "eom_token", eos.clone());
                                }
                                eos = lv.clone();
                                put(&mut tc, "eos_token", lv);
                            }
                            sv.add_force("eos", same(last, eos.as_ref()));
                        }
                    }
                    if !pair.is_empty() {
                        let start =
                            usize::from(first.is_some() && special_id(pair.first()) == first);
                        let stop = if last.is_some() && special_id(pair.last()) == last {
                            pair.len() - 1
                        } else {
                            pair.len()
                        };
                        let tmpl = if start < stop {
                            &pair[start..stop]
                        } else {
                            &[][..]
                        };
                        if !tmpl.is_empty() {
                            let a = sequence_id(&tmpl[0]);
                            let b = sequence_id(&tmpl[tmpl.len() - 1]);
                            let inner = if tmpl.len() >= 2 {
                                &tmpl[1..tmpl.len() - 1]
                            } else {
                                &[][..]
                            };
                            if a == Some("A") && b == Some("B") && !inner.is_empty() {
                                let mut add_sep = false;
                                let is_sep_or_eos = |e: Option<&str>| {
                                    same(e, sep.as_ref()) || same(e, eos.as_ref())
                                };
                                let e0 = special_id(inner.first()).filter(|s| !s.is_empty());
                                if e0.is_some() && is_sep_or_eos(e0) && last.is_none() {
                                    add_sep = true;
                                }
                                if inner.len() == 2 {
                                    let e1 = special_id(inner.get(1)).filter(|s| !s.is_empty());
                                    if e1.is_some() && is_sep_or_eos(e1) {
                                        add_sep = true;
                                    }
                                }
                                sv.add_force("sep", add_sep);
                                if add_sep && !truthy(sep.as_ref()) && tc_truthy {
                                    put(&mut tc, "sep_token", eos.clone());
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    if let Some(tc) = tc.as_ref().filter(|_| tc_truthy) {
        chat_templates(dir, tc, &mut sv)?;
        for typ in &types {
            if let Some(Value::Bool(b)) = tc.get(&format!("add_{typ}_token")) {
                sv.add_default(typ, *b);
            }
            let content = match tc.get(&format!("{typ}_token")) {
                Some(Value::String(s)) => s.as_str(),
                Some(Value::Object(o)) => match o.get("content") {
                    Some(Value::String(s)) => s.as_str(),
                    _ => continue,
                },
                _ => continue,
            };
            if let Some(t) = added.iter().find(|t| t.content == content) {
                sv.set_id(typ, t.id);
            }
        }
    }

    let cfg_path = dir.join("config.json");
    if is_present(&cfg_path) {
        let cfg = read_json(&cfg_path)?;
        for typ in &types {
            let key = format!("{typ}_token_id");
            let v = cfg
                .get(&key)
                .filter(|v| !v.is_null())
                .or_else(|| cfg.get("text_config").and_then(|t| t.get(&key)));
            if let Some(Value::Number(n)) = v {
                if let Some(i) = n.as_i64() {
                    let id = u32::try_from(i).map_err(|_| {
                        CompressError::input(
                            &cfg_path,
                            format!("invalid value for special token type {typ}: {i}"),
                        )
                    })?;
                    sv.set_id(typ, id);
                }
            }
        }
    }
    Ok(sv)
}

/// tokenizer_config.json's `chat_template` (a string, or a list of named templates);
/// when the key is absent, chat_template.jinja (with additional_chat_templates/*.jinja)
/// or chat_template.json.
fn chat_templates(
    dir: &Path,
    tc: &Map<String, Value>,
    sv: &mut SpecialVocab,
) -> Result<(), CompressError> {
    let read = |p: &Path| crate::input_file::read_text(p, crate::input_file::JSON_LIMIT);
    // Where the template text comes from, for the error when it does not parse.
    let mut source = dir.join("tokenizer_config.json");
    let value = match tc.get("chat_template") {
        Some(v) => v.clone(),
        None => {
            let jinja = dir.join("chat_template.jinja");
            let json = dir.join("chat_template.json");
            if is_present(&jinja) {
                source = jinja.clone();
                let default = read(&jinja)?;
                let mut extra: Vec<(String, String)> = Vec::new();
                if let Ok(rd) = std::fs::read_dir(dir.join("additional_chat_templates")) {
                    let mut paths: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                    paths.sort();
                    for p in paths {
                        if p.extension().is_some_and(|e| e == "jinja") {
                            let stem = p
                                .file_stem()
                                .unwrap_or_default()
                                .to_string_lossy()
                                .into_owned();
                            extra.push((stem, read(&p)?));
                        }
                    }
                }
                if extra.is_empty() {
                    Value::String(default)
                } else {
                    let mut list =
                        vec![serde_json::json!({"name": "default", "template": default})];
                    list.extend(
                        extra
                            .into_iter()
                            .map(|(n, t)| serde_json::json!({"name": n, "template": t})),
                    );
                    Value::Array(list)
                }
            } else if is_present(&json) {
                source = json.clone();
                read_json(&json)?
                    .get("chat_template")
                    .cloned()
                    .unwrap_or(Value::Null)
            } else {
                Value::Null
            }
        }
    };
    match value {
        Value::String(s) => sv.chat_template = Some(s),
        Value::Array(list) => {
            for choice in list {
                let name: String = choice
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                let Some(t) = choice.get("template").and_then(Value::as_str) else {
                    continue;
                };
                if name.is_empty() {
                    continue;
                }
                if name == "default" {
                    sv.chat_template = Some(t.to_string());
                } else if !sv.named_templates.iter().any(|(n, _)| *n == name) {
                    sv.named_templates.push((name, t.to_string()));
                }
            }
        }
        // null, or a type the converter ignores with a warning.
        _ => {}
    }
    // A template that does not parse would only fail on the device, at the first chat.
    // Rendering errors (a template that rejects an empty conversation) are not checked.
    let all = sv
        .chat_template
        .iter()
        .chain(sv.named_templates.iter().map(|(_, t)| t));
    for t in all {
        if let Err(e @ ChatError::Syntax(_)) = render_chat(t, &[], false, "", "") {
            return Err(CompressError::input(&source, e.to_string()));
        }
    }
    Ok(())
}
