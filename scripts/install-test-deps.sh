#!/usr/bin/env bash
# Installs what the tests need on a Debian machine; safe to run again.
set -euo pipefail

packages=(python3 procps util-linux)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
