#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Builds examples/loader/loader.c into a static arm64 binary and prints its
# path. The binary is cached under $PURGATORY_CACHE/loader/KEY/loader, where
# KEY hashes the source, the compiler's version and the flags, so a second run
# with the same inputs only prints the path.
#   bash scripts/build-loader.sh            # -> /root/.cache/purgatory/loader/<key>/loader
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src=$here/examples/loader/loader.c
cc=aarch64-linux-gnu-gcc
# -static: the loader runs in a busybox initramfs with no libc to link against.
flags=(-static -Os -std=gnu11 -Wall -Wextra -Werror)

die() { echo "build-loader: $*" >&2; exit 1; }
command -v "$cc" >/dev/null || die "$cc not found; install it with: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross (or run npm run provision)"
[ -f "$src" ] || die "$src is missing"

key=$({ sha256sum <"$src"; "$cc" --version | head -n 1; echo "${flags[*]}"; } | sha256sum | cut -c1-16)
cache=${PURGATORY_CACHE:-$HOME/.cache/purgatory}
out=$cache/loader/$key/loader
if [ ! -x "$out" ]; then
  mkdir -p "${out%/*}"
  tmp=$(mktemp "${out%/*}/.loader.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  "$cc" "${flags[@]}" -o "$tmp" "$src" || die "$cc failed on $src (above)"
  readelf -h "$tmp" | grep -q 'Machine:.*AArch64' || die "$tmp is not an AArch64 ELF"
  ! readelf -l "$tmp" | grep -q 'program interpreter' || die "$tmp is not static (it has a program interpreter)"
  chmod 0755 "$tmp"
  mv "$tmp" "$out"
fi
echo "$out"
