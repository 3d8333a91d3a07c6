//! The layout the 32-value block tiles (and the kernels for interleaved weights) read
//! their activations in, written once per
//! product: tokens in groups of [`TILE_TOKENS`] (the tiles' token counts; the last
//! group may be shorter), each group block after block, and within a block the
//! group's values (32 bytes per token), then their scales (f32), then what the
//! format needs besides (offset corrections or Q8_1 sums). A tile reads its group
//! front to back, and its tokens' scales or sums are one load.
//!
//! (All tokens of one block together instead put the blocks a tile reads
//! `n · bytes` apart: with n = 128 about 4 KiB, so they fell into a few L1 sets and
//! were read from L2 again for every four weight rows.)

use crate::cpu::dispatch::TILE_TOKENS;

/// Where the group of the tile starting at token `t0` begins in the prepared
/// activations of `n` tokens, `blocks` blocks of `bytes` per token each, and how many
/// tokens that group holds.
pub(crate) fn group(n: usize, t0: usize, blocks: usize, bytes: usize) -> (usize, usize) {
    assert!(
        t0.is_multiple_of(TILE_TOKENS) && t0 < n,
        "a tile starts a group of tokens"
    );
    // Every group before this one is whole.
    (t0 * blocks * bytes, TILE_TOKENS.min(n - t0))
}

/// Writes the layout from `n` quantized activation rows `qx` (blocks of
/// `block_bytes`): `fill(block, values, scale, extra)` for each token and block. With
/// `interleaved` a group's values go four bytes at a time (values 4j..4j + 4 of every
/// token of the group together, `4m` bytes per j), as the AVX-512 Q4_0 tile and the
/// AVX2 tiles read them.
pub(crate) fn prepare(
    qx: &[u8],
    n: usize,
    out: &mut [u8],
    block_bytes: usize,
    bytes: usize,
    interleaved: bool,
    fill: impl Fn(&[u8], &mut [u8], &mut [u8], &mut [u8]),
) {
    let q_bytes = qx.len() / n;
    let blocks = q_bytes / block_bytes;
    let extra = bytes - 32 - 4;
    let mut token_values = [0u8; 32];
    for t0 in (0..n).step_by(TILE_TOKENS) {
        let (start, m) = group(n, t0, blocks, bytes);
        for b in 0..blocks {
            let o = &mut out[start + b * m * bytes..][..m * bytes];
            let (values, rest) = o.split_at_mut(32 * m);
            let (scales, extras) = rest.split_at_mut(4 * m);
            for k in 0..m {
                let blk = &qx[(t0 + k) * q_bytes + b * block_bytes..][..block_bytes];
                let (scale, extra) = (
                    &mut scales[4 * k..4 * k + 4],
                    &mut extras[extra * k..extra * (k + 1)],
                );
                if interleaved {
                    fill(blk, &mut token_values, scale, extra);
                    for (j, four) in token_values.chunks_exact(4).enumerate() {
                        values[4 * (m * j + k)..][..4].copy_from_slice(four);
                    }
                } else {
                    fill(blk, &mut values[32 * k..32 * k + 32], scale, extra);
                }
            }
        }
    }
}
