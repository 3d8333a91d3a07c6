/*
 * edgelm.h: the C API of the edgelm runtime (libedgelm.a).
 *
 * Load a GGUF model, tokenize, and generate text with a per-token callback, from C,
 * C++, Swift (via a bridging header or module map) or JNI glue code.
 *
 *   edgelm_model *model;
 *   if (edgelm_model_load("model.gguf", &model) != EDGELM_OK)
 *       fprintf(stderr, "%s\n", edgelm_last_error());
 *   edgelm_session_options opts = edgelm_session_default_options();
 *   edgelm_session *session;
 *   edgelm_session_new(model, &opts, &session);
 *   edgelm_report report;
 *   edgelm_generate(session, "Hello", false, 64, on_piece, NULL, &report);
 *   edgelm_session_free(session);
 *   edgelm_model_free(model);
 *
 * Conventions
 * - Every fallible function returns an edgelm_status; EDGELM_OK is 0. On failure,
 *   edgelm_last_error() gives a message naming the file, argument or limit involved.
 * - Handles are opaque. A session holds a reference to its model: the two may be freed
 *   in either order. Freeing NULL does nothing.
 * - Strings are UTF-8 and NUL-terminated. Results that are arrays or text go into
 *   caller buffers: the needed count is always written to the count/length
 *   out-parameter, and a buffer that is too small gives EDGELM_ERR_BUFFER_TOO_SMALL
 *   (so a call with capacity 0 asks for the size).
 * - Threads: a model may be shared by any number of threads and sessions. A session
 *   runs one generation at a time (a second concurrent edgelm_generate on it returns
 *   EDGELM_ERR_BUSY); edgelm_cancel may be called on it from any thread.
 * - No Rust panic crosses this boundary: an internal error returns
 *   EDGELM_ERR_INTERNAL.
 *
 * Linking: libedgelm.a plus the system libraries Rust's std uses; rustc prints the
 * exact list (`cargo rustc -p edgelm-capi --lib --crate-type staticlib --
 * --print native-static-libs`). Linux (glibc): -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc;
 * Android: -ldl -llog -lunwind -lm -lc; iOS: -liconv -lSystem -lc -lm.
 */
#ifndef EDGELM_H
#define EDGELM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status codes -------------------------------------------------------------- */

typedef int edgelm_status;

#define EDGELM_OK 0
/* A NULL pointer, text that is not UTF-8, an option out of range, an empty prompt. */
#define EDGELM_ERR_INVALID_ARGUMENT 1
/* The model file cannot be opened or mapped. */
#define EDGELM_ERR_IO 2
/* The file is not a valid GGUF file, or holds a model or tokenizer edgelm cannot run. */
#define EDGELM_ERR_BAD_MODEL 3
/* The prompt has more tokens than the session's context holds. */
#define EDGELM_ERR_PROMPT_TOO_LONG 4
/* A caller buffer is too small; the needed size was written to the out-parameter. */
#define EDGELM_ERR_BUFFER_TOO_SMALL 5
/* The model has no chat template, or rendering it failed. */
#define EDGELM_ERR_CHAT_TEMPLATE 6
/* The session is already generating on another thread. */
#define EDGELM_ERR_BUSY 7
/* The operating system refused a resource (e.g. worker threads). */
#define EDGELM_ERR_SYSTEM 8
/* A bug in edgelm, caught at the boundary; the message says where. */
#define EDGELM_ERR_INTERNAL 9

/* A fixed, static description of a status code (never NULL). */
const char *edgelm_status_message(edgelm_status status);

/* The message of this thread's last failed call, or "" if its last call succeeded.
 * Valid until the next edgelm call on the same thread. Never NULL. */
const char *edgelm_last_error(void);

/* The library version, e.g. "0.1.0" (static). */
const char *edgelm_version(void);

/* ---- Model --------------------------------------------------------------------- */

typedef struct edgelm_model edgelm_model;

typedef struct edgelm_model_info {
    uint32_t vocab_size;
    uint32_t n_ctx_train;      /* the longest context the model was trained for */
    uint32_t n_layer;
    uint32_t n_embd;
    double load_ms;            /* time edgelm_model_load took */
    double file_mib;           /* size of the mapped file */
    bool has_chat_template;    /* whether chat = true / edgelm_chat_format can work */
} edgelm_model_info;

/* Memory-maps a GGUF file (weights are read in place, not copied) and builds its
 * tokenizer. On success *out is the model; on failure *out is NULL. */
edgelm_status edgelm_model_load(const char *path, edgelm_model **out);

void edgelm_model_free(edgelm_model *model);

edgelm_status edgelm_model_get_info(const edgelm_model *model, edgelm_model_info *info);

/* Token ids of text. add_special adds BOS/EOS as the model's metadata asks;
 * parse_special lets control tokens written in the text ("<|im_start|>") be matched.
 * tokens may be NULL when capacity is 0; *n_tokens gets the count. */
edgelm_status edgelm_tokenize(const edgelm_model *model, const char *text, bool add_special,
                              bool parse_special, uint32_t *tokens, size_t capacity,
                              size_t *n_tokens);

/* Text of tokens (control tokens print nothing; invalid UTF-8 becomes U+FFFD), with a
 * terminating NUL: capacity must be at least *length + 1. */
edgelm_status edgelm_detokenize(const edgelm_model *model, const uint32_t *tokens,
                                size_t n_tokens, char *text, size_t capacity, size_t *length);

/* ---- Chat ---------------------------------------------------------------------- */

typedef struct edgelm_chat_message {
    const char *role;     /* "system", "user" or "assistant" */
    const char *content;
} edgelm_chat_message;

/* Renders a conversation with the model's chat template (tokenizer.chat_template);
 * add_generation_prompt opens the assistant's turn. Pass the result to edgelm_generate
 * with chat = false. text/capacity/length as in edgelm_detokenize. */
edgelm_status edgelm_chat_format(const edgelm_model *model, const edgelm_chat_message *messages,
                                 size_t n_messages, bool add_generation_prompt, char *text,
                                 size_t capacity, size_t *length);

/* ---- Session ------------------------------------------------------------------- */

typedef struct edgelm_session edgelm_session;

/* seed value: draw a new seed from the clock at each generation. */
#define EDGELM_SEED_RANDOM UINT64_MAX

typedef struct edgelm_session_options {
    uint32_t n_ctx;          /* context in tokens; 0: min(model's n_ctx_train, 4096) */
    uint32_t n_batch;        /* prompt tokens per forward pass; 0: 64 */
    uint32_t n_threads;      /* worker threads; 0: one per performance core */
    float temperature;       /* <= 0: greedy */
    uint32_t top_k;          /* 0: off */
    float top_p;             /* 0 < p <= 1; 1: off */
    float min_p;             /* 0 <= p <= 1; 0: off */
    float repeat_penalty;    /* > 0; 1: off */
    uint32_t repeat_last_n;  /* tokens the repeat penalty looks back over */
    uint64_t seed;           /* a fixed seed repeats a run; or EDGELM_SEED_RANDOM */
    bool precise;            /* reference mode: f32 weights math and f32 KV cache (slower) */
} edgelm_session_options;

/* The defaults of `edgelm run` (llama.cpp's sampling chain): temperature 0.8, top_k 40,
 * top_p 0.95, min_p 0.05, repeat_penalty 1, repeat_last_n 64, random seed. */
edgelm_session_options edgelm_session_default_options(void);

/* A session over model with its own KV cache and worker threads. options may be NULL
 * (defaults). On failure *out is NULL. */
edgelm_status edgelm_session_new(const edgelm_model *model, const edgelm_session_options *options,
                                 edgelm_session **out);

/* Must not be called while the session is generating. */
void edgelm_session_free(edgelm_session *session);

/* ---- Generation ---------------------------------------------------------------- */

/* Token id given with text that belongs to no single token (the tail of an incomplete
 * UTF-8 character flushed at the end). */
#define EDGELM_TOKEN_NONE UINT32_MAX

/* Called for each generated token, on the thread that called edgelm_generate.
 * piece: the text completed by this token, NUL-terminated, len bytes without the NUL;
 * whole UTF-8 characters only, so it may be empty (a token holding part of a
 * character, or a control token such as the end-of-generation token). Valid only
 * during the call. Return 0 to continue, anything else to stop. */
typedef int (*edgelm_token_callback)(const char *piece, size_t len, uint32_t token,
                                     void *user_data);

#define EDGELM_STOP_NONE 0
#define EDGELM_STOP_END_OF_GENERATION 1 /* the model produced EOS/EOT */
#define EDGELM_STOP_MAX_TOKENS 2
#define EDGELM_STOP_CONTEXT_FULL 3
#define EDGELM_STOP_CALLBACK 4          /* the callback returned nonzero */
#define EDGELM_STOP_CANCELLED 5         /* edgelm_cancel */

typedef struct edgelm_report {
    double load_ms;           /* model load time */
    double ttft_ms;           /* from the start of the prompt to the first token */
    double prefill_ms;
    double prefill_tok_s;     /* prompt tokens per second */
    double decode_ms;
    double decode_tok_s;      /* generated tokens per second (single-token passes) */
    double peak_rss_mib;      /* peak resident memory of the process; -1 if unknown (iOS) */
    double model_mapped_mib;
    double kv_cache_mib;
    uint32_t prompt_tokens;
    uint32_t generated_tokens; /* tokens passed to the callback */
    uint32_t n_ctx;
    uint32_t n_threads;
    int32_t stop_reason;      /* EDGELM_STOP_* */
} edgelm_report;

/* Generates up to max_tokens (0: until end of generation or a full context) after
 * prompt, starting from an empty context. With chat, the prompt becomes one user
 * message in the model's chat template (as `edgelm run --chat`); without, special
 * tokens written in the prompt are still recognised. callback may be NULL; report may be
 * NULL, else it is filled on success (zeroed on failure). Stopping by callback or
 * cancel is a success (see report->stop_reason). */
edgelm_status edgelm_generate(edgelm_session *session, const char *prompt, bool chat,
                              uint32_t max_tokens, edgelm_token_callback callback,
                              void *user_data, edgelm_report *report);

/* Asks the session's running edgelm_generate to stop; it returns after the forward pass
 * in progress (the prompt's, if it is still being read) with EDGELM_STOP_CANCELLED.
 * Thread-safe; also callable from the callback. A cancel while no generation runs has
 * no effect: each edgelm_generate starts uncancelled. */
void edgelm_cancel(edgelm_session *session);

#ifdef __cplusplus
}
#endif

#endif /* EDGELM_H */
