# shellcheck shell=bash
# Set up everything the tests and the demo need, then activate the virtualenv.
#
#   source scripts/bootstrap.sh      (scripts/test and scripts/demo do this)
#
# - system tools (buildah, skopeo, the docker-distribution registry, rpmbuild,
#   busybox, git, chromium for the web view's browser tests): installed with
#   apt-get (Debian/Ubuntu) or dnf (Fedora) when run as root; otherwise the
#   exact install command is printed and it fails;
# - a second arch for multi-arch builds (Debian, root; on x86_64: aarch64):
#   qemu-user-static + binfmt-support, the qemu binfmt_misc entry registered
#   with the F flag (binfmt_misc mounted first if need be), and Debian's
#   busybox-static of that arch unpacked for the sandbox's base image;
#   where that cannot be done it says so in one line and goes on;
# - .venv in the repository with koji installed WITHOUT its Kerberos
#   dependency (pip install --no-deps koji + its other requirements), so no
#   krb5 headers are needed, plus dockerfile-parse, jsonschema, pytest,
#   pytest-xdist (the suite runs in parallel), ruff;
# - the project itself (pip install ., not editable: the koji CLI only finds
#   plugins in a real koji_cli_plugins directory), reinstalled only when its
#   files changed.
# Running it again when everything is in place takes well under a second.

kcb_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kcb_venv="${KCB_VENV:-$kcb_root/.venv}"

# Python packages for the venv. koji is installed separately with --no-deps.
kcb_python_deps=(six python-dateutil requests defusedxml dockerfile-parse jsonschema pytest pytest-xdist ruff)

kcb_say() { printf 'bootstrap: %s\n' "$*" >&2; }

kcb_os_family() {
    if [[ -n "${KCB_OS_FAMILY:-}" ]]; then # debian or fedora, for testing
        echo "$KCB_OS_FAMILY"
        return
    fi
    local id="" id_like=""
    if [[ -r /etc/os-release ]]; then
        id="$(. /etc/os-release && echo "${ID:-}")"
        id_like="$(. /etc/os-release && echo "${ID_LIKE:-}")"
    fi
    case " $id $id_like " in
        *" debian "* | *" ubuntu "*) echo debian ;;
        *" fedora "* | *" rhel "* | *" centos "*) echo fedora ;;
        *) echo unknown ;;
    esac
}

# Print "<package>" for every system tool that is missing on this OS family.
kcb_missing_system_packages() {
    local family="$1"
    local -a checks
    if [[ "$family" == fedora ]]; then
        checks=(buildah:buildah skopeo:skopeo registry:docker-distribution
            rpmbuild:rpm-build busybox:busybox git:git chromium-browser:chromium)
    else
        checks=(buildah:buildah skopeo:skopeo docker-registry:docker-registry
            rpmbuild:rpm busybox:busybox-static git:git chromium:chromium)
    fi
    # Debian splits venv/ensurepip out of python3; without it no .venv can be made.
    if [[ "$family" != fedora ]] && ! "${KCB_PYTHON:-python3}" -c 'import ensurepip, venv' \
        >/dev/null 2>&1; then
        echo python3-venv
    fi
    local check
    for check in "${checks[@]}"; do
        if ! command -v "${check%%:*}" >/dev/null 2>&1 \
            && ! [[ -x "/usr/bin/${check%%:*}" || -x "/usr/sbin/${check%%:*}" ]]; then
            echo "${check#*:}"
        fi
    done
}

kcb_system_packages() {
    local family
    family="$(kcb_os_family)"
    local -a missing
    mapfile -t missing < <(kcb_missing_system_packages "$family")
    [[ ${#missing[@]} -eq 0 ]] && return 0
    local install
    case "$family" in
        debian) install="apt-get install -y ${missing[*]}" ;;
        fedora) install="dnf install -y ${missing[*]}" ;;
        *)
            kcb_say "missing tools and an unknown OS: install the packages providing ${missing[*]}"
            return 1
            ;;
    esac
    if [[ "$(id -u)" != 0 ]]; then
        kcb_say "missing system packages: ${missing[*]}"
        kcb_say "install them as root, then run this again:"
        if [[ "$family" == debian ]]; then
            printf '    sudo apt-get update && sudo %s\n' "$install" >&2
        else
            printf '    sudo %s\n' "$install" >&2
        fi
        return 1
    fi
    kcb_say "installing system packages: ${missing[*]}"
    if [[ "$family" == debian ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
        # chromium unpacks more than a small /tmp holds
        TMPDIR=/var/tmp DEBIAN_FRONTEND=noninteractive $install -qq || return 1
    else
        $install -q || return 1
    fi
}

# The other arch this machine builds for through qemu: "<koji arch> <debian arch> <qemu entry>".
kcb_foreign_arch() {
    case "${KCB_MACHINE:-$(uname -m)}" in
        x86_64) echo "aarch64 arm64 qemu-aarch64" ;;
        aarch64) echo "x86_64 amd64 qemu-x86_64" ;;
    esac
}

# Register the qemu binfmt_misc entry $1 (F flag: qemu is opened at registration,
# so it also runs inside buildah's chroot). Prints why not when it cannot.
kcb_binfmt_register() {
    local entry="$1" dir="${KCB_BINFMT_DIR:-/proc/sys/fs/binfmt_misc}"
    local conf="${KCB_BINFMT_CONF_DIR:-/usr/lib/binfmt.d}/$entry.conf"
    if [[ ! -e "$dir/status" ]] && ! mount -t binfmt_misc binfmt_misc "$dir" 2>/dev/null; then
        echo "binfmt_misc cannot be mounted at $dir (a container without privileges?)"
        return 1
    fi
    if [[ -e "$dir/$entry" ]]; then
        if grep -q '^flags:.*F' "$dir/$entry"; then
            grep -qx enabled "$dir/$entry" || echo 1 >"$dir/$entry" 2>/dev/null \
                || { echo "the binfmt_misc entry $entry cannot be enabled"; return 1; }
            return 0
        fi
        echo -1 >"$dir/$entry" 2>/dev/null # registered without F: register it again
    fi
    if [[ ! -r "$conf" ]]; then
        echo "$conf is missing (qemu-user-static is not installed)"
        return 1
    fi
    if ! cat "$conf" >"$dir/register" 2>/dev/null; then
        echo "$dir/register refuses the entry $entry (a container without privileges?)"
        return 1
    fi
}

# qemu, its binfmt entry and busybox-static of the other arch (see the top).
kcb_foreign_arch_setup() {
    local foreign koji_arch deb_arch entry
    foreign="$(kcb_foreign_arch)"
    [[ -n "$foreign" && "$(kcb_os_family)" == debian ]] || return 0
    read -r koji_arch deb_arch entry <<<"$foreign"
    local busybox_dir="${KCB_FOREIGN_BUSYBOX_DIR:-/var/cache/koji-containerbuild/busybox}/$koji_arch"
    local ok_entry=false
    grep -qx enabled "/proc/sys/fs/binfmt_misc/$entry" 2>/dev/null \
        && grep -q '^flags:.*F' "/proc/sys/fs/binfmt_misc/$entry" && ok_entry=true
    if $ok_entry && [[ -x "$busybox_dir/bin/busybox" ]]; then
        return 0
    fi
    if [[ "$(id -u)" != 0 ]]; then
        kcb_say "builds for $koji_arch need qemu-user-static and busybox-static:$deb_arch; run this as root once to set them up"
        return 0
    fi
    local why
    if ! command -v "qemu-$koji_arch-static" >/dev/null 2>&1; then
        kcb_say "installing qemu-user-static binfmt-support (builds for $koji_arch)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
        TMPDIR=/var/tmp DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            qemu-user-static binfmt-support >/dev/null || return 1
    fi
    if ! why="$(kcb_binfmt_register "$entry")"; then
        kcb_say "builds for $koji_arch cannot run on this machine: $why"
    fi
    if [[ ! -x "$busybox_dir/bin/busybox" ]]; then
        kcb_say "unpacking busybox-static:$deb_arch into $busybox_dir"
        if ! dpkg --print-foreign-architectures | grep -qx "$deb_arch"; then
            dpkg --add-architecture "$deb_arch" || return 1
            DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
        fi
        local download
        download="$(mktemp -d /var/tmp/kcb-busybox-XXXXXX)" || return 1
        chown _apt "$download" 2>/dev/null # apt downloads as _apt where it can
        (cd "$download" && TMPDIR=/var/tmp apt-get download -qq "busybox-static:$deb_arch") \
            && mkdir -p "$busybox_dir" && dpkg-deb -x "$download"/busybox-static_*.deb "$busybox_dir"
        local status=$?
        rm -rf "$download"
        return $status
    fi
}

# Hash of whatever a `pip install .` copies, to skip reinstalling unchanged code.
kcb_source_hash() {
    (
        cd "$kcb_root" || exit 1
        find koji_containerbuild cli -type f -not -path '*/__pycache__/*' -print0 \
            | LC_ALL=C sort -z | xargs -0 cat
        cat setup.py pyproject.toml
    ) | sha256sum | cut -d' ' -f1
}

kcb_venv_setup() {
    local python="${KCB_PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
        kcb_say "$python is missing or older than 3.9; install Python 3.9 or newer"
        return 1
    fi
    if [[ ! -x "$kcb_venv/bin/python" ]]; then
        kcb_say "creating $kcb_venv"
        "$python" -m venv "$kcb_venv" || return 1
        echo '*' >"$kcb_venv/.gitignore" # keep the venv out of git status
    fi
    local pip=("$kcb_venv/bin/python" -m pip -q --disable-pip-version-check)
    local deps_stamp="$kcb_venv/.kcb-deps" deps_want="koji ${kcb_python_deps[*]}"
    if [[ "$(cat "$deps_stamp" 2>/dev/null)" != "$deps_want" ]]; then
        kcb_say "installing koji (without Kerberos) and ${kcb_python_deps[*]}"
        "${pip[@]}" install --no-warn-conflicts --no-deps koji || return 1
        "${pip[@]}" install --no-warn-conflicts "${kcb_python_deps[@]}" || return 1
        echo "$deps_want" >"$deps_stamp"
    fi
    local src_stamp="$kcb_venv/.kcb-installed" src_hash
    src_hash="$(kcb_source_hash)"
    if [[ "$(cat "$src_stamp" 2>/dev/null)" != "$src_hash" ]]; then
        kcb_say "installing koji-containerbuild into $kcb_venv"
        "${pip[@]}" install --no-warn-conflicts --no-deps --force-reinstall "$kcb_root" || return 1
        echo "$src_hash" >"$src_stamp"
    fi
}

kcb_bootstrap() {
    kcb_system_packages || return 1
    kcb_foreign_arch_setup || return 1
    kcb_venv_setup || return 1
    export VIRTUAL_ENV="$kcb_venv"
    case ":$PATH:" in
        *":$kcb_venv/bin:"*) ;;
        *) export PATH="$kcb_venv/bin:$PATH" ;;
    esac
    export KCB_ROOT="$kcb_root"
}

# KCB_BOOTSTRAP_FUNCTIONS_ONLY=1: define the functions only (the tests call them).
if [[ -z "${KCB_BOOTSTRAP_FUNCTIONS_ONLY:-}" ]]; then
    kcb_bootstrap || { return 1 2>/dev/null || exit 1; }
fi
