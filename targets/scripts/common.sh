# Shared by the scripts in this folder (sourced, not run): installing what a cross build
# needs, and where cargo puts a profile's output.

# Adds a Rust target to the active toolchain unless it is there already.
ensure_rust_target() {
    local target=$1
    if ! rustup target list --installed | grep -qx "$target"; then
        if ! rustup target add "$target"; then
            echo "error: rustup could not install $target (no rust-std for it on this toolchain's mirror?)" >&2
            return 1
        fi
    fi
}

# Installs Debian/Ubuntu packages that are missing; sudo only when not root.
ensure_apt() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
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
