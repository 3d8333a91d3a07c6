//! Deterministic test data shared by the kernel tests (no dependency needed).

/// xorshift64.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [-1, 1).
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// `n` values uniform in [-scale, scale).
    pub(crate) fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| scale * self.unit()).collect()
    }
}

/// Pseudo-random values in [-1, 1) times `gain`; every fifth 32-value block is large
/// (x50) and the one after it all zero.
pub(crate) fn values(n: usize, seed: u64, gain: f32) -> Vec<f32> {
    let mut rng = Rng(seed | 1);
    (0..n)
        .map(|i| {
            let v = gain * rng.unit();
            match (i / 32) % 5 {
                3 => v * 50.0,
                4 => 0.0,
                _ => v,
            }
        })
        .collect()
}

/// 32-value blocks for quantizer rounding: every half step of the scale from -amax to
/// amax (amax 127 and 63.5) and its neighbours, `per_block` of them after ±amax
/// (first, alternating), so that each block's scale is exactly amax / 127 and the
/// products land on and next to .5; padded with -0.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_endian = "little")
))]
pub(crate) fn half_step_blocks(per_block: usize) -> Vec<Vec<f32>> {
    let mut blocks = Vec::new();
    for amax in [127.0f32, 63.5] {
        let mut v = Vec::new();
        let mut h = -amax;
        while h <= amax {
            v.extend([h, h.next_up(), h.next_down()]);
            h += 0.5 * amax / 127.0;
        }
        for (i, chunk) in v.chunks(per_block).enumerate() {
            let mut b = vec![if i % 2 == 0 { amax } else { -amax }];
            b.extend(chunk);
            b.resize(32, -0.0);
            blocks.push(b);
        }
    }
    blocks
}
