//! Messages that say what happened and what to do: a Hugging Face checkpoint where a
//! GGUF file belongs names edgelm-compress; perplexity's token counts are the text's.

use std::process::Command;

use edgelm_runtime::gguf::GgufFile;
use edgelm_runtime::tokenizer::Tokenizer;
use edgelm_tests::{fixtures_dir, workspace_bin};

fn edgelm(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(workspace_bin("edgelm"))
        .args(args)
        .output()
        .expect("start edgelm");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_checkpoint_folder_is_named_and_the_compress_command_given() {
    let dir = std::env::temp_dir().join(format!("edgelm-hf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), "{}").unwrap();
    std::fs::write(dir.join("model.safetensors"), "").unwrap();
    let d = dir.to_str().unwrap();
    let st = dir.join("model.safetensors");
    let text = fixtures_dir().join("tiny/README.md");
    for args in [
        vec!["run", "-m", d, "-p", "hi"],
        vec!["info", "-m", d],
        vec!["info", d],
        vec!["plan", "-m", d],
        vec!["perplexity", "-m", d, "-f", text.to_str().unwrap()],
        vec!["bench", "-m", d],
        vec!["run", "-m", st.to_str().unwrap(), "-p", "hi"],
    ] {
        let (code, err) = edgelm(&args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(err.contains("Hugging Face checkpoint"), "{args:?}: {err}");
        assert!(
            err.contains(&format!("edgelm-compress -i {d} -o model.gguf -q Q4_K_M")),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    // A folder that is no checkpoint is called a folder.
    std::fs::remove_file(dir.join("config.json")).unwrap();
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let (code, err) = edgelm(&["run", "-m", d, "-p", "hi"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("{d}: a folder, not a GGUF file")),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn perplexity_counts_the_texts_tokens() {
    let model = fixtures_dir().join("tiny/llama.gguf");
    let tok = Tokenizer::from_gguf(&GgufFile::open(&model).unwrap()).unwrap();
    let path = std::env::temp_dir().join(format!("edgelm-ppl-{}.txt", std::process::id()));
    let text = "the quick brown fox jumps over the lazy dog. ".repeat(40);
    std::fs::write(&path, &text).unwrap();
    let n = tok.encode(&text, true, false).len();
    assert!(n > 100);
    let (m, p) = (model.to_str().unwrap(), path.to_str().unwrap());
    // Too small a chunk: said so, with the text's real count.
    let (code, err) = edgelm(&["perplexity", "-m", m, "-f", p, "-c", "1"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("-c/--ctx 1: too small"), "{err}");
    assert!(err.contains(&format!("has {n} tokens")), "{err}");
    // Too large a chunk: the count is the text's, not what --chunks keeps of it.
    let (code, err) = edgelm(&[
        "perplexity",
        "-m",
        m,
        "-f",
        p,
        "-c",
        "100000",
        "--chunks",
        "1",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("the text has {n} tokens")), "{err}");
    std::fs::remove_file(&path).ok();
}
