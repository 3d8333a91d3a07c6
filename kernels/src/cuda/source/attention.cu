// Causal grouped-query attention over an f16 KV cache.
//
// One block of ATT_WARPS warps per (token, query head). Query token t sits at
// position pos0 + t and attends to positions 0..=pos0 + t. Each warp walks every
// ATT_WARPS-th position with an online softmax (running max and sum), lanes
// holding up to ATT_MAX_PER_LANE elements each; the warps' partial results are merged at
// the end. head_dim is at most 32 * ATT_MAX_PER_LANE; lane l holds elements
// l, l + 32, ... below head_dim.
// q and out: [n][n_head * head_dim]; kc, vc: [n_ctx][n_head_kv * head_dim].

#define ATT_WARPS 4
#define ATT_MAX_PER_LANE 8

extern "C" __global__ void attention(const float* __restrict__ q, const u16* __restrict__ kc,
                                     const u16* __restrict__ vc, float* __restrict__ out,
                                     int n_head, int n_head_kv, int head_dim, int pos0,
                                     float scale) {
    __shared__ float s_m[ATT_WARPS];
    __shared__ float s_l[ATT_WARPS];
    __shared__ float s_acc[ATT_WARPS][32 * ATT_MAX_PER_LANE];
    int h = blockIdx.x, t = blockIdx.y;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int g = h / (n_head / n_head_kv);
    int row = n_head_kv * head_dim;
    const float* qh = q + ((size_t)t * n_head + h) * head_dim;
    float qv[ATT_MAX_PER_LANE], acc[ATT_MAX_PER_LANE];
    #pragma unroll
    for (int i = 0; i < ATT_MAX_PER_LANE; i++) {
        qv[i] = lane + 32 * i < head_dim ? qh[lane + 32 * i] : 0.0f;
        acc[i] = 0.0f;
    }
    float m = NEG_INF, l = 0.0f;
    int span = pos0 + t + 1;
    for (int p = warp; p < span; p += ATT_WARPS) {
        const u16* kp = kc + (size_t)p * row + g * head_dim;
        float s = 0.0f;
        #pragma unroll
        for (int i = 0; i < ATT_MAX_PER_LANE; i++)
            if (lane + 32 * i < head_dim) s += qv[i] * h2f(kp[lane + 32 * i]);
        s = warp_sum(s) * scale;
        float m_new = fmaxf(m, s);
        float corr = expf(m - m_new);
        float e = expf(s - m_new);
        l = l * corr + e;
        const u16* vp = vc + (size_t)p * row + g * head_dim;
        #pragma unroll
        for (int i = 0; i < ATT_MAX_PER_LANE; i++)
            if (lane + 32 * i < head_dim) acc[i] = acc[i] * corr + e * h2f(vp[lane + 32 * i]);
        m = m_new;
    }
    if (lane == 0) {
        s_m[warp] = m;
        s_l[warp] = l;
    }
    #pragma unroll
    for (int i = 0; i < ATT_MAX_PER_LANE; i++)
        if (lane + 32 * i < head_dim) s_acc[warp][lane + 32 * i] = acc[i];
    __syncthreads();
    if (warp != 0) return;
    float mm = NEG_INF;
    for (int w = 0; w < ATT_WARPS; w++) mm = fmaxf(mm, s_m[w]);
    float ll = 0.0f;
    float f[ATT_WARPS];
    for (int w = 0; w < ATT_WARPS; w++) {
        // A warp that saw no position has m = -inf and contributes nothing.
        f[w] = s_m[w] == NEG_INF ? 0.0f : expf(s_m[w] - mm);
        ll += s_l[w] * f[w];
    }
    float* o = out + ((size_t)t * n_head + h) * head_dim;
    for (int e = lane; e < head_dim; e += 32) {
        float v = 0.0f;
        for (int w = 0; w < ATT_WARPS; w++) v += s_acc[w][e] * f[w];
        o[e] = v / ll;
    }
}
