//! Chat templates from the model file (or `--chat-template`) that do not parse, fail,
//! loop without end, grow without bound or are not text.

use edgelm_runtime::gguf::{MetaArray, MetaValue};

use crate::harness::Case;
use edgelm_tests::tiny_gguf::TinyGguf;

use crate::gguf_case::run_case;

const GROUP: &str = "chat_template";

pub fn cases() -> Vec<Case> {
    let templates: Vec<(&str, &str, bool)> = vec![
        ("syntax: unclosed for", "{% for m in messages %}{{ m.content }}", false),
        ("syntax: unclosed expression", "{{ messages[0].content ", false),
        ("syntax: bad tag", "{% frobnicate %}", false),
        ("loop of 10^9", "{% for i in range(1000000000) %}x{% endfor %}", false),
        (
            "nested loops of 10^5 x 10^5",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            false,
        ),
        (
            "string doubled 64 times",
            "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            false,
        ),
        ("string times 10^10", "{{ 'x' * 10000000000 }}", false),
        ("list of 10^9", "{{ range(1000000000) | list | length }}", false),
        ("list times 10^9", "{{ ([1] * 1000000000) | length }}", false),
        (
            "a macro calling itself",
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            false,
        ),
        ("raise_exception", "{{ raise_exception('no system role') }}", false),
        ("an unknown function", "{{ no_such_function() }}", false),
        ("an unknown filter", "{{ messages | no_such_filter }}", false),
        ("division by zero", "{{ 1 // 0 }}", false),
        ("include", "{% include 'other.jinja' %}", false),
        ("extends", "{% extends 'base.jinja' %}", false),
        ("import", "{% import 'macros.jinja' as m %}{{ m.x() }}", false),
        // Rendering nothing leaves no prompt: a clean error or a run on BOS alone.
        ("renders nothing", "", true),
        ("an index past the messages", "{{ messages[5].content }}", true),
    ];
    let mut cases: Vec<Case> = templates
        .into_iter()
        .enumerate()
        .map(|(i, (name, text, ok))| {
            let mut m = TinyGguf::llama();
            m.set("tokenizer.chat_template", MetaValue::String(text.into()));
            let c = run_case(GROUP, i, format!("template: {name}"), &m).args(["--chat"]);
            if ok {
                c.or_ok()
            } else {
                c
            }
        })
        .collect();
    let n = cases.len();
    for (j, (name, v)) in [
        ("a number", MetaValue::U32(7)),
        ("an array", MetaValue::Array(MetaArray::I32(vec![1, 2]))),
    ]
    .into_iter()
    .enumerate()
    {
        let mut m = TinyGguf::llama();
        m.set("tokenizer.chat_template", v);
        cases.push(run_case(GROUP, n + j, format!("template is {name}"), &m).args(["--chat"]));
    }
    // --chat-template naming a file that is not one, or no built-in.
    let n = cases.len();
    for (j, (arg, mention)) in [
        ("no-such-template", "no-such-template"),
        ("missing.jinja", "missing.jinja"),
        ("/dev/zero", "/dev/zero"),
        (".", "."),
    ]
    .into_iter()
    .enumerate()
    {
        cases.push(
            run_case(
                GROUP,
                n + j,
                format!("--chat-template {arg}"),
                &TinyGguf::llama(),
            )
            .args(["--chat", "--chat-template", arg])
            .mentions(mention),
        );
    }
    cases
}
