//! Plain byte-layout helpers the SIMD kernels share (no vector code).

/// The 8 scales (bytes 0..8) and 8 mins (bytes 8..16) of a Q4_K/Q5_K block from its 12
/// packed bytes, four groups per u32: the whole-block form of
/// `quant::q4_k::scale_min`.
#[inline(always)]
pub(super) fn scales_mins(s: &[u8]) -> [u32; 4] {
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const TOP2: u32 = 0x0303_0303;
    let (a, b, c) = (read_u32(s, 0), read_u32(s, 4), read_u32(s, 8));
    [
        a & LOW6,
        (c & LOW4) | (((a >> 6) & TOP2) << 4),
        b & LOW6,
        ((c >> 4) & LOW4) | (((b >> 6) & TOP2) << 4),
    ]
}

/// The 16 Q3_K group scales plus 32 (so 0..64), one byte each, from a block's 12
/// packed scale bytes, four groups per u32: the whole-block form of
/// `quant::q3_k::scales`.
#[inline(always)]
pub(super) fn q3k_scales_offset(s: &[u8]) -> [u32; 4] {
    const LOW4: u32 = 0x0f0f_0f0f;
    const TOP2: u32 = 0x0303_0303;
    let (a, b, c) = (read_u32(s, 0), read_u32(s, 4), read_u32(s, 8));
    // Group i's top two bits are bits 2(i/4).. of byte 8 + i%4.
    [
        (a & LOW4) | ((c & TOP2) << 4),
        (b & LOW4) | (((c >> 2) & TOP2) << 4),
        ((a >> 4) & LOW4) | (((c >> 4) & TOP2) << 4),
        ((b >> 4) & LOW4) | (((c >> 6) & TOP2) << 4),
    ]
}

/// The little-endian u32 at `b[off..off + 4]`.
#[inline(always)]
pub(super) fn read_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// The f32 scale of a Q8_K block.
#[inline(always)]
pub(super) fn q8k_d(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}
