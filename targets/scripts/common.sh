# Shared by the scripts in this folder (sourced, not run): installing what a cross build
# needs, and where cargo puts a profile's output.

# Adds a Rust target to the active toolchain unless it is there already. Returns 3 (with a
# note) when the mirror has no standard library for it (HTTP 404), 1 on any other failure.
ensure_rust_target() {
    local target=$1 log
    rustup target list --installed | grep -qx "$target" && return 0
    if log=$(rustup target add "$target" 2>&1); then
        return 0
    fi
    if grep -q '404' <<<"$log"; then
        echo "note: rustup has no rust-std for $target on this toolchain's mirror (HTTP 404)" >&2
        return 3
    fi
    echo "$log" | grep -v '^ *[0-9]*: \|^ *at ' >&2
    echo "error: rustup could not install $target" >&2
    return 1
}

# Installs the Debian/Ubuntu packages that are not installed yet, non-interactively, after
# refreshing the package lists; through sudo when not root. Does nothing when all are there.
ensure_apt() {
    local missing=() pkg sudo=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null; then
        echo "error: missing packages ${missing[*]} and no apt-get to install them; install them first" >&2
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "error: missing packages ${missing[*]}: not root and no sudo; install them first" >&2
            return 1
        fi
        sudo=(sudo)
    fi
    echo "installing ${missing[*]} (apt)" >&2
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The folder under target/<triple>/ that a cargo profile writes to.
profile_dir() {
    case $1 in
        dev | test) echo debug ;;
        bench) echo release ;;
        *) echo "$1" ;;
    esac
}

# Size in bytes and in MB (10^6), for reports.
human_size() {
    local bytes
    bytes=$(stat -c %s "$1")
    awk -v b="$bytes" 'BEGIN { printf "%d bytes (%.2f MB)\n", b, b / 1e6 }'
}
