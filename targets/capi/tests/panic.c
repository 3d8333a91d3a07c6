/* An internal panic inside libedgelm.a must come back as EDGELM_ERR_INTERNAL with the
 * process alive, and the library must go on working (targets/scripts/check-panic.sh). */
#include <stdio.h>
#include <string.h>

#include "edgelm.h"

edgelm_status edgelm_debug_panic(void); /* only in builds with fault-injection */

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
        return 2;
    }
    edgelm_status st = edgelm_debug_panic();
    if (st != EDGELM_ERR_INTERNAL) {
        fprintf(stderr, "FAIL: edgelm_debug_panic returned %d, not EDGELM_ERR_INTERNAL\n", (int)st);
        return 1;
    }
    if (!strstr(edgelm_last_error(), "fault injection")) {
        fprintf(stderr, "FAIL: last error '%s' does not carry the panic's message\n",
                edgelm_last_error());
        return 1;
    }
    /* Still usable afterwards. */
    edgelm_model *model = NULL;
    if (edgelm_model_load(argv[1], &model) != EDGELM_OK) {
        fprintf(stderr, "FAIL: loading after the panic: %s\n", edgelm_last_error());
        return 1;
    }
    uint32_t ids[64];
    size_t n = 0;
    st = edgelm_tokenize(model, "Hello after a panic", true, false, ids, 64, &n);
    edgelm_model_free(model);
    if (st != EDGELM_OK || n == 0) {
        fprintf(stderr, "FAIL: tokenizing after the panic: %s\n", edgelm_last_error());
        return 1;
    }
    printf("ok: the panic came back as EDGELM_ERR_INTERNAL (\"%s\"), the library still works\n",
           "fault injection");
    return 0;
}
