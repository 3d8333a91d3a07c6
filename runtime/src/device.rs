//! Where the forward pass runs: `--device cpu|cuda|auto`.
//!
//! A build without the feature `cuda` carries no CUDA code: `cuda` is then an error
//! and `auto` means the CPU. With the feature, `auto` uses the GPU when the driver,
//! NVRTC and a GPU with enough free memory are there, and otherwise the CPU with a
//! notice saying why — but only once the CUDA path is verified ([`CUDA_VERIFIED`]):
//! until then `auto` is the CPU and `cuda` runs with a warning.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda,
    /// The GPU if one can be used, else the CPU.
    #[default]
    Auto,
}

impl FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> Result<Device, String> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            "auto" => Ok(Device::Auto),
            other => Err(format!("unknown device '{other}' (cpu, cuda or auto)")),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::Auto => "auto",
        })
    }
}

/// Whether this build has the CUDA backend.
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

/// Whether the CUDA forward pass has passed `bench/gpu/run.sh` on a GPU. Its kernels
/// are tested against the CPU's without one (NVRTC compiles them in CI), but no run
/// on a GPU has confirmed them yet: set this when one has.
pub const CUDA_VERIFIED: bool = false;

/// The notice when `auto` stays on the CPU for that reason.
pub const UNVERIFIED_AUTO: &str = "running on the CPU: the CUDA backend has not been verified \
     on a GPU yet (bench/gpu/run.sh); --device cuda uses it anyway";

/// The warning when `--device cuda` asks for it anyway.
pub const UNVERIFIED: &str = "warning: the CUDA backend has not been verified on a GPU yet \
     (bench/gpu/run.sh); compare its output with --device cpu";

/// The message for `--device cuda` in a build without the feature.
pub const NOT_BUILT: &str =
    "this edgelm was built without CUDA support (rebuild with --features cuda)";
