#!/usr/bin/env bash
# Builds edgelm for one device target and prints the artifact's path and size.
#
#   targets/scripts/build.sh aarch64-unknown-linux-gnu      # `edgelm` for ARM64 Linux (glibc)
#   targets/scripts/build.sh aarch64-unknown-linux-musl     # `edgelm`, fully static: any ARM64 Linux, adb shell
#   targets/scripts/build.sh armv7-unknown-linux-gnueabihf  # `edgelm` for 32-bit ARM Linux (NEON on)
#   targets/scripts/build.sh aarch64-linux-android          # static library for an Android app (JNI)
#   targets/scripts/build.sh aarch64-apple-ios              # static library for an iOS app
#   targets/scripts/build.sh aarch64-apple-ios-sim          # static library for the iOS simulator on Apple silicon
#
# PROFILE (default `device`: fat LTO, one codegen unit, abort on panic, stripped) picks the cargo
# profile; PROFILE=release is a quicker build for trying things out. Installs the Rust target and,
# for the glibc targets, the cross gcc that links them (apt; sudo only when not root).
# NO_SERVE=1 leaves `edgelm serve` (the HTTP server: axum, tokio) out of the binary.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"
cd "$here/../.."

if [ $# -ne 1 ]; then
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
target=$1
profile=${PROFILE:-device}

# kind: bin (the `edgelm` command-line program) or lib (the library an app links).
case $target in
    aarch64-unknown-linux-gnu)
        kind=bin
        ensure_apt gcc-aarch64-linux-gnu libc6-dev-arm64-cross
        ;;
    aarch64-unknown-linux-musl)
        # rust-lld and the self-contained musl start files come with rust-std: nothing to install.
        kind=bin
        ;;
    armv7-unknown-linux-gnueabihf)
        kind=bin
        ensure_apt gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
        # The target's baseline is VFPv3 without NEON; every Cortex-A7 and later has NEON, so let
        # the compiler vectorise with it. (The hand-written kernels are aarch64-only; 32-bit ARM
        # runs the scalar ones.)
        export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS="${CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS:-} -C target-feature=+neon"
        ;;
    aarch64-linux-android | aarch64-apple-ios | aarch64-apple-ios-sim)
        # A staticlib needs no linker, so no NDK or Xcode here; the app's build links it.
        kind=lib
        ;;
    *)
        echo "error: unknown target '$target'; run without arguments for the list" >&2
        exit 2
        ;;
esac

# An app's library must unwind (its C API turns panics into EDGELM_ERR_INTERNAL); the binary
# keeps `abort` (smaller). device → device-lib, ci-arm → ci-arm-lib.
if [ $kind = lib ] && [[ $profile == device || $profile == ci-arm ]]; then
    profile="$profile-lib"
fi

ensure_rust_target "$target"
out="target/$target/$(profile_dir "$profile")"

if [ $kind = bin ]; then
    features=()
    if [ "${NO_SERVE:-0}" = 1 ]; then
        features=(--no-default-features --features cli)
    fi
    cargo build --profile "$profile" --target "$target" -p edgelm-runtime --bin edgelm "${features[@]}"
    artifact="$out/edgelm"
elif cargo pkgid edgelm-capi >/dev/null 2>&1; then
    cargo build --profile "$profile" --target "$target" -p edgelm-capi --lib
    artifact="$out/libedgelm.a"
else
    # TODO(capi): the C API crate (targets/capi, package edgelm-capi) is not in this workspace
    # yet; until it is, check that the runtime library itself compiles for the target.
    echo "note: edgelm-capi is not a workspace member yet; building the runtime library only" >&2
    cargo build --profile "$profile" --target "$target" -p edgelm-runtime --no-default-features --lib
    artifact="$out/libedgelm_runtime.rlib"
fi

echo "artifact: $artifact"
echo "size:     $(human_size "$artifact")"
if [ $kind = bin ] && command -v file >/dev/null; then
    echo "file:     $(file -b "$artifact")"
fi
