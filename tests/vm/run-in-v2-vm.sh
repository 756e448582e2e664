#!/usr/bin/env bash
# Runs a host program inside a throw-away qemu VM whose only cgroup hierarchy is cgroup v2.
#
# Usage: tests/vm/run-in-v2-vm.sh [options] [--] PROGRAM [ARGS...]
#
# PROGRAM is looked up on the host and copied into the guest at the same absolute path,
# together with the shared libraries that ldd lists for it. The guest runs Debian's stock
# kernel (the one linux-image-amd64 depends on) with `cgroup_no_v1=all`, a busybox userland
# in a tmpfs root and no network. PROGRAM starts as root in the cgroup /runner, which gets
# every controller from its parent and contains no other process, the way systemd sets up a
# unit with Delegate=yes. PROGRAM's environment is CELLRUN_IN_V2_VM=1, PATH, HOME and what
# -e and CELLRUN_VM_PASS_ENV add. Nothing else of the host environment reaches the guest.
#
# Options:
#   -f PATH      copy a host file or directory into the guest at its absolute path
#                (repeatable). ELF files lose their debug sections, which only slow the boot
#   -e VAR=VALUE set an environment variable for PROGRAM (repeatable)
#   -g CGROUP    cgroup PROGRAM starts in, relative to /sys/fs/cgroup (default: runner;
#                `/` keeps it in the root cgroup)
#   -m SIZE      guest memory as qemu's -m takes it (default: 1024M)
#   -t SECONDS   wall-time limit of the whole VM (default: 300)
#   -v           print the guest console and the VM's wall time to stderr afterwards
#   -h           print this help
#
# Environment:
#   CELLRUN_VM_CACHE     cache of the kernel and busybox (default: /var/tmp/cellrun-v2-vm)
#   CELLRUN_VM_PASS_ENV  space-separated names of host variables passed to PROGRAM
#   CELLRUN_VM_KERNEL_PACKAGE  Debian kernel package to boot (default: the dependency of
#                        linux-image-amd64)
#   CELLRUN_VM_ACCEL     qemu accelerator (default: tcg; kvm needs a /dev/kvm that can run
#                        a stock kernel)
#
# It works as a cargo runner: CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=tests/vm/run-in-v2-vm.sh
# Then every test binary of that cargo invocation runs in a VM of its own.
#
# Exit status: PROGRAM's status, 124 when the VM reached the -t limit, 125 when the VM could
# not be built or booted or did not report PROGRAM's status. PROGRAM's stdout and stderr are
# printed after the VM stops, not streamed.
set -euo pipefail

readonly name=run-in-v2-vm

fail() {
    echo "$name: $*" >&2
    exit 125
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

# Prints ARG quoted for sh, so that the guest gets it unchanged.
shell_quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

memory=1024M
time_limit=300
verbose=0
start_cgroup=runner
copies=()
variables=()
while getopts "f:e:g:m:t:vh" option; do
    case $option in
        f) copies+=("$OPTARG") ;;
        e) variables+=("$OPTARG") ;;
        g) start_cgroup=$OPTARG ;;
        m) memory=$OPTARG ;;
        t) time_limit=$OPTARG ;;
        v) verbose=1 ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 125 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || fail "no program given; see $0 -h"
for variable in "${variables[@]}"; do
    [[ $variable == [A-Za-z_]*=* ]] || fail "invalid -e $variable: expected VAR=VALUE"
done

command -v qemu-system-x86_64 >/dev/null ||
    fail "qemu-system-x86_64 not found; install it with apt-get install --no-install-recommends qemu-system-x86"

# ------------------------------------------------------------------ kernel and busybox cache
cache=${CELLRUN_VM_CACHE:-/var/tmp/cellrun-v2-vm}
mkdir -p "$cache"

# Downloads the kernel package and keeps its bzImage and overlay module. Only those are
# unpacked: the package's module tree is several hundred MB.
fetch_kernel() {
    local package=${CELLRUN_VM_KERNEL_PACKAGE:-}
    if [ -z "$package" ]; then
        package=$(apt-cache depends linux-image-amd64 2>/dev/null |
            awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    fi
    [ -n "$package" ] || fail "cannot find the kernel package that linux-image-amd64 depends on; run apt-get update"

    local download
    download=$(mktemp -d "$cache/kernel.XXXXXX")
    (cd "$download" && apt-get download "$package" >/dev/null 2>&1) ||
        { rm -rf "$download"; fail "apt-get download $package failed"; }
    mkdir "$download/root"
    dpkg-deb --fsys-tarfile "$download"/*.deb |
        tar -x -C "$download/root" --wildcards './boot/vmlinuz-*' '*/kernel/fs/overlayfs/overlay.ko*'
    local module
    module=$(find "$download/root" -name 'overlay.ko*' | head -n 1)
    [ -n "$module" ] || { rm -rf "$download"; fail "$package contains no overlay.ko"; }
    case $module in
        *.ko) cp "$module" "$cache/overlay.ko" ;;
        *.ko.xz) xz -dc "$module" >"$cache/overlay.ko" ;;
        *) rm -rf "$download"; fail "unknown compression of $module" ;;
    esac
    cp "$download"/root/boot/vmlinuz-* "$cache/vmlinuz"
    echo "$package" >"$cache/kernel-package"
    rm -rf "$download"
}

# Cuts the ELF kernel out of the xz-compressed bzImage. qemu boots it directly through the
# PVH entry point, which saves the seconds of decompression that a bzImage costs under TCG.
extract_vmlinux() {
    local offset
    offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$cache/vmlinuz" | head -n 1 | cut -d: -f1)
    [ -n "$offset" ] || fail "$cache/vmlinuz is not xz-compressed; delete $cache and retry"
    tail -c +$((offset + 1)) "$cache/vmlinuz" | xz -dc >"$cache/vmlinux.partial" 2>/dev/null || true
    [ "$(head -c 4 "$cache/vmlinux.partial" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
        fail "no ELF kernel found in $cache/vmlinuz; delete $cache and retry"
    mv "$cache/vmlinux.partial" "$cache/vmlinux"
}

fetch_busybox() {
    if [ -x /bin/busybox ] && ldd /bin/busybox 2>&1 | grep -q 'not a dynamic executable'; then
        cp /bin/busybox "$cache/busybox"
        return
    fi
    local download
    download=$(mktemp -d "$cache/busybox.XXXXXX")
    (cd "$download" && apt-get download busybox-static >/dev/null 2>&1) ||
        { rm -rf "$download"; fail "no static busybox: install busybox-static"; }
    dpkg-deb -x "$download"/*.deb "$download/root"
    cp "$download/root/bin/busybox" "$cache/busybox"
    rm -rf "$download"
}

# Several VMs may start at once (parallel test binaries), so one of them fills the cache.
exec {lock}>"$cache/lock"
flock "$lock"
[ -s "$cache/vmlinuz" ] && [ -s "$cache/overlay.ko" ] || fetch_kernel
[ -s "$cache/vmlinux" ] || extract_vmlinux
[ -x "$cache/busybox" ] || fetch_busybox
flock -u "$lock"

# ------------------------------------------------------------------------------- initramfs
work=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
qemu_pid=
cleanup() {
    [ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,newroot,etc,root,lib/modules}
cp "$cache/busybox" "$root/bin/busybox"
for applet in $("$cache/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
ln -s bin "$root/sbin"
cp "$cache/overlay.ko" "$root/lib/modules/overlay.ko"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

is_elf() {
    [ -f "$1" ] && [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]
}

# Copies a host file or directory to the same path in the guest, with the libraries of
# dynamic ELF files.
copy_into_guest() {
    local source=$1 target
    # Symlinks in the path are kept: the ELF interpreter is found by its unresolved path.
    target=$root$(realpath --no-symlinks "$source")
    [ -e "$target" ] && return
    mkdir -p "$(dirname "$target")"
    if is_elf "$source"; then
        strip --strip-debug -o "$target" "$source" 2>/dev/null || cp "$source" "$target"
        chmod --reference="$source" "$target"
        local library
        for library in $(ldd "$source" 2>/dev/null | grep -oE '/[^ ]+' || true); do
            copy_into_guest "$library"
        done
    else
        cp -a --dereference "$source" "$target"
    fi
}

program=$1
shift
if host_path=$(command -v -- "$program") && [ -f "$host_path" ]; then
    program=$(readlink -f "$host_path")
    copy_into_guest "$program"
fi
for copy in "${copies[@]}"; do
    [ -e "$copy" ] || fail "the file $copy for -f does not exist"
    copy_into_guest "$copy"
done

{
    echo 'export CELLRUN_IN_V2_VM=1'
    for variable in "${variables[@]}"; do
        echo "export ${variable%%=*}=$(shell_quote "${variable#*=}")"
    done
    for variable in ${CELLRUN_VM_PASS_ENV:-}; do
        [ -z "${!variable+set}" ] || echo "export $variable=$(shell_quote "${!variable}")"
    done
    # The working directory exists in the guest but is empty unless -f copied it.
    echo "mkdir -p $(shell_quote "$PWD") && cd $(shell_quote "$PWD")"
    printf 'exec %s' "$(shell_quote "$program")"
    for argument in "$@"; do printf ' %s' "$(shell_quote "$argument")"; done
    echo
} >"$root/program.sh"
echo "${start_cgroup#/}" >"$root/start-cgroup"

# Stage 1, PID 1 on the initramfs. pivot_root(2), which containers need, fails on the
# initramfs root, so the files move to a tmpfs that becomes the root.
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
export PATH=/bin
mount -t tmpfs -o mode=0755 tmpfs /newroot
for entry in /*; do
    [ "$entry" = /newroot ] || cp -a "$entry" /newroot/
done
exec switch_root /newroot /init-system
EOF

# Stage 2: mounts, cgroup v2 setup, PROGRAM, status line, power-off. /tmp stays on the root
# tmpfs, because a tmpfs of its own would hide the files copied below /tmp.
cat >"$root/init-system" <<'EOF'
#!/bin/sh
export PATH=/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
ln -s /proc/self/fd /dev/fd
chmod 1777 /tmp
insmod /lib/modules/overlay.ko
hostname cellrun-v2-vm
ip link set lo up
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo

cgroups=/sys/fs/cgroup
if ! mount -t cgroup2 -o nsdelegate cgroup2 $cgroups; then
    echo "VM-FAILURE cannot mount cgroup2"
    poweroff -f
fi
# Like systemd: init leaves the root cgroup for a leaf, and every controller of the root
# is passed down.
mkdir $cgroups/init.scope
echo $$ >$cgroups/init.scope/cgroup.procs
controllers=$(sed 's/[^ ][^ ]*/+&/g' $cgroups/cgroup.controllers)
echo "$controllers" >$cgroups/cgroup.subtree_control
start=$(cat /start-cgroup)
if [ -n "$start" ]; then
    mkdir -p $cgroups/$start
    # Delegate=yes: each ancestor, from the top down, passes the controllers on. The start
    # cgroup itself enables none, which is left to PROGRAM.
    ancestor=$cgroups
    below=$start
    while [ "${below#*/}" != "$below" ]; do
        ancestor=$ancestor/${below%%/*}
        below=${below#*/}
        echo "$controllers" >$ancestor/cgroup.subtree_control
    done
fi
echo "VM-READY kernel=$(uname -r) controllers=$(cat $cgroups/cgroup.subtree_control)"

sh -c "echo \$\$ >$cgroups/$start/cgroup.procs && . /program.sh" </dev/null >/dev/ttyS1 2>/dev/ttyS2
status=$?
sync
echo "VM-RESULT status=$status"
poweroff -f
EOF
chmod +x "$root/init" "$root/init-system"
(cd "$root" && find . | "$cache/busybox" cpio -o -H newc -R 0:0 2>/dev/null) >"$work/initrd.cpio"

# ------------------------------------------------------------------------------------ boot
accel=${CELLRUN_VM_ACCEL:-tcg}
[ "$accel" != tcg ] || accel=tcg,thread=multi,tb-size=256
: >"$work/console"
: >"$work/stdout"
: >"$work/stderr"
started=$(date +%s%N)
set +e
# An uncompressed initramfs and -nodefaults keep the boot short. `panic=-1` and
# -no-reboot turn a guest kernel panic into a qemu exit instead of a hang.
timeout -k 5 "$time_limit" qemu-system-x86_64 -nodefaults -no-user-config -display none \
    -machine pc -accel "$accel" -cpu max -m "$memory" -smp 2 -nic none -no-reboot \
    -kernel "$cache/vmlinux" -initrd "$work/initrd.cpio" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3 cgroup_no_v1=all rdinit=/init" \
    -serial "file:$work/console" -serial "file:$work/stdout" -serial "file:$work/stderr" \
    </dev/null >"$work/qemu.log" 2>&1 &
qemu_pid=$!
wait "$qemu_pid"
qemu_status=$?
qemu_pid=
set -e
finished=$(date +%s%N)

cat "$work/stdout"
cat "$work/stderr" >&2
if [ "$verbose" = 1 ]; then
    echo "--- guest console" >&2
    tr -d '\r' <"$work/console" >&2
    echo "--- VM wall time: $(((finished - started) / 1000000)) ms" >&2
fi

status=$(tr -d '\r' <"$work/console" | sed -n 's/^VM-RESULT status=\([0-9]*\)$/\1/p' | tail -n 1)
if [ -z "$status" ]; then
    {
        echo "$name: the guest reported no status (qemu exit status $qemu_status)"
        cat "$work/qemu.log"
        echo "--- last lines of the guest console"
        tr -d '\r' <"$work/console" | tail -n 40
    } >&2
    [ "$qemu_status" != 124 ] || exit 124
    exit 125
fi
exit "$status"
