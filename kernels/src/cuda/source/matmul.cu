// Y[t][r] = dot(W row r, X[t]) for t < n: matrix-vector products (decode, n = 1)
// and matrix-matrix products (prefill) over weights kept in their ggml blocks.
//
// One warp per weight row; each lane dequantizes 32-element chunks of the row
// into registers and applies them to up to TOK tokens at once, so a prefill
// batch reads the weights once per TOK tokens. Activations and sums are f32.
// `row_bytes` is the byte length of a row, `chunks` = cols / 32.

#define TOK 8
#define WARPS 4

#define MATMUL_KERNEL(NAME, CHUNK)                                                   \
extern "C" __global__ void NAME(const u8* __restrict__ W, const float* __restrict__ X, \
                                float* __restrict__ Y, int rows, int cols,           \
                                int row_bytes, int n) {                             \
    int lane = threadIdx.x & 31;                                                     \
    int r = blockIdx.x * WARPS + (threadIdx.x >> 5);                                 \
    int t0 = blockIdx.y * TOK;                                                       \
    if (r >= rows) return;                                                           \
    int nt = min(TOK, n - t0);                                                       \
    const u8* row = W + (size_t)r * row_bytes;                                       \
    const float* x = X + (size_t)t0 * cols;                                          \
    float acc[TOK];                                                                  \
    _Pragma("unroll") for (int j = 0; j < TOK; j++) acc[j] = 0.0f;                   \
    int chunks = cols >> 5;                                                          \
    for (int c = lane; c < chunks; c += 32) {                                        \
        float w[32];                                                                 \
        CHUNK(row, c, w);                                                            \
        _Pragma("unroll") for (int j = 0; j < TOK; j++) {                            \
            if (j < nt) {                                                            \
                const float4* xv = (const float4*)(x + (size_t)j * cols + c * 32);   \
                float s = 0.0f;                                                      \
                _Pragma("unroll") for (int i = 0; i < 8; i++) {                      \
                    float4 v = xv[i];                                                \
                    s += w[4 * i] * v.x + w[4 * i + 1] * v.y + w[4 * i + 2] * v.z    \
                       + w[4 * i + 3] * v.w;                                         \
                }                                                                    \
                acc[j] += s;                                                         \
            }                                                                        \
        }                                                                            \
    }                                                                                \
    _Pragma("unroll") for (int j = 0; j < TOK; j++) {                                \
        float s = warp_sum(acc[j]);                                                  \
        if (lane == 0 && j < nt) Y[(size_t)(t0 + j) * rows + r] = s;                 \
    }                                                                                \
}

MATMUL_KERNEL(matmul_q4_0, chunk_q4_0)
MATMUL_KERNEL(matmul_q4_1, chunk_q4_1)
MATMUL_KERNEL(matmul_q8_0, chunk_q8_0)
MATMUL_KERNEL(matmul_q5_0, chunk_q5_0)
MATMUL_KERNEL(matmul_q5_1, chunk_q5_1)
MATMUL_KERNEL(matmul_q4_k, chunk_q4_k)
MATMUL_KERNEL(matmul_q6_k, chunk_q6_k)
MATMUL_KERNEL(matmul_f16, chunk_f16)
MATMUL_KERNEL(matmul_bf16, chunk_bf16)
MATMUL_KERNEL(matmul_f32, chunk_f32)

// Embedding lookup: out[t] = dequantized row ids[t] of W. One thread per chunk;
// grid (ceil(chunks / blockDim.x), n).
#define EMBED_KERNEL(NAME, CHUNK)                                                    \
extern "C" __global__ void NAME(const u8* __restrict__ W, const u32* __restrict__ ids, \
                                float* __restrict__ out, int cols, int row_bytes) {  \
    int c = blockIdx.x * blockDim.x + threadIdx.x;                                   \
    int t = blockIdx.y;                                                              \
    if (c >= (cols >> 5)) return;                                                    \
    float w[32];                                                                     \
    CHUNK(W + (size_t)ids[t] * row_bytes, c, w);                                     \
    float* o = out + (size_t)t * cols + c * 32;                                      \
    _Pragma("unroll") for (int j = 0; j < 32; j++) o[j] = w[j];                      \
}

EMBED_KERNEL(embed_q4_0, chunk_q4_0)
EMBED_KERNEL(embed_q4_1, chunk_q4_1)
EMBED_KERNEL(embed_q8_0, chunk_q8_0)
EMBED_KERNEL(embed_q5_0, chunk_q5_0)
EMBED_KERNEL(embed_q5_1, chunk_q5_1)
EMBED_KERNEL(embed_q4_k, chunk_q4_k)
EMBED_KERNEL(embed_q6_k, chunk_q6_k)
EMBED_KERNEL(embed_f16, chunk_f16)
EMBED_KERNEL(embed_bf16, chunk_bf16)
EMBED_KERNEL(embed_f32, chunk_f32)
