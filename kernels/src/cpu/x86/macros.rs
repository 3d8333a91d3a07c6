//! Helpers that must inline into kernels of any feature set: LLVM does not always
//! inline a `#[target_feature]` function into a caller with more features, and a
//! call passes its vectors through memory.

/// For Q4_1/Q5_1 x Q8_1 blocks `$w`, `$x`: an `__m128` with `d_w * d_x` in lane 0 and
/// `m_w * s_x` in lane 1, the two leading f16 fields of each block widened by one
/// F16C instruction. Expands inside a function with F16C enabled.
macro_rules! scale_min_products {
    ($w:expr, $x:expr) => {{
        let bits = crate::cpu::x86::layout::read_u32($w, 0) as u64
            | (crate::cpu::x86::layout::read_u32($x, 0) as u64) << 32;
        let v = _mm_cvtph_ps(_mm_cvtsi64_si128(bits as i64));
        _mm_mul_ps(v, _mm_movehl_ps(v, v))
    }};
}

/// `$f::<$ty, C>($args)` (or `$f::<C>($args)`) for the const `C` equal to `$tokens` (1 to 8, a tile's
/// token count): the tiles are compiled once per count so their accumulators stay in
/// registers.
macro_rules! for_tokens {
    ($tokens:expr, $f:ident::<$ty:ty>($($arg:expr),*)) => {
        match $tokens {
            8 => $f::<$ty, 8>($($arg),*),
            7 => $f::<$ty, 7>($($arg),*),
            6 => $f::<$ty, 6>($($arg),*),
            5 => $f::<$ty, 5>($($arg),*),
            4 => $f::<$ty, 4>($($arg),*),
            3 => $f::<$ty, 3>($($arg),*),
            2 => $f::<$ty, 2>($($arg),*),
            1 => $f::<$ty, 1>($($arg),*),
            t => panic!("a tile has 1 to 8 tokens, not {t}"),
        }
    };
    ($tokens:expr, $f:ident($($arg:expr),*)) => {
        match $tokens {
            8 => $f::<8>($($arg),*),
            7 => $f::<7>($($arg),*),
            6 => $f::<6>($($arg),*),
            5 => $f::<5>($($arg),*),
            4 => $f::<4>($($arg),*),
            3 => $f::<3>($($arg),*),
            2 => $f::<2>($($arg),*),
            1 => $f::<1>($($arg),*),
            t => panic!("a tile has 1 to 8 tokens, not {t}"),
        }
    };
}
