#!/usr/bin/env bash
# Installs what the tests and the main job need, idempotently. A second run
# does nothing and returns in a few seconds.
#   - Debian packages on the host (qemu-system-arm, device-tree-compiler, ...)
#   - npm packages (npm ci) when node_modules is missing or stale
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

host_pkgs=(qemu-system-arm device-tree-compiler cpio gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils)

missing=()
for p in "${host_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "provision: missing Debian packages: ${missing[*]}" >&2
    echo "provision: run as root, or install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "provision: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || { echo "provision: apt-get update failed; Debian's archive must be reachable to install ${missing[*]}" >&2; exit 1; }
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages: install when node_modules does not match the lockfile.
if [ ! -f "$here/node_modules/.package-lock.json" ] || ! cmp -s <(sed -n '/"packages"/,$p' "$here/package-lock.json" | grep -c '"resolved"') <(sed -n '/"packages"/,$p' "$here/node_modules/.package-lock.json" | grep -c '"resolved"'); then
  echo "provision: npm ci"
  (cd "$here" && npm ci --no-audit --no-fund >/dev/null)
fi
