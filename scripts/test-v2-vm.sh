#!/usr/bin/env bash
# Runs the cgroup v2 suite (tests/cgroup_v2_vm.rs) in a throw-away qemu VM whose only
# cgroup hierarchy is cgroup v2, and fails unless every test of the suite passed there.
# Arguments go to the test binary, so `scripts/test-v2-vm.sh rootless` runs the tests whose
# names contain `rootless`; all of those must pass.
#
# Installs qemu-system-x86, busybox-static and xz-utils when they are missing (Debian, as
# root). A VM that cannot start is a failure, not a skip. The first run downloads Debian's
# kernel package (about 70 MB) and keeps what it needs in /var/tmp/cellrun-v2-vm.
#
# Installing qemu-system-x86 from Debian 12 removes a qemu-utils from bookworm-backports,
# because the two packages conflict. Reinstall qemu-utils afterwards if qemu-img is needed.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly suite=cgroup_v2_vm
readonly vm_time_limit=120

install_missing() {
    local packages=()
    command -v qemu-system-x86_64 >/dev/null || packages+=(qemu-system-x86)
    dpkg -s busybox-static >/dev/null 2>&1 || packages+=(busybox-static)
    command -v xz >/dev/null || packages+=(xz-utils)
    # The harness downloads the kernel with apt-get, which needs the package lists.
    if [ "${#packages[@]}" -gt 0 ] || ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
        apt-get update -qq
    fi
    if [ "${#packages[@]}" -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
    fi
}

# Prints the path of the compiled artifact whose JSON message matches both patterns.
artifact() {
    grep '"reason":"compiler-artifact"' <<<"$build_messages" | grep -F "$1" | grep -F "$2" |
        grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | tail -n 1
}

install_missing

build_messages=$(cargo test --locked --no-run --test "$suite" --message-format=json-render-diagnostics)
test_binary=$(artifact "\"name\":\"$suite\"" '"test":true')
cellrun=$(artifact '"kind":["bin"]' '"name":"cellrun"')
[ -x "$test_binary" ] || { echo "test-v2-vm: no test binary for $suite in cargo's output" >&2; exit 1; }
[ -x "$cellrun" ] || { echo "test-v2-vm: no cellrun binary in cargo's output" >&2; exit 1; }
expected=$("$test_binary" --list "$@" | grep -c ': test$' || true)
[ "$expected" -gt 0 ] || { echo "test-v2-vm: no test of $suite matches: $*" >&2; exit 1; }

log=$(mktemp "${TMPDIR:-/tmp}/test-v2-vm.XXXXXX")
trap 'rm -f "$log"' EXIT
started=$(date +%s)
status=0
tests/vm/run-in-v2-vm.sh -t "$vm_time_limit" -f "$cellrun" -e RUST_BACKTRACE=1 \
    "$test_binary" --test-threads=1 "$@" >"$log" 2>&1 || status=$?
cat "$log"
echo "test-v2-vm: the VM ran for $(($(date +%s) - started)) s"

result=$(grep '^test result:' "$log" | tail -n 1 || true)
if [ "$status" -ne 0 ]; then
    case $status in
        124) echo "test-v2-vm: FAILED: the VM timed out after $vm_time_limit s" >&2 ;;
        125) echo "test-v2-vm: FAILED: the VM could not be built or started" >&2 ;;
        *) echo "test-v2-vm: FAILED: the suite exited with status $status" >&2 ;;
    esac
    exit 1
fi
if grep -q '^SKIP ' "$log"; then
    echo "test-v2-vm: FAILED: tests skipped inside the VM" >&2
    exit 1
fi
if ! grep -q "^test result: ok\. $expected passed; 0 failed; 0 ignored;" <<<"$result"; then
    echo "test-v2-vm: FAILED: expected all $expected tests to pass in the VM, got: ${result:-no test result}" >&2
    exit 1
fi
echo "$result"
