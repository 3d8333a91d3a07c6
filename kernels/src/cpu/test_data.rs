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
