// Dequantization of one run of 32 consecutive elements ("chunk" c of a row), one
// function per ggml block format. The layouts are those of kernels/src/quant/*.rs.

// Q4_0: 18-byte blocks: f16 d, 16 bytes; byte j = element j (low) | j+16 (high).
__device__ __forceinline__ void chunk_q4_0(const u8* row, int c, float* w) {
    const u8* b = row + c * 18;
    float d = ld_f16(b);
    #pragma unroll
    for (int j = 0; j < 16; j++) {
        int q = b[2 + j];
        w[j] = (float)((q & 15) - 8) * d;
        w[j + 16] = (float)((q >> 4) - 8) * d;
    }
}

// Q4_1: 20-byte blocks: f16 d, f16 m, 16 bytes of nibbles; element = q*d + m.
__device__ __forceinline__ void chunk_q4_1(const u8* row, int c, float* w) {
    const u8* b = row + c * 20;
    float d = ld_f16(b), m = ld_f16(b + 2);
    #pragma unroll
    for (int j = 0; j < 16; j++) {
        int q = b[4 + j];
        w[j] = (float)(q & 15) * d + m;
        w[j + 16] = (float)(q >> 4) * d + m;
    }
}

// Q8_0: 34-byte blocks: f16 d, 32 signed bytes.
__device__ __forceinline__ void chunk_q8_0(const u8* row, int c, float* w) {
    const u8* b = row + c * 34;
    float d = ld_f16(b);
    #pragma unroll
    for (int j = 0; j < 32; j++) w[j] = (float)((i8)b[2 + j]) * d;
}

// Q4_K: 144-byte super-blocks of 256: f16 d, f16 dmin, 12 bytes of packed 6-bit
// scales/mins, 128 bytes of nibbles. Group g (32 elements) is nibble g%2 of
// qs[32*(g/2) + l]; value d*sc*q - dmin*m.
__device__ __forceinline__ void chunk_q4_k(const u8* row, int c, float* w) {
    const u8* b = row + (c >> 3) * 144;
    int g = c & 7;
    float d = ld_f16(b), dmin = ld_f16(b + 2);
    const u8* s = b + 4;
    int sc, m;
    if (g < 4) {
        sc = s[g] & 63;
        m = s[g + 4] & 63;
    } else {
        sc = (s[g + 4] & 15) | ((s[g - 4] >> 6) << 4);
        m = (s[g + 4] >> 4) | ((s[g] >> 6) << 4);
    }
    float dl = d * (float)sc, ml = dmin * (float)m;
    const u8* qs = b + 16 + 32 * (g >> 1);
    int shift = 4 * (g & 1);
    #pragma unroll
    for (int l = 0; l < 32; l++) w[l] = dl * (float)((qs[l] >> shift) & 15) - ml;
}

// Q6_K: 210-byte super-blocks of 256: ql[128], qh[64], i8 scales[16], f16 d.
// Element e = 32*g + l: low nibble (e/64)%2 of ql[64*(e/128) + e%64], two high
// bits 2*((e/32)%4) of qh[32*(e/128) + l]; (q - 32) * d * scales[e/16].
__device__ __forceinline__ void chunk_q6_k(const u8* row, int c, float* w) {
    const u8* b = row + (c >> 3) * 210;
    int g = c & 7;
    int h = g >> 2, k = (g >> 1) & 1, s = g & 3;
    float d = ld_f16(b + 208);
    const u8* ql = b + 64 * h + 32 * (g & 1);
    const u8* qh = b + 128 + 32 * h;
    float d0 = d * (float)((i8)b[192 + 2 * g]);
    float d1 = d * (float)((i8)b[192 + 2 * g + 1]);
    #pragma unroll
    for (int l = 0; l < 32; l++) {
        int lo = (ql[l] >> (4 * k)) & 15;
        int hi = (qh[l] >> (2 * s)) & 3;
        w[l] = (float)((lo | (hi << 4)) - 32) * (l < 16 ? d0 : d1);
    }
}

__device__ __forceinline__ void chunk_f16(const u8* row, int c, float* w) {
    const u8* b = row + c * 64;
    #pragma unroll
    for (int j = 0; j < 32; j++) w[j] = ld_f16(b + 2 * j);
}

__device__ __forceinline__ void chunk_bf16(const u8* row, int c, float* w) {
    const u8* b = row + c * 64;
    #pragma unroll
    for (int j = 0; j < 32; j++) {
        u32 bits = ((u32)b[2 * j] | ((u32)b[2 * j + 1] << 8)) << 16;
        w[j] = __uint_as_float(bits);
    }
}

__device__ __forceinline__ void chunk_f32(const u8* row, int c, float* w) {
    const float* b = (const float*)(row + c * 128);
    #pragma unroll
    for (int j = 0; j < 32; j++) w[j] = b[j];
}

// Q5_0: 22-byte blocks: f16 d, u32 qh (bit j = fifth bit of element j), 16 bytes
// of low nibbles (element j low, j + 16 high); element = (q - 16) * d.
__device__ __forceinline__ void chunk_q5_0(const u8* row, int c, float* w) {
    const u8* b = row + c * 22;
    float d = ld_f16(b);
    u32 qh = (u32)b[2] | ((u32)b[3] << 8) | ((u32)b[4] << 16) | ((u32)b[5] << 24);
    #pragma unroll
    for (int j = 0; j < 16; j++) {
        int q = b[6 + j];
        int lo = (q & 15) | (((qh >> j) & 1) << 4);
        int hi = (q >> 4) | (((qh >> (j + 16)) & 1) << 4);
        w[j] = (float)(lo - 16) * d;
        w[j + 16] = (float)(hi - 16) * d;
    }
}

// Q5_1: 24-byte blocks: f16 d, f16 m, u32 qh, 16 bytes of nibbles; q * d + m.
__device__ __forceinline__ void chunk_q5_1(const u8* row, int c, float* w) {
    const u8* b = row + c * 24;
    float d = ld_f16(b), m = ld_f16(b + 2);
    u32 qh = (u32)b[4] | ((u32)b[5] << 8) | ((u32)b[6] << 16) | ((u32)b[7] << 24);
    #pragma unroll
    for (int j = 0; j < 16; j++) {
        int q = b[8 + j];
        int lo = (q & 15) | (((qh >> j) & 1) << 4);
        int hi = (q >> 4) | (((qh >> (j + 16)) & 1) << 4);
        w[j] = (float)lo * d + m;
        w[j + 16] = (float)hi * d + m;
    }
}
