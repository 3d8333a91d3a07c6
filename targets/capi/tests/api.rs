//! The C API called through its Rust definitions: results against Hugging Face's
//! (`fixtures/expected.json`, made by `fixtures/make_expected.py`), error codes and
//! messages, buffer-size queries, and the threading contract (callback on the caller's
//! thread, cancel from another thread, one generation per session at a time).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};
use std::sync::mpsc::{channel, Receiver, Sender};

use edgelm::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn expected() -> serde_json::Value {
    let path = root().join("targets/capi/tests/fixtures/expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn json_ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn last_error() -> String {
    // SAFETY: edgelm_last_error never returns NULL and the string lives until our next call.
    unsafe { CStr::from_ptr(edgelm_last_error()) }
        .to_str()
        .unwrap()
        .to_string()
}

/// Owns a model handle for a test.
struct Model(*mut edgelm_model);

impl Model {
    fn tiny() -> Model {
        let path = c(root()
            .join("tests/fixtures/tiny/llama.gguf")
            .to_str()
            .unwrap());
        let mut m = null_mut();
        // SAFETY: valid string and out-pointer.
        let st = unsafe { edgelm_model_load(path.as_ptr(), &mut m) };
        assert_eq!(st, EDGELM_OK, "{}", last_error());
        Model(m)
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: from edgelm_model_load, freed once.
        unsafe { edgelm_model_free(self.0) }
    }
}

struct Session(*mut edgelm_session);

// SAFETY: the API allows a session to be used from any thread, one generation at a time.
unsafe impl Send for Session {}
// SAFETY: edgelm_generate serialises itself (EDGELM_ERR_BUSY) and edgelm_cancel is atomic.
unsafe impl Sync for Session {}

impl Session {
    fn new(model: &Model, opts: &edgelm_session_options) -> Session {
        let mut s = null_mut();
        // SAFETY: live model, valid options and out-pointer.
        let st = unsafe { edgelm_session_new(model.0, opts, &mut s) };
        assert_eq!(st, EDGELM_OK, "{}", last_error());
        Session(s)
    }

    fn greedy(model: &Model) -> Session {
        Session::new(
            model,
            &edgelm_session_options {
                temperature: 0.0,
                precise: true,
                // Not the CPU count of a 2-core CI machine (nor a common one): a session
                // that ignored it would run on the global pool's count instead.
                n_threads: 3,
                ..edgelm_session_default_options()
            },
        )
    }

    /// Generates with `cb` as the callback and `user` as its data.
    fn generate<T>(
        &self,
        prompt: &str,
        chat: bool,
        max: u32,
        cb: edgelm_token_callback,
        user: &mut T,
    ) -> (Status, edgelm_report) {
        let p = c(prompt);
        let mut r = edgelm_report::default();
        // SAFETY: live session, valid prompt; `user` outlives the call and matches `cb`.
        let st = unsafe {
            edgelm_generate(
                self.0,
                p.as_ptr(),
                chat,
                max,
                cb,
                (user as *mut T).cast(),
                &mut r,
            )
        };
        (st, r)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: from edgelm_session_new, freed once, not generating.
        unsafe { edgelm_session_free(self.0) }
    }
}

/// What the collecting callback saw.
#[derive(Default)]
struct Seen {
    text: Vec<u8>,
    ids: Vec<u32>,
    threads: Vec<std::thread::ThreadId>,
    /// Ask to stop once this many tokens were seen (0: never).
    stop_after: usize,
}

unsafe extern "C" fn collect(
    piece: *const c_char,
    len: usize,
    token: u32,
    user: *mut c_void,
) -> c_int {
    // SAFETY: `user` is the `Seen` given to edgelm_generate.
    let seen = unsafe { &mut *user.cast::<Seen>() };
    // SAFETY: the API passes `len` readable bytes followed by a NUL.
    let bytes = unsafe { std::slice::from_raw_parts(piece.cast::<u8>(), len + 1) };
    assert_eq!(bytes[len], 0, "piece is NUL-terminated");
    seen.text.extend_from_slice(&bytes[..len]);
    seen.threads.push(std::thread::current().id());
    if token != EDGELM_TOKEN_NONE {
        seen.ids.push(token);
    }
    c_int::from(seen.stop_after != 0 && seen.ids.len() >= seen.stop_after)
}

fn tokenize(m: &Model, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
    let t = c(text);
    let mut n = 0usize;
    // SAFETY: a size query: NULL buffer with capacity 0.
    let st = unsafe {
        edgelm_tokenize(
            m.0,
            t.as_ptr(),
            add_special,
            parse_special,
            null_mut(),
            0,
            &mut n,
        )
    };
    assert!(st == EDGELM_OK || st == EDGELM_ERR_BUFFER_TOO_SMALL);
    let mut ids = vec![0u32; n];
    let mut n2 = 0usize;
    // SAFETY: `ids` holds `n` elements.
    let st = unsafe {
        edgelm_tokenize(
            m.0,
            t.as_ptr(),
            add_special,
            parse_special,
            ids.as_mut_ptr(),
            n,
            &mut n2,
        )
    };
    assert_eq!(st, EDGELM_OK, "{}", last_error());
    assert_eq!(n2, n);
    ids
}

#[test]
fn tokenize_detokenize_and_chat_match_hugging_face() {
    let exp = expected();
    let m = Model::tiny();
    let prompt = exp["prompt"].as_str().unwrap();
    assert_eq!(
        tokenize(&m, prompt, true, true),
        json_ids(&exp["prompt_ids"])
    );

    // Detokenize: a short buffer reports the size, then the text comes back whole.
    let ids = json_ids(&exp["greedy_ids"]);
    let want = exp["greedy_text"].as_str().unwrap();
    let mut len = 0usize;
    let mut small = [0 as c_char; 4];
    // SAFETY: `small` holds 4 bytes.
    let st = unsafe {
        edgelm_detokenize(
            m.0,
            ids.as_ptr(),
            ids.len(),
            small.as_mut_ptr(),
            4,
            &mut len,
        )
    };
    assert_eq!(st, EDGELM_ERR_BUFFER_TOO_SMALL);
    assert_eq!(len, want.len());
    assert!(last_error().contains("needs"), "{}", last_error());
    let mut buf = vec![0 as c_char; len + 1];
    // SAFETY: `buf` holds len + 1 bytes.
    let st = unsafe {
        edgelm_detokenize(
            m.0,
            ids.as_ptr(),
            ids.len(),
            buf.as_mut_ptr(),
            len + 1,
            &mut len,
        )
    };
    assert_eq!(st, EDGELM_OK);
    assert_eq!(last_error(), "", "a success clears the message");
    // SAFETY: NUL-terminated by the API.
    assert_eq!(
        unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap(),
        want
    );

    for (name, case) in exp["chats"].as_object().unwrap() {
        let msgs: Vec<(CString, CString)> = case["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    c(m["role"].as_str().unwrap()),
                    c(m["content"].as_str().unwrap()),
                )
            })
            .collect();
        let raw: Vec<edgelm_chat_message> = msgs
            .iter()
            .map(|(r, t)| edgelm_chat_message {
                role: r.as_ptr(),
                content: t.as_ptr(),
            })
            .collect();
        let mut len = 0usize;
        // SAFETY: size query.
        let st = unsafe {
            edgelm_chat_format(m.0, raw.as_ptr(), raw.len(), true, null_mut(), 0, &mut len)
        };
        assert_eq!(st, EDGELM_ERR_BUFFER_TOO_SMALL, "{name}");
        let mut buf = vec![0 as c_char; len + 1];
        // SAFETY: `buf` holds len + 1 bytes.
        let st = unsafe {
            edgelm_chat_format(
                m.0,
                raw.as_ptr(),
                raw.len(),
                true,
                buf.as_mut_ptr(),
                len + 1,
                &mut len,
            )
        };
        assert_eq!(st, EDGELM_OK, "{name}: {}", last_error());
        // SAFETY: NUL-terminated by the API.
        let text = unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(text, case["text"].as_str().unwrap(), "{name}");
        assert_eq!(
            tokenize(&m, &text, true, true),
            json_ids(&case["ids"]),
            "{name}"
        );
    }
}

#[test]
fn model_info_describes_the_tiny_model() {
    let m = Model::tiny();
    let mut info = edgelm_model_info::default();
    // SAFETY: live model, writable info.
    assert_eq!(unsafe { edgelm_model_get_info(m.0, &mut info) }, EDGELM_OK);
    assert_eq!(
        (info.vocab_size, info.n_layer, info.n_embd, info.n_ctx_train),
        (49152, 2, 64, 512)
    );
    assert!(info.has_chat_template);
    assert!((info.file_mib - 8_210_656.0 / 1048576.0).abs() < 1e-9);
    assert!(info.load_ms > 0.0);
}

#[test]
fn greedy_generation_streams_the_reference_on_the_calling_thread() {
    let exp = expected();
    let m = Model::tiny();
    let s = Session::greedy(&m);
    // The session keeps the model alive once the caller lets go of it.
    drop(m);
    let prompt = exp["prompt"].as_str().unwrap();
    for _ in 0..2 {
        // Twice: each call starts from an empty context.
        let mut seen = Seen::default();
        let (st, r) = s.generate(prompt, false, 8, Some(collect), &mut seen);
        assert_eq!(st, EDGELM_OK, "{}", last_error());
        assert_eq!(seen.ids, json_ids(&exp["greedy_ids"]));
        assert_eq!(
            String::from_utf8(seen.text).unwrap(),
            exp["greedy_text"].as_str().unwrap()
        );
        let me = std::thread::current().id();
        assert!(
            seen.threads.iter().all(|&t| t == me),
            "callback on another thread"
        );
        assert_eq!(r.stop_reason, EDGELM_STOP_MAX_TOKENS);
        assert_eq!((r.prompt_tokens, r.generated_tokens), (8, 8));
        assert_eq!((r.n_ctx, r.n_threads), (512, 3));
        assert!(r.ttft_ms > 0.0 && r.prefill_tok_s > 0.0 && r.decode_tok_s > 0.0);
        assert!(r.load_ms > 0.0 && r.peak_rss_mib > 1.0 && r.kv_cache_mib > 0.0);
    }

    // Stopping from the callback.
    let mut seen = Seen {
        stop_after: 3,
        ..Seen::default()
    };
    let (st, r) = s.generate(prompt, false, 8, Some(collect), &mut seen);
    assert_eq!(st, EDGELM_OK);
    assert_eq!(seen.ids, json_ids(&exp["greedy_ids"])[..3]);
    assert_eq!(
        (r.stop_reason, r.generated_tokens),
        (EDGELM_STOP_CALLBACK, 3)
    );

    // No callback, no report: still runs.
    let p = c(prompt);
    // SAFETY: live session and prompt; NULL callback and report are allowed.
    let st = unsafe { edgelm_generate(s.0, p.as_ptr(), false, 4, None, null_mut(), null_mut()) };
    assert_eq!(st, EDGELM_OK);
}

#[test]
fn chat_generation_ends_at_the_context_or_end_token() {
    let exp = expected();
    let case = &exp["chats"]["one_user_turn"];
    let question = case["messages"][0]["content"].as_str().unwrap();
    let prompt_len = json_ids(&case["ids"]).len() as u32;
    let m = Model::tiny();
    let n_ctx = prompt_len + 16;
    let opts = edgelm_session_options {
        n_ctx,
        seed: 11,
        ..edgelm_session_default_options()
    };
    let s = Session::new(&m, &opts);
    let mut seen = Seen::default();
    // max_tokens 0: until an end token or a full context.
    let (st, r) = s.generate(question, true, 0, Some(collect), &mut seen);
    assert_eq!(st, EDGELM_OK, "{}", last_error());
    // The prompt is the question in the chat template, as Hugging Face renders it.
    assert_eq!(r.prompt_tokens, prompt_len);
    // The last sampled token never needs a cache slot, so a full context ends one past it.
    let total = r.prompt_tokens + r.generated_tokens;
    match r.stop_reason {
        EDGELM_STOP_CONTEXT_FULL => assert_eq!(total, n_ctx + 1),
        EDGELM_STOP_END_OF_GENERATION => assert!(total <= n_ctx + 1),
        other => panic!("stop reason {other}"),
    }
    assert_eq!(seen.ids.len(), r.generated_tokens as usize);
    // The same seed repeats the run.
    let mut again = Seen::default();
    s.generate(question, true, 0, Some(collect), &mut again);
    assert_eq!(again.ids, seen.ids);
}

/// Blocks inside the callback at token 2 until the main thread has done its checks.
struct Gate {
    at_two: Sender<()>,
    go_on: Receiver<()>,
    ids: Vec<u32>,
}

unsafe extern "C" fn gate(_: *const c_char, _: usize, token: u32, user: *mut c_void) -> c_int {
    // SAFETY: `user` is the `Gate` given to edgelm_generate.
    let g = unsafe { &mut *user.cast::<Gate>() };
    g.ids.push(token);
    if g.ids.len() == 2 {
        g.at_two.send(()).unwrap();
        g.go_on.recv().unwrap();
    }
    0
}

#[test]
fn cancel_from_another_thread_and_busy_while_generating() {
    let exp = expected();
    let m = Model::tiny();
    let s = Session::greedy(&m);
    let prompt = exp["prompt"].as_str().unwrap();
    let (at_two_tx, at_two_rx) = channel();
    let (go_on_tx, go_on_rx) = channel();
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let mut g = Gate {
                at_two: at_two_tx,
                go_on: go_on_rx,
                ids: Vec::new(),
            };
            let (st, r) = s.generate(prompt, false, 8, Some(gate), &mut g);
            (st, r, g.ids)
        });
        at_two_rx.recv().unwrap();
        // While the worker is inside a generation: a second one is refused...
        let mut seen = Seen::default();
        let (st, _) = s.generate(prompt, false, 8, Some(collect), &mut seen);
        assert_eq!(st, EDGELM_ERR_BUSY);
        assert!(
            last_error().contains("already generating"),
            "{}",
            last_error()
        );
        assert!(seen.ids.is_empty());
        // ...and a cancel from this thread stops it before the next token reaches it.
        // SAFETY: live session; cancel is thread-safe.
        unsafe { edgelm_cancel(s.0) };
        go_on_tx.send(()).unwrap();
        let (st, r, ids) = worker.join().unwrap();
        assert_eq!(st, EDGELM_OK);
        assert_eq!(r.stop_reason, EDGELM_STOP_CANCELLED);
        assert_eq!(ids, json_ids(&exp["greedy_ids"])[..2]);
        assert_eq!(r.generated_tokens, 2);
    });
    // A cancel is spent: the next generation runs to the end.
    let mut seen = Seen::default();
    let (st, r) = s.generate(prompt, false, 8, Some(collect), &mut seen);
    assert_eq!((st, r.stop_reason), (EDGELM_OK, EDGELM_STOP_MAX_TOKENS));
    assert_eq!(seen.ids, json_ids(&exp["greedy_ids"]));
}

#[test]
fn bad_arguments_give_codes_and_messages() {
    let mut m = null_mut();
    let missing = c(root()
        .join("tests/fixtures/tiny/missing.gguf")
        .to_str()
        .unwrap());
    // SAFETY: valid pointers throughout; NULLs where the test says so.
    unsafe {
        assert_eq!(edgelm_model_load(missing.as_ptr(), &mut m), EDGELM_ERR_IO);
        assert!(m.is_null());
        assert!(last_error().contains("missing.gguf"), "{}", last_error());
        assert_eq!(
            edgelm_model_load(null(), &mut m),
            EDGELM_ERR_INVALID_ARGUMENT
        );
        assert_eq!(last_error(), "path is NULL");
        assert_eq!(
            edgelm_model_load(missing.as_ptr(), null_mut()),
            EDGELM_ERR_INVALID_ARGUMENT
        );
        let not_gguf = c(root().join("targets/capi/tests/layout.c").to_str().unwrap());
        assert_eq!(
            edgelm_model_load(not_gguf.as_ptr(), &mut m),
            EDGELM_ERR_BAD_MODEL
        );
        assert!(last_error().contains("layout.c"), "{}", last_error());
        // Freeing NULL is allowed.
        edgelm_model_free(null_mut());
        edgelm_session_free(null_mut());
        edgelm_cancel(null());
    }

    let model = Model::tiny();
    let text = c("hello");
    let bad_utf8 = [0xffu8 as c_char, b'a' as c_char, 0];
    let mut n = 0usize;
    let mut ids = [0u32; 1];
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            edgelm_tokenize(null(), text.as_ptr(), true, true, null_mut(), 0, &mut n),
            EDGELM_ERR_INVALID_ARGUMENT
        );
        assert_eq!(last_error(), "model is NULL");
        assert_eq!(
            edgelm_tokenize(
                model.0,
                bad_utf8.as_ptr(),
                true,
                true,
                null_mut(),
                0,
                &mut n
            ),
            EDGELM_ERR_INVALID_ARGUMENT
        );
        assert!(
            last_error().starts_with("text is not valid UTF-8"),
            "{}",
            last_error()
        );
        // "hello world" is two tokens; a buffer of one reports two.
        let two = c("hello world");
        assert_eq!(
            edgelm_tokenize(
                model.0,
                two.as_ptr(),
                false,
                false,
                ids.as_mut_ptr(),
                1,
                &mut n
            ),
            EDGELM_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(n, 2);
        // Capacity claimed but no buffer.
        assert_eq!(
            edgelm_tokenize(model.0, two.as_ptr(), false, false, null_mut(), 8, &mut n),
            EDGELM_ERR_INVALID_ARGUMENT
        );
    }

    let mut s = null_mut();
    for (opts, what) in [
        (
            edgelm_session_options {
                top_p: 0.0,
                ..edgelm_session_default_options()
            },
            "top_p",
        ),
        (
            edgelm_session_options {
                min_p: 2.0,
                ..edgelm_session_default_options()
            },
            "min_p",
        ),
        (
            edgelm_session_options {
                temperature: f32::NAN,
                ..edgelm_session_default_options()
            },
            "temperature",
        ),
        (
            edgelm_session_options {
                repeat_penalty: 0.0,
                ..edgelm_session_default_options()
            },
            "repeat_penalty",
        ),
        (
            edgelm_session_options {
                n_ctx: 100_000,
                ..edgelm_session_default_options()
            },
            "context length 512",
        ),
    ] {
        // SAFETY: valid pointers.
        let st = unsafe { edgelm_session_new(model.0, &opts, &mut s) };
        assert_eq!(st, EDGELM_ERR_INVALID_ARGUMENT, "{what}");
        assert!(s.is_null());
        assert!(last_error().contains(what), "{what}: {}", last_error());
    }

    // A prompt longer than the context; an empty prompt.
    let small = Session::new(
        &model,
        &edgelm_session_options {
            n_ctx: 4,
            ..edgelm_session_default_options()
        },
    );
    let mut seen = Seen::default();
    let (st, r) = small.generate(
        "one two three four five six",
        false,
        4,
        Some(collect),
        &mut seen,
    );
    assert_eq!(st, EDGELM_ERR_PROMPT_TOO_LONG);
    assert!(last_error().contains("context holds 4"), "{}", last_error());
    assert_eq!(
        r.stop_reason, EDGELM_STOP_NONE,
        "the report is zeroed on failure"
    );
    let (st, _) = small.generate("", false, 4, Some(collect), &mut seen);
    assert_eq!(st, EDGELM_ERR_INVALID_ARGUMENT);
    assert!(last_error().contains("empty"), "{}", last_error());
    assert!(seen.ids.is_empty());

    // Status messages: every code has its own; unknown codes say so.
    for (code, msg) in STATUS_MESSAGES {
        // SAFETY: static strings.
        let got = unsafe { CStr::from_ptr(edgelm_status_message(code)) };
        assert_eq!(got, msg);
    }
    // SAFETY: static strings.
    unsafe {
        assert_eq!(
            CStr::from_ptr(edgelm_status_message(-1)),
            c"unknown status code"
        );
        assert_eq!(
            CStr::from_ptr(edgelm_version()).to_str().unwrap(),
            env!("CARGO_PKG_VERSION")
        );
    }
}
