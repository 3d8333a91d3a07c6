/* Prints what the C compiler makes of edgelm.h: constants, struct sizes and field
 * offsets, one "name value" per line. tests/c_api.rs compares them with the Rust side.
 * It links the library too, so every declared function must exist with that name. */
#include <stddef.h>
#include <stdio.h>

#include "edgelm.h"

#define CONST(x) printf("%s %llu\n", #x, (unsigned long long)(x))
#define SIZE(t) printf("sizeof(%s) %zu\nalignof(%s) %zu\n", #t, sizeof(t), #t, \
                       offsetof(struct { char c; t x; }, x))
#define OFF(t, f) printf("%s.%s %zu\n", #t, #f, offsetof(t, f))

int main(void) {
    CONST(EDGELM_OK);
    CONST(EDGELM_ERR_INVALID_ARGUMENT);
    CONST(EDGELM_ERR_IO);
    CONST(EDGELM_ERR_BAD_MODEL);
    CONST(EDGELM_ERR_PROMPT_TOO_LONG);
    CONST(EDGELM_ERR_BUFFER_TOO_SMALL);
    CONST(EDGELM_ERR_CHAT_TEMPLATE);
    CONST(EDGELM_ERR_BUSY);
    CONST(EDGELM_ERR_SYSTEM);
    CONST(EDGELM_ERR_INTERNAL);
    CONST(EDGELM_SEED_RANDOM);
    CONST(EDGELM_TOKEN_NONE);
    CONST(EDGELM_STOP_NONE);
    CONST(EDGELM_STOP_END_OF_GENERATION);
    CONST(EDGELM_STOP_MAX_TOKENS);
    CONST(EDGELM_STOP_CONTEXT_FULL);
    CONST(EDGELM_STOP_CALLBACK);
    CONST(EDGELM_STOP_CANCELLED);
    CONST(sizeof(edgelm_status));

    SIZE(edgelm_model_info);
    OFF(edgelm_model_info, vocab_size);
    OFF(edgelm_model_info, n_ctx_train);
    OFF(edgelm_model_info, n_layer);
    OFF(edgelm_model_info, n_embd);
    OFF(edgelm_model_info, load_ms);
    OFF(edgelm_model_info, file_mib);
    OFF(edgelm_model_info, has_chat_template);

    SIZE(edgelm_chat_message);
    OFF(edgelm_chat_message, role);
    OFF(edgelm_chat_message, content);

    SIZE(edgelm_session_options);
    OFF(edgelm_session_options, n_ctx);
    OFF(edgelm_session_options, n_batch);
    OFF(edgelm_session_options, n_threads);
    OFF(edgelm_session_options, temperature);
    OFF(edgelm_session_options, top_k);
    OFF(edgelm_session_options, top_p);
    OFF(edgelm_session_options, min_p);
    OFF(edgelm_session_options, repeat_penalty);
    OFF(edgelm_session_options, repeat_last_n);
    OFF(edgelm_session_options, seed);
    OFF(edgelm_session_options, precise);

    SIZE(edgelm_report);
    OFF(edgelm_report, load_ms);
    OFF(edgelm_report, ttft_ms);
    OFF(edgelm_report, prefill_ms);
    OFF(edgelm_report, prefill_tok_s);
    OFF(edgelm_report, decode_ms);
    OFF(edgelm_report, decode_tok_s);
    OFF(edgelm_report, peak_rss_mib);
    OFF(edgelm_report, model_mapped_mib);
    OFF(edgelm_report, kv_cache_mib);
    OFF(edgelm_report, prompt_tokens);
    OFF(edgelm_report, generated_tokens);
    OFF(edgelm_report, n_ctx);
    OFF(edgelm_report, n_threads);
    OFF(edgelm_report, stop_reason);

    /* Defaults as C sees them through the by-value return. */
    edgelm_session_options o = edgelm_session_default_options();
    printf("default.n_ctx %u\ndefault.n_batch %u\ndefault.n_threads %u\n", o.n_ctx,
           o.n_batch, o.n_threads);
    printf("default.temperature %g\ndefault.top_k %u\ndefault.top_p %g\n", o.temperature,
           o.top_k, o.top_p);
    printf("default.min_p %g\ndefault.repeat_penalty %g\ndefault.repeat_last_n %u\n",
           o.min_p, o.repeat_penalty, o.repeat_last_n);
    printf("default.seed %llu\ndefault.precise %d\n", (unsigned long long)o.seed,
           (int)o.precise);

    /* Each function's address, so a missing or renamed symbol fails the link. */
    void *fns[] = {
        (void *)edgelm_status_message, (void *)edgelm_last_error, (void *)edgelm_version,
        (void *)edgelm_model_load, (void *)edgelm_model_free, (void *)edgelm_model_get_info,
        (void *)edgelm_tokenize, (void *)edgelm_detokenize, (void *)edgelm_chat_format,
        (void *)edgelm_session_default_options, (void *)edgelm_session_new,
        (void *)edgelm_session_free, (void *)edgelm_generate, (void *)edgelm_cancel,
    };
    printf("functions %zu\n", sizeof fns / sizeof fns[0]);
    for (int s = 0; s <= EDGELM_ERR_INTERNAL + 1; s++)
        printf("message.%d %s\n", s, edgelm_status_message(s));
    return 0;
}
