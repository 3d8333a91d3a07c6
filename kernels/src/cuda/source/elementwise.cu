// RMSNorm, RoPE, SwiGLU, adds and the f16 KV cache store.

// out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w, one block per row; the sum of
// squares is taken in f64 as the CPU reference does.
extern "C" __global__ void rms_norm(const float* __restrict__ x, const float* __restrict__ w,
                                    float* __restrict__ out, int d, float eps) {
    __shared__ double part[32];
    const float* xr = x + (size_t)blockIdx.x * d;
    float* o = out + (size_t)blockIdx.x * d;
    double s = 0.0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        float v = xr[i];
        s += (double)(v * v);
    }
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) part[warp] = s;
    __syncthreads();
    if (warp == 0) {
        int nw = (blockDim.x + 31) >> 5;
        double v = lane < nw ? part[lane] : 0.0;
        for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
        if (lane == 0) part[0] = v;
    }
    __syncthreads();
    float mean = (float)(part[0] / (double)d);
    float scale = 1.0f / sqrtf(mean + eps);
    for (int i = threadIdx.x; i < d; i += blockDim.x) o[i] = xr[i] * scale * w[i];
}

// x[i] += y[i % len] (residual add with len = n, bias add with len = row length).
extern "C" __global__ void add_rows(float* __restrict__ x, const float* __restrict__ y,
                                    int total, int len) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) x[i] += y[i % len];
}

// gate[i] = silu(gate[i]) * up[i].
extern "C" __global__ void swiglu(float* __restrict__ gate, const float* __restrict__ up, int total) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

// Rotates the first n_rot dimensions of each head of x ([n][n_heads * head_dim],
// token t at position pos0 + t). One thread per (token, head, pair).
// neox = 0: pairs (2i, 2i+1); neox = 1: pairs (i, i + n_rot/2). `factors` (may be
// null) divide each pair's frequency (Llama 3.1 rope_freqs).
extern "C" __global__ void rope(float* __restrict__ x, const float* __restrict__ factors,
                                int n, int n_heads, int head_dim, int n_rot, int pos0,
                                float base, int neox) {
    int half = n_rot / 2;
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n * n_heads * half) return;
    int i = idx % half;
    int h = (idx / half) % n_heads;
    int t = idx / (half * n_heads);
    float inv_freq = 1.0f / powf(base, (float)(2 * i) / (float)n_rot);
    float factor = factors ? factors[i] : 1.0f;
    float theta = (float)(pos0 + t) * inv_freq / factor;
    float c = cosf(theta), s = sinf(theta);
    float* hp = x + ((size_t)t * n_heads + h) * head_dim;
    int a = neox ? i : 2 * i;
    int b = neox ? i + half : 2 * i + 1;
    float x0 = hp[a], x1 = hp[b];
    hp[a] = x0 * c - x1 * s;
    hp[b] = x0 * s + x1 * c;
}

// Stores n rows of keys and values (row elements each) at positions pos0.. of one
// layer's f16 caches ([n_ctx][row]).
extern "C" __global__ void kv_store(const float* __restrict__ k, const float* __restrict__ v,
                                    u16* __restrict__ kc, u16* __restrict__ vc,
                                    int n, int row, int pos0) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n * row) return;
    size_t at = (size_t)pos0 * row + i;
    kc[at] = f2h(k[i]);
    vc[at] = f2h(v[i]);
}
