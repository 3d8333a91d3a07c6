//! Hugging Face `config.json` and `tokenizer.json` turned into GGUF metadata.
