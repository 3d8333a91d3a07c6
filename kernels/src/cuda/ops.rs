//! Launches of the kernels in `source/`, each after checking that the buffers are
//! large enough for the shapes given, so no kernel reads or writes out of bounds.

use cudarc::driver::{CudaSlice, CudaView, CudaViewMut, LaunchConfig, PushKernelArg};

use super::error::{drv, ensure, CudaError};
use super::weights::{kernel_index, GpuMatrix};
use super::Gpu;

/// Must match TOK and WARPS in matmul.cu.
const MATMUL_TOK: u32 = 8;
const MATMUL_WARPS: u32 = 4;
/// Must match ATT_WARPS and ATT_MAX_PER_LANE in attention.cu.
const ATT_WARPS: u32 = 4;
const ATT_MAX_HEAD_DIM: usize = 32 * 8;

fn int(v: usize) -> Result<i32, CudaError> {
    i32::try_from(v)
        .map_err(|_| CudaError::Unsupported(format!("{v} is too large for the CUDA kernels")))
}

fn blocks(total: usize, per: u32) -> Result<u32, CudaError> {
    u32::try_from(total.div_ceil(per as usize)).map_err(|_| {
        CudaError::Unsupported(format!("{total} elements are too many for one launch"))
    })
}

fn cfg(grid: (u32, u32), block: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (grid.0.max(1), grid.1.max(1), 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Positions and shape of a RoPE call: `n` tokens from position `pos0`, each with
/// `n_heads` heads of `head_dim`, of which the first `n_rot` dimensions rotate.
#[derive(Clone, Copy, Debug)]
pub struct RopeShape {
    pub n: usize,
    pub n_heads: usize,
    pub head_dim: usize,
    pub n_rot: usize,
    pub pos0: usize,
    pub base: f32,
    /// NeoX pairing `(i, i + n_rot/2)` instead of adjacent pairs.
    pub neox: bool,
}

/// `n` query tokens (positions `pos0..`) of `n_head` heads attending over a cache
/// of `n_head_kv` heads; `scale` multiplies the scores.
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    pub n: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub pos0: usize,
    pub scale: f32,
}

impl Gpu {
    /// `y[t * rows + r] = dot(row r of w, x[t * cols..])` for `t < n`.
    pub fn matmul(
        &self,
        w: &GpuMatrix,
        x: &CudaView<'_, f32>,
        n: usize,
        y: &mut CudaViewMut<'_, f32>,
    ) -> Result<(), CudaError> {
        let ki = kernel_index(w.ty)
            .ok_or_else(|| CudaError::Unsupported(format!("no CUDA kernel for {}", w.ty)))?;
        ensure(x.len() >= n * w.cols && y.len() >= n * w.rows, || {
            format!(
                "matmul of {} x {} by {n} tokens: x has {}, y {} elements",
                w.rows,
                w.cols,
                x.len(),
                y.len()
            )
        })?;
        if n == 0 {
            return Ok(());
        }
        let (rows, cols, rb, nn) = (int(w.rows)?, int(w.cols)?, int(w.row_bytes)?, int(n)?);
        let grid = (blocks(w.rows, MATMUL_WARPS)?, blocks(n, MATMUL_TOK)?);
        let f = &self.k.typed.matmul[ki];
        let mut l = self.stream.launch_builder(f);
        l.arg(&w.data)
            .arg(x)
            .arg(y)
            .arg(&rows)
            .arg(&cols)
            .arg(&rb)
            .arg(&nn);
        // SAFETY: the arguments match matmul_*(const u8*, const float*, float*, int x4);
        // w.data holds rows * row_bytes bytes, x and y were checked above to hold n
        // rows, and the kernel touches nothing else.
        unsafe { l.launch(cfg(grid, 32 * MATMUL_WARPS)) }.map_err(drv("launching matmul"))?;
        Ok(())
    }

    /// `out[t] = row ids[t] of w` as f32. `ids_buf` receives the ids on the device.
    pub fn embed(
        &self,
        w: &GpuMatrix,
        ids: &[u32],
        ids_buf: &mut CudaSlice<u32>,
        out: &mut CudaViewMut<'_, f32>,
    ) -> Result<(), CudaError> {
        let ki = kernel_index(w.ty)
            .ok_or_else(|| CudaError::Unsupported(format!("no CUDA kernel for {}", w.ty)))?;
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= w.rows) {
            return Err(CudaError::Unsupported(format!(
                "token id {bad} is outside the {} rows of the embedding",
                w.rows
            )));
        }
        ensure(out.len() >= ids.len() * w.cols, || {
            format!("embedding output of {} for {} tokens", out.len(), ids.len())
        })?;
        if ids.is_empty() {
            return Ok(());
        }
        self.write(ids, ids_buf)?;
        let (cols, rb) = (int(w.cols)?, int(w.row_bytes)?);
        let grid = (
            blocks(w.cols / 32, 128)?,
            u32::try_from(ids.len()).unwrap_or(u32::MAX),
        );
        let f = &self.k.typed.embed[ki];
        let mut l = self.stream.launch_builder(f);
        l.arg(&w.data).arg(&*ids_buf).arg(out).arg(&cols).arg(&rb);
        // SAFETY: matches embed_*(const u8*, const u32*, float*, int, int); every id
        // was checked to be a row of w, ids_buf holds them, out holds ids.len() rows.
        unsafe { l.launch(cfg(grid, 128)) }.map_err(drv("launching embed"))?;
        Ok(())
    }

    /// RMSNorm of `n` rows of `w.len()` elements.
    pub fn rms_norm(
        &self,
        x: &CudaView<'_, f32>,
        w: &CudaSlice<f32>,
        eps: f32,
        n: usize,
        out: &mut CudaViewMut<'_, f32>,
    ) -> Result<(), CudaError> {
        let d = w.len();
        ensure(x.len() >= n * d && out.len() >= n * d, || {
            format!("rms_norm of {n} rows of {d}: buffers too short")
        })?;
        if n == 0 {
            return Ok(());
        }
        let dd = int(d)?;
        let mut l = self.stream.launch_builder(&self.k.rms_norm);
        l.arg(x).arg(w).arg(out).arg(&dd).arg(&eps);
        // SAFETY: matches rms_norm(const float*, const float*, float*, int, float);
        // one block per row, each of the n rows checked to be present.
        unsafe { l.launch(cfg((int(n)? as u32, 1), 256)) }.map_err(drv("launching rms_norm"))?;
        Ok(())
    }

    /// `x[i] += y[i % y.len()]` over the first `total` elements of `x` (a residual
    /// add when `y` is as long as `x`, a bias add when it is one row).
    pub fn add_rows(
        &self,
        x: &mut CudaViewMut<'_, f32>,
        y: &CudaView<'_, f32>,
        total: usize,
    ) -> Result<(), CudaError> {
        let len = y.len();
        ensure(x.len() >= total && len > 0, || {
            format!("add of {total} elements: x has {}, y {len}", x.len())
        })?;
        if total == 0 {
            return Ok(());
        }
        let (t, ll) = (int(total)?, int(len)?);
        let mut l = self.stream.launch_builder(&self.k.add_rows);
        l.arg(x).arg(y).arg(&t).arg(&ll);
        // SAFETY: matches add_rows(float*, const float*, int, int); indices stay
        // below total (x) and len (y).
        unsafe { l.launch(cfg((blocks(total, 256)?, 1), 256)) }.map_err(drv("launching add"))?;
        Ok(())
    }

    /// `gate[i] = silu(gate[i]) * up[i]` for `i < total`.
    pub fn swiglu(
        &self,
        gate: &mut CudaViewMut<'_, f32>,
        up: &CudaView<'_, f32>,
        total: usize,
    ) -> Result<(), CudaError> {
        ensure(gate.len() >= total && up.len() >= total, || {
            format!("swiglu of {total}: buffers too short")
        })?;
        if total == 0 {
            return Ok(());
        }
        let t = int(total)?;
        let mut l = self.stream.launch_builder(&self.k.swiglu);
        l.arg(gate).arg(up).arg(&t);
        // SAFETY: matches swiglu(float*, const float*, int); both hold total elements.
        unsafe { l.launch(cfg((blocks(total, 256)?, 1), 256)) }.map_err(drv("launching swiglu"))?;
        Ok(())
    }

    /// Rotary position embedding in place; `factors` (one per rotated pair) divide
    /// the frequencies.
    pub fn rope(
        &self,
        x: &mut CudaViewMut<'_, f32>,
        factors: Option<&CudaSlice<f32>>,
        s: RopeShape,
    ) -> Result<(), CudaError> {
        let half = s.n_rot / 2;
        ensure(
            s.n_rot <= s.head_dim
                && s.n_rot.is_multiple_of(2)
                && x.len() >= s.n * s.n_heads * s.head_dim
                && factors.is_none_or(|f| f.len() >= half),
            || format!("rope over {s:?}: bad shape or buffers too short"),
        )?;
        let total = s.n * s.n_heads * half;
        if total == 0 {
            return Ok(());
        }
        let (n, nh, hd, nr, p0) = (
            int(s.n)?,
            int(s.n_heads)?,
            int(s.head_dim)?,
            int(s.n_rot)?,
            int(s.pos0)?,
        );
        let neox = s.neox as i32;
        let null: u64 = 0;
        let mut l = self.stream.launch_builder(&self.k.rope);
        l.arg(x);
        match factors {
            Some(f) => l.arg(f),
            // A null `const float*`: the kernel then uses factor 1.
            None => l.arg(&null),
        };
        l.arg(&n)
            .arg(&nh)
            .arg(&hd)
            .arg(&nr)
            .arg(&p0)
            .arg(&s.base)
            .arg(&neox);
        // SAFETY: matches rope(float*, const float*, int x5, float, int); x holds
        // n * n_heads * head_dim elements and factors (if any) n_rot / 2.
        unsafe { l.launch(cfg((blocks(total, 256)?, 1), 256)) }.map_err(drv("launching rope"))?;
        Ok(())
    }

    /// Stores `n` key and value rows (`row` elements each) at positions `pos0..`
    /// of a layer's f16 caches.
    #[allow(clippy::too_many_arguments)]
    pub fn kv_store(
        &self,
        k: &CudaView<'_, f32>,
        v: &CudaView<'_, f32>,
        kc: &mut CudaViewMut<'_, u16>,
        vc: &mut CudaViewMut<'_, u16>,
        n: usize,
        row: usize,
        pos0: usize,
    ) -> Result<(), CudaError> {
        let end = (pos0 + n) * row;
        ensure(
            k.len() >= n * row && v.len() >= n * row && kc.len() >= end && vc.len() >= end,
            || format!("kv_store of {n} rows at {pos0}: buffers too short"),
        )?;
        if n * row == 0 {
            return Ok(());
        }
        let (nn, rr, p0) = (int(n)?, int(row)?, int(pos0)?);
        let mut l = self.stream.launch_builder(&self.k.kv_store);
        l.arg(k).arg(v).arg(kc).arg(vc).arg(&nn).arg(&rr).arg(&p0);
        // SAFETY: matches kv_store(const float* x2, u16* x2, int x3); sources hold
        // n rows and the caches reach position pos0 + n.
        unsafe { l.launch(cfg((blocks(n * row, 256)?, 1), 256)) }
            .map_err(drv("launching kv_store"))?;
        Ok(())
    }

    /// Causal grouped-query attention of `s.n` queries over the cached positions
    /// `0..=pos0 + t` of one layer.
    pub fn attention(
        &self,
        q: &CudaView<'_, f32>,
        kc: &CudaView<'_, u16>,
        vc: &CudaView<'_, u16>,
        out: &mut CudaViewMut<'_, f32>,
        s: AttentionShape,
    ) -> Result<(), CudaError> {
        let qd = s.n_head * s.head_dim;
        let row = s.n_head_kv * s.head_dim;
        ensure(
            s.head_dim > 0
                && s.head_dim <= ATT_MAX_HEAD_DIM
                && s.n_head_kv > 0
                && s.n_head.is_multiple_of(s.n_head_kv),
            || {
                format!(
                    "the CUDA attention needs a head size up to {ATT_MAX_HEAD_DIM} and whole query groups, not {s:?}"
                )
            },
        )?;
        let end = (s.pos0 + s.n) * row;
        ensure(
            q.len() >= s.n * qd && out.len() >= s.n * qd && kc.len() >= end && vc.len() >= end,
            || format!("attention over {s:?}: buffers too short"),
        )?;
        if s.n == 0 {
            return Ok(());
        }
        let (nh, nkv, hd, p0) = (
            int(s.n_head)?,
            int(s.n_head_kv)?,
            int(s.head_dim)?,
            int(s.pos0)?,
        );
        let grid = (int(s.n_head)? as u32, int(s.n)? as u32);
        let mut l = self.stream.launch_builder(&self.k.attention);
        l.arg(q)
            .arg(kc)
            .arg(vc)
            .arg(out)
            .arg(&nh)
            .arg(&nkv)
            .arg(&hd)
            .arg(&p0)
            .arg(&s.scale);
        // SAFETY: matches attention(const float*, const u16* x2, float*, int x4,
        // float); q/out hold n rows of n_head heads, the caches reach pos0 + n.
        unsafe { l.launch(cfg(grid, 32 * ATT_WARPS)) }.map_err(drv("launching attention"))?;
        Ok(())
    }
}
