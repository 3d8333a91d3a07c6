//! Weight matrices on the GPU: ggml blocks uploaded byte for byte, so a Q4_0 matrix
//! takes as much GPU memory as in the file. Formats without a kernel are
//! dequantized to f32 on upload (exact, but four bytes per weight).

use cudarc::driver::CudaSlice;

use super::error::{ensure, CudaError};
use super::Gpu;
use crate::quant::{dequantize_row, GgmlType};

/// Formats the kernels read directly, in the order of the kernel tables.
pub const GPU_TYPES: [GgmlType; 10] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q6_K,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::F32,
];

/// Index of `ty` in [`GPU_TYPES`].
pub(crate) fn kernel_index(ty: GgmlType) -> Option<usize> {
    GPU_TYPES.iter().position(|&t| t == ty)
}

/// A row-major matrix of `rows` rows of `cols` elements in format `ty`, in GPU memory.
pub struct GpuMatrix {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub row_bytes: usize,
    pub(crate) data: CudaSlice<u8>,
}

impl GpuMatrix {
    /// Bytes of GPU memory it takes.
    pub fn bytes(&self) -> usize {
        self.rows * self.row_bytes
    }
}

/// Bytes [`Gpu::upload_matrix`] will allocate for such a matrix.
pub fn gpu_matrix_bytes(ty: GgmlType, rows: usize, cols: usize) -> usize {
    match (kernel_index(ty), ty.row_bytes(cols)) {
        (Some(_), Some(rb)) => rows * rb,
        _ => rows * cols * 4,
    }
}

impl Gpu {
    /// Uploads `data` (`rows` rows of `cols` elements of `ty`, as in a GGUF file).
    pub fn upload_matrix(
        &self,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        data: &[u8],
    ) -> Result<GpuMatrix, CudaError> {
        ensure(cols > 0 && cols.is_multiple_of(32), || {
            format!("the CUDA kernels need rows of a multiple of 32 elements, not {cols}")
        })?;
        let row_bytes = ty.row_bytes(cols).ok_or_else(|| {
            CudaError::Unsupported(format!("{cols} is not a whole number of {ty} blocks"))
        })?;
        ensure(data.len() == rows * row_bytes, || {
            format!(
                "a {ty} matrix of {rows} x {cols} has {} bytes, not {}",
                rows * row_bytes,
                data.len()
            )
        })?;
        if kernel_index(ty).is_some() {
            return Ok(GpuMatrix {
                ty,
                rows,
                cols,
                row_bytes,
                data: self.upload(data)?,
            });
        }
        // No kernel for this format: dequantize row by row into one f32 image.
        let mut f = vec![0f32; rows * cols];
        for (src, dst) in data.chunks_exact(row_bytes).zip(f.chunks_exact_mut(cols)) {
            dequantize_row(ty, src, dst);
        }
        let bytes: Vec<u8> = f.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(GpuMatrix {
            ty: GgmlType::F32,
            rows,
            cols,
            row_bytes: cols * 4,
            data: self.upload(&bytes)?,
        })
    }
}
