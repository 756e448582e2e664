#!/bin/sh
# Installs what the example campaigns in specs/ need, and does nothing that is already done:
# - the SAT solvers of specs/sat-solvers.yaml (Debian packages minisat, picosat, cadical);
# - CNFgen, pinned, in a virtual environment of Debian's python3, for scripts/gen-cnf.py.
#
# The quickstart and CI campaigns use only gzip, bzip2, xz, tar, sha256sum and python3,
# which every Debian system has. Run as root, or as a user who may use sudo.
#
# Environment:
#   CNFGEN_VENV   where the virtual environment goes (default: /opt/cellrun-cnfgen)
#   SKIP_CNFGEN   set to 1 to skip CNFgen: the instances are committed in specs/data/cnf,
#                 so only regenerating or checking them needs it
set -eu

CNFGEN_VERSION=0.9.6
CNFGEN_VENV=${CNFGEN_VENV:-/opt/cellrun-cnfgen}
PACKAGES="minisat picosat cadical python3 python3-venv"

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
else
    SUDO=sudo
fi

missing=""
for package in $PACKAGES; do
    if ! dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done

if [ -n "$missing" ]; then
    echo "installing Debian packages:$missing"
    $SUDO apt-get update
    # shellcheck disable=SC2086 # one argument per package
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
else
    echo "Debian packages already installed: $PACKAGES"
fi

if [ "${SKIP_CNFGEN:-0}" = 1 ]; then
    echo "skipping CNFgen because SKIP_CNFGEN=1"
    exit 0
fi

installed_version() {
    "$CNFGEN_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("CNFgen"))' 2>/dev/null || true
}

if [ "$(installed_version)" = "$CNFGEN_VERSION" ]; then
    echo "CNFgen $CNFGEN_VERSION already installed in $CNFGEN_VENV"
    exit 0
fi

echo "installing CNFgen $CNFGEN_VERSION into $CNFGEN_VENV"
$SUDO /usr/bin/python3 -m venv "$CNFGEN_VENV"
$SUDO "$CNFGEN_VENV/bin/pip" install --quiet --disable-pip-version-check "CNFgen==$CNFGEN_VERSION"

if [ "$(installed_version)" != "$CNFGEN_VERSION" ]; then
    echo "error: CNFgen $CNFGEN_VERSION is not importable from $CNFGEN_VENV after installing it" >&2
    exit 1
fi
echo "generate the instances with: $CNFGEN_VENV/bin/python scripts/gen-cnf.py"
