#!/usr/bin/env bash
# The app library never takes the app down: builds libedgelm.a for this machine with the
# profile apps ship (device-lib: unwinding; PROFILE=ci-arm for CI's quicker ci-arm-lib) plus
# the test-only `fault-injection` entry point, links targets/capi/tests/panic.c against it
# and checks that an internal panic returns EDGELM_ERR_INTERNAL with the process alive.
#
#   targets/scripts/check-panic.sh            # CHECK_ABORT=1 also shows the binary's abort
#                                             # profile would kill the process (the control)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"
cd "$here/../.."

base=${PROFILE:-device}
case $base in
    device | ci-arm) ;;
    *) echo "error: PROFILE must be device or ci-arm (got $base)" >&2; exit 2 ;;
esac
cc=${CC:-cc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# $1 profile; builds the library, links the program, prints its path.
build() {
    local profile=$1
    cargo build --quiet --profile "$profile" -p edgelm-capi --lib --features fault-injection >&2
    local lib="target/$(profile_dir "$profile")/libedgelm.a"
    "$cc" -std=c99 -Wall -Werror -O1 -I targets/include targets/capi/tests/panic.c "$lib" \
        -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o "$work/panic-$profile" >&2
    echo "$work/panic-$profile"
}

model=tests/fixtures/tiny/llama.gguf
echo "== $base-lib (what apps ship)"
prog=$(build "$base-lib")
"$prog" "$model"

if [ "${CHECK_ABORT:-0}" = 1 ]; then
    echo "== $base (panic = abort, the CLI's profile): the same program must die"
    prog=$(build "$base")
    if "$prog" "$model"; then
        echo "FAIL: under panic = abort the panic did not end the process; the check proves nothing" >&2
        exit 1
    fi
    echo "ok: under abort the process died, as expected"
fi
