#!/usr/bin/env bash
# Builds the C API static library (libedgelm.a, crate edgelm-capi) for the app targets and
# checks each archive: every object in it is for 64-bit ARM in the target's object format
# (ELF for Android; Mach-O for iOS, with the iOS or simulator platform), and it defines
# exactly the edgelm_* functions that targets/include/edgelm.h declares.
#
#   targets/scripts/check-libs.sh [TARGET...]
#       default: aarch64-linux-android aarch64-apple-ios aarch64-apple-ios-sim
#
# PROFILE (default `device`, what apps ship) is the cargo profile, as for build.sh. No NDK or
# Xcode is needed: a staticlib is not linked. A target whose standard library the rustup
# mirror does not have (HTTP 404) is reported and skipped; any other failure fails the script.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"
cd "$here/../.."

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(aarch64-linux-android aarch64-apple-ios aarch64-apple-ios-sim)

# llvm-objdump, llvm-nm and llvm-ar read ELF and Mach-O alike (binutils on Linux reads only ELF).
find_llvm_tool() {
    local name=$1 cand
    for cand in "$name" $(compgen -c "$name-" | sort -t- -k3 -rn | uniq); do
        command -v "$cand" >/dev/null && { echo "$cand"; return 0; }
    done
    return 1
}
for tool in llvm-objdump llvm-nm llvm-ar; do
    find_llvm_tool $tool >/dev/null || ensure_apt llvm
done
command -v file >/dev/null || ensure_apt file
objdump=$(find_llvm_tool llvm-objdump)
nm=$(find_llvm_tool llvm-nm)
ar=$(find_llvm_tool llvm-ar)

# The functions the header declares, comments stripped.
header_fns=$(python3 - targets/include/edgelm.h <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
src = re.sub(r"//[^\n]*", "", src)
print("\n".join(sorted(set(re.findall(r"\b(edgelm_\w+)\s*\(", src)))))
EOF
)
[ -n "$header_fns" ] || { echo "error: no edgelm_* functions found in targets/include/edgelm.h" >&2; exit 1; }

# $1 target, $2 archive. Prints one line per problem; silent when the archive is right.
check_archive() {
    local target=$1 lib=$2 want_format want_platform="" formats defined
    # Platform markers a Mach-O object may carry: a minimum-version load command or
    # LC_BUILD_VERSION's platform (2 iOS, 7 iOS simulator).
    case $target in
        aarch64-linux-android) want_format='ELF 64-bit LSB relocatable, ARM aarch64' ;;
        aarch64-apple-ios) want_format='Mach-O 64-bit arm64 object' want_platform='LC_VERSION_MIN_IPHONEOS|platform-2|platform-IOS' ;;
        aarch64-apple-ios-sim) want_format='Mach-O 64-bit arm64 object' want_platform='platform-7|platform-IOSSIMULATOR' ;;
        *) echo "no expectations for $target"; return ;;
    esac
    # What `file` says of each member, extracted (without its details after the first comma
    # for Mach-O, the first two for ELF).
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && "$ar" x "$OLDPWD/$lib")
    formats=$(cd "$tmp" && file -b -- * | cut -d, -f1-2 | sed 's/^\(Mach-O [^,]*\),.*/\1/' | sort | uniq -c)
    rm -rf "$tmp"
    if [ -z "$formats" ]; then
        echo "no objects in $lib"
    elif [ "$(sed 's/^ *[0-9]* //' <<<"$formats")" != "$want_format" ]; then
        echo "members of $lib per file(1):"
        echo "$formats"
        echo "(want only: $want_format)"
    fi
    if [ -n "$want_platform" ]; then
        local platforms
        platforms=$("$objdump" --macho --private-headers "$lib" 2>/dev/null | awk '
            /cmd LC_VERSION_MIN_/ {print $2}
            /cmd LC_BUILD_VERSION/ {b = 1}
            b && $1 == "platform" {print "platform-" $2; b = 0}' | sort -u)
        if [ -z "$platforms" ] || grep -qvxE "$want_platform" <<<"$platforms"; then
            echo "Mach-O platforms in $lib:" ${platforms:-none} "(want only $want_platform)"
        fi
    fi
    # Mach-O prefixes C symbols with an underscore.
    # --no-llvm-bc: read the machine code, not the embedded bitcode (newer than a distro's LLVM).
    defined=$("$nm" --no-llvm-bc -g --defined-only "$lib" 2>/dev/null | awk '$2 == "T" {print $3}' \
        | sed 's/^_edgelm_/edgelm_/' | grep '^edgelm_' | sort -u || true)
    if [ "$defined" != "$header_fns" ]; then
        echo "exported edgelm_* functions differ from the header (< header only, > library only):"
        diff <(echo "$header_fns") <(echo "$defined") | grep '^[<>]' || true
    fi
}

failed=() skipped=() built=()
for target in "${targets[@]}"; do
    echo "== libedgelm.a for $target (${PROFILE:-device} profile, its unwinding -lib variant)"
    rc=0
    ensure_rust_target "$target" || rc=$?
    if [ $rc -eq 3 ]; then
        skipped+=("$target")
        continue
    elif [ $rc -ne 0 ]; then
        failed+=("$target (rustup)")
        continue
    fi
    start=$SECONDS
    if ! log=$(bash "$here/build.sh" "$target" 2>&1); then
        echo "$log" | tail -n 30
        failed+=("$target (build)")
        continue
    fi
    lib=$(sed -n 's/^artifact: *//p' <<<"$log")
    problems=$(check_archive "$target" "$lib")
    if [ -n "$problems" ]; then
        echo "$problems"
        failed+=("$target (archive check)")
        continue
    fi
    echo "   $lib: $(human_size "$lib" | tr -d '\n'), $("$ar" t "$lib" | wc -l) members, $(wc -l <<<"$header_fns") edgelm_* functions as in edgelm.h; built in $((SECONDS - start)) s"
    built+=("$target")
done

[ ${#skipped[@]} -gt 0 ] && echo "skipped (no rust-std on the mirror, not a build failure): ${skipped[*]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAIL: ${failed[*]}" >&2
    exit 1
fi
echo "ok: libedgelm.a builds and exports the header's functions for: ${built[*]}"
