#!/usr/bin/env bash
# Purgatory figures, counted under QEMU with a TCG plugin:
#   bash bench/purgatory-bench.sh sha256 [BUILDS]    blob size, build time, instructions per byte
#                                                    of each SHA-256 routine (bench/purgatory-sha256.ts)
#   bash bench/purgatory-bench.sh fastpath [RUNS]    each verification path on 64 MiB of regions:
#                                                    instructions per byte and wall time (bench/purgatory-fastpath.ts)
# Needs gcc for the plugin (toolchain/qemu/icount-plugin.c, compiled with
# `gcc -shared -fPIC`; it declares the QEMU 7.2 plugin API itself, because
# Debian ships no qemu-plugin.h, and needs no glib).
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-sha256}
case "$which" in
  sha256|fastpath) shift || true ;;
  *) echo "purgatory-bench: unknown bench \"$which\" (use sha256 or fastpath)" >&2; exit 2 ;;
esac
command -v gcc >/dev/null || { echo "purgatory-bench: gcc is needed to build the QEMU plugin (apt-get install gcc)" >&2; exit 1; }
nm -D "$(command -v qemu-system-aarch64)" | grep " T qemu_plugin_register_vcpu_tb_trans_cb" >/dev/null \
  || { echo "purgatory-bench: this qemu-system-aarch64 has no TCG plugin support (CONFIG_PLUGIN)" >&2; exit 1; }
npx tsc -p tsconfig.json
node "dist/bench/purgatory-$which.js" "$@"
