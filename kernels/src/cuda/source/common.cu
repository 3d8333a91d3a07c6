// Shared helpers, prepended to every kernel family. No headers: NVRTC compiles
// this without any include path.
typedef unsigned char u8;
typedef signed char i8;
typedef unsigned short u16;
typedef unsigned int u32;

// f16 bits to f32 (exact), with the PTX conversion instruction.
__device__ __forceinline__ float h2f(u16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

// f32 to f16 bits, rounding to nearest even (as the CPU KV cache does).
__device__ __forceinline__ u16 f2h(float f) {
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

// Little-endian f16 at a byte pointer (block fields need not be 2-byte aligned).
__device__ __forceinline__ float ld_f16(const u8* p) {
    return h2f((u16)(p[0] | (p[1] << 8)));
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// -infinity without math.h.
#define NEG_INF __int_as_float(0xff800000)
