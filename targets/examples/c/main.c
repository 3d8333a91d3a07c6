/*
 * edgelm C example: load a model, tokenize a prompt, stream a generation, print the
 * report. Exits non-zero on any error, with edgelm's message.
 *
 *   edgelm_example MODEL.gguf PROMPT [-n N] [--greedy] [--precise] [--chat]
 *                  [--seed S] [--threads T] [--ctx C]
 *                  [--stop-after K]    the callback asks to stop after K tokens
 *                  [--cancel-after K]  edgelm_cancel() after K tokens (an app calls it
 *                                      from its UI thread; here from the callback)
 *
 * stdout: the generated text as it streams. stderr: prompt ids, generated ids, report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm.h"

typedef struct {
    edgelm_session *session;
    unsigned stop_after;   /* 0: never */
    unsigned cancel_after; /* 0: never */
    unsigned seen;
    uint32_t ids[4096];
    size_t n_ids;
} stream_state;

static int on_piece(const char *piece, size_t len, uint32_t token, void *user_data) {
    stream_state *st = (stream_state *)user_data;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    if (token == EDGELM_TOKEN_NONE)
        return 0; /* the flushed tail of a character, not a token */
    if (st->n_ids < sizeof st->ids / sizeof st->ids[0])
        st->ids[st->n_ids++] = token;
    st->seen++;
    if (st->cancel_after && st->seen == st->cancel_after)
        edgelm_cancel(st->session);
    return st->stop_after && st->seen >= st->stop_after;
}

static const char *stop_name(int reason) {
    switch (reason) {
    case EDGELM_STOP_END_OF_GENERATION: return "end_of_generation";
    case EDGELM_STOP_MAX_TOKENS: return "max_tokens";
    case EDGELM_STOP_CONTEXT_FULL: return "context_full";
    case EDGELM_STOP_CALLBACK: return "callback";
    case EDGELM_STOP_CANCELLED: return "cancelled";
    default: return "none";
    }
}

/* Prints edgelm's message for a failed call and returns 1 (the exit status). */
static int fail(const char *what, edgelm_status st) {
    fprintf(stderr, "error: %s: %s (%d): %s\n", what, edgelm_status_message(st), st,
            edgelm_last_error());
    return 1;
}

static int usage(void) {
    fprintf(stderr, "usage: edgelm_example MODEL.gguf PROMPT [-n N] [--greedy] [--precise] "
                    "[--chat] [--seed S] [--threads T] [--ctx C] [--stop-after K] "
                    "[--cancel-after K]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return usage();
    const char *path = argv[1], *prompt = argv[2];
    unsigned max_tokens = 32;
    bool chat = false;
    static stream_state st; /* static: the id buffer is large */
    edgelm_session_options opts = edgelm_session_default_options();
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--greedy")) opts.temperature = 0.0f;
        else if (!strcmp(a, "--precise")) opts.precise = true;
        else if (!strcmp(a, "--chat")) chat = true;
        else if (!v) return usage();
        else if (!strcmp(a, "-n")) max_tokens = (unsigned)strtoul(v, NULL, 10), i++;
        else if (!strcmp(a, "--seed")) opts.seed = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--threads")) opts.n_threads = (uint32_t)strtoul(v, NULL, 10), i++;
        else if (!strcmp(a, "--ctx")) opts.n_ctx = (uint32_t)strtoul(v, NULL, 10), i++;
        else if (!strcmp(a, "--stop-after")) st.stop_after = (unsigned)strtoul(v, NULL, 10), i++;
        else if (!strcmp(a, "--cancel-after")) st.cancel_after = (unsigned)strtoul(v, NULL, 10), i++;
        else return usage();
    }

    fprintf(stderr, "edgelm %s\n", edgelm_version());
    edgelm_model *model = NULL;
    edgelm_status s = edgelm_model_load(path, &model);
    if (s != EDGELM_OK)
        return fail("loading the model", s);

    edgelm_model_info info;
    s = edgelm_model_get_info(model, &info);
    if (s != EDGELM_OK) {
        edgelm_model_free(model);
        return fail("model info", s);
    }
    fprintf(stderr, "model: vocab %u, %u layers, context %u, %.1f MiB, loaded in %.1f ms\n",
            info.vocab_size, info.n_layer, info.n_ctx_train, info.file_mib, info.load_ms);

    /* Tokenize twice: first to learn the count, then into a buffer of that size. */
    size_t n = 0;
    s = edgelm_tokenize(model, prompt, true, true, NULL, 0, &n);
    if (s != EDGELM_OK && s != EDGELM_ERR_BUFFER_TOO_SMALL) {
        edgelm_model_free(model);
        return fail("tokenize", s);
    }
    uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) {
        edgelm_model_free(model);
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    s = edgelm_tokenize(model, prompt, true, true, ids, n, &n);
    if (s != EDGELM_OK) {
        free(ids);
        edgelm_model_free(model);
        return fail("tokenize", s);
    }
    fprintf(stderr, "prompt ids:");
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %u", ids[i]);
    fprintf(stderr, "\n");
    free(ids);

    edgelm_session *session = NULL;
    s = edgelm_session_new(model, &opts, &session);
    /* The session keeps the model alive: the model handle can go now. */
    edgelm_model_free(model);
    if (s != EDGELM_OK)
        return fail("creating the session", s);

    st.session = session;
    edgelm_report r;
    s = edgelm_generate(session, prompt, chat, max_tokens, on_piece, &st, &r);
    printf("\n");
    if (s != EDGELM_OK) {
        edgelm_session_free(session);
        return fail("generating", s);
    }
    fprintf(stderr, "generated ids:");
    for (size_t i = 0; i < st.n_ids; i++)
        fprintf(stderr, " %u", st.ids[i]);
    fprintf(stderr, "\n");
    fprintf(stderr, "stop: %s\n", stop_name(r.stop_reason));
    fprintf(stderr, "load %.1f ms | first token %.1f ms | prefill %u tokens %.1f tok/s | "
                    "generated %u tokens, decode %.1f tok/s\n",
            r.load_ms, r.ttft_ms, r.prompt_tokens, r.prefill_tok_s, r.generated_tokens,
            r.decode_tok_s);
    if (r.peak_rss_mib >= 0)
        fprintf(stderr, "peak RSS %.1f MiB | ", r.peak_rss_mib);
    fprintf(stderr, "mapped %.1f MiB | KV cache %.1f MiB | context %u | %u threads\n",
            r.model_mapped_mib, r.kv_cache_mib, r.n_ctx, r.n_threads);
    edgelm_session_free(session);
    return 0;
}
