#!/usr/bin/env bash
# Installs what the tests and the main job need, idempotently. A second run
# does nothing and returns in well under a second.
#   1. Debian packages on the host (qemu-system-arm, device-tree-compiler, ...)
#   2. npm packages (npm ci) when node_modules is missing or stale
#   3. arm64 Debian packages (the cloud kernel, the generic kernel with the
#      ZynqMP ZCU102 device tree, busybox-static, makedumpfile and kexec-tools
#      with the shared libraries each needs, Debian 12's nodejs (Node 18) with
#      its libraries for running the CLI on the target), downloaded and
#      extracted into a cache outside git, plus a sysroot holding the kernel,
#      busybox and makedumpfile together, described by $cache/assets.json
#      (read by scripts/assets.ts)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

say() { echo "provision: $*"; }
warn() { echo "provision: $*" >&2; }
die() { echo "provision: $*" >&2; exit 1; }

# --- 1. Host packages -------------------------------------------------------
# The tests run QEMU (qemu-system-arm ships qemu-system-aarch64), check DTBs
# with dtc/fdtget, extract initramfs archives with cpio, build arm64 test code
# with the cross gcc and read ELF files with readelf (binutils). The capture
# cycle makes the dump disk with mkfs.ext4 and reads it back with debugfs
# (e2fsprogs), and reads the saved vmcore with the arm64 makedumpfile run
# under qemu-aarch64 (qemu-user). Headless Chromium renders the SVG memory map
# of `purgatory explain --svg` in its test.
host_pkgs=(qemu-system-arm device-tree-compiler cpio gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils busybox gcc e2fsprogs qemu-user chromium)

missing=()
for p in "${host_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    warn "missing Debian packages: ${missing[*]}"
    die "run as root, or install them with: sudo apt-get install ${missing[*]}"
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed; Debian's archive must be reachable to install ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. npm packages ----------------------------------------------------------
# Install when node_modules does not match the lockfile (a fresh clone has none).
if [ ! -f "$here/node_modules/.package-lock.json" ] || ! cmp -s <(sed -n '/"packages"/,$p' "$here/package-lock.json" | grep -c '"resolved"') <(sed -n '/"packages"/,$p' "$here/node_modules/.package-lock.json" | grep -c '"resolved"'); then
  say "npm ci"
  npm_log=$(mktemp)
  if ! (cd "$here" && npm ci --no-audit --no-fund >"$npm_log" 2>&1); then
    cat "$npm_log" >&2
    die "npm ci failed (above); on a fresh clone it needs the npm registry to install package-lock.json"
  fi
  rm -f "$npm_log"
fi

# --- 3. arm64 Debian packages -------------------------------------------------
# Later work boots a real Debian arm64 kernel in QEMU with a busybox initramfs
# and runs makedumpfile and Debian's kexec (what the benches compare with) in
# the guest. The packages come from the host's own apt sources, fetched for
# arm64 with a private apt state (lists, cache, an empty dpkg status) so the
# host's dpkg and apt state stay untouched and no foreign architecture is
# enabled.
cache=${PURGATORY_CACHE:-$HOME/.cache/purgatory}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
pin_file=$here/scripts/arm64-packages.pin
# Bump when the set or layout of assets changes, so existing caches are rebuilt.
schema=4
kernel_meta=linux-image-cloud-arm64

# Serialise concurrent runs (several test runs may start at once).
exec 9>"$cache/.lock"
flock 9

[ -f "$pin_file" ] || die "$pin_file is missing; restore it from git (git checkout -- scripts/arm64-packages.pin)"
pin_sha=$(sha256sum "$pin_file" | cut -d' ' -f1)

# Nothing to do when assets.json was made by this schema from these pins and
# every file it lists is still there.
fresh() {
  [ -f "$cache/assets.json" ] && [ -f "$cache/arm64/files" ] || return 1
  grep -q "\"schema\": $schema," "$cache/assets.json" || return 1
  grep -q "\"pinSha256\": \"$pin_sha\"" "$cache/assets.json" || return 1
  grep -q '"sysroot": "' "$cache/assets.json" || return 1
  local f
  while read -r f; do [ -e "$cache/$f" ] || return 1; done <"$cache/arm64/files"
}
fresh && exit 0

apt_dir=$cache/apt
debs=$cache/debs
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache" "$debs"
# A private binary package cache (pkgcache.bin) makes each apt-cache call take
# milliseconds instead of a second of parsing the lists again.
apt_o=(-qq -oAPT::Architecture=arm64 -oAPT::Architectures=arm64
  -oDir::State::Lists="$apt_dir/lists" -oDir::Cache="$apt_dir/cache" -oDir::Cache::pkgcache=pkgcache.bin
  -oDir::State::status=/dev/null -oAPT::Update::Error-Mode=any)
# As root apt drops to the _apt user to download, which cannot write into a
# private cache such as /root/.cache; apt still checks signatures and hashes.
[ "$(id -u)" = 0 ] && apt_o+=(-oAPT::Sandbox::User=root)

# Update the private package lists once per run, and only when something must
# be downloaded: a complete cache needs no network.
lists_ready=
ensure_lists() {
  [ -n "$lists_ready" ] && return
  say "apt-get update (arm64 package lists for $1)"
  if ! apt-get "${apt_o[@]}" update >"$apt_dir/update.log" 2>&1; then
    cat "$apt_dir/update.log" >&2
    local p v uncached=()
    while read -r p v _; do
      [ -n "$(cached_deb "$p" "$v")" ] || uncached+=("$p=$v")
    done < <(grep -v '^#' "$pin_file")
    warn "cannot fetch arm64 packages: Debian's archive is unreachable (apt-get update failed, above)."
    warn "needed for $1; pinned packages not in $debs: ${uncached[*]:-none} (plus any library makedumpfile or kexec needs that is not pinned)."
    die "connect this machine to the archive in /etc/apt/sources.list.d (or set http_proxy), or copy a provisioned cache from another machine into $cache; then run: npm run provision"
  fi
  lists_ready=1
}

# Prints the candidate (newest, highest-priority) arm64 version of $1.
current_version() {
  apt-cache "${apt_o[@]}" show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1
}
# True when the archive still carries $1 at version $2 (apt-cache show prints
# nothing, yet succeeds, for an unknown version of a known package).
available() { [ -n "$(apt-cache "${apt_o[@]}" show "$1=$2" 2>/dev/null)" ]; }
# Prints the cached .deb of $1 at version $2, if any (apt writes ':' as %3a).
cached_deb() { compgen -G "$debs/${1}_${2//:/%3a}_*.deb" | head -n 1 || true; }

# pinned_usable PKG: sets $ver/$sha from the pin file (empty when not pinned);
# true when the cache or the archive has that version.
pinned_usable() {
  read -r ver sha < <(awk -v p="$1" '$1 == p { print $2, $3 }' "$pin_file") || true
  ver=${ver:-} sha=${sha:-}
  [ -n "$ver" ] || return 1
  [ -n "$(cached_deb "$1" "$ver")" ] && return
  ensure_lists "$1"
  available "$1" "$ver"
}

# choose PKG: sets $ver/$sha to the pinned version while the cache or the
# archive still has it, else to the current version, and says so on stderr.
choose() {
  local pkg=$1 cur
  pinned_usable "$pkg" && return
  ensure_lists "$pkg"
  cur=$(current_version "$pkg")
  [ -n "$cur" ] || die "$pkg is not in the arm64 package lists of the host's apt sources; add a Debian bookworm source to /etc/apt/sources.list.d"
  if [ -n "$ver" ]; then
    warn "pinned $pkg $ver is gone from Debian's archive; using the current $cur (adopt it: cp $cache/arm64-packages.pin $pin_file)"
  else
    warn "$pkg is not pinned in $pin_file; using the current $cur (pin it: cp $cache/arm64-packages.pin $pin_file)"
  fi
  ver=$cur sha=
}

# get PKG VER SHA: sets $deb to PKG's VER .deb, downloading it when not cached,
# and checks it against the pinned SHA-256 (empty: not pinned). Records what
# was used in $fetched (the format of the pin file).
fetched=()
get() {
  local pkg=$1 v=$2 want=$3 got
  deb=$(cached_deb "$pkg" "$v")
  if [ -n "$deb" ] && [ -n "$want" ] && [ "$(sha256sum "$deb" | cut -d' ' -f1)" != "$want" ]; then
    warn "cached $deb does not match its pinned sha256; downloading it again"
    rm -f "$deb"
    deb=
  fi
  if [ -z "$deb" ]; then
    ensure_lists "$pkg"
    say "downloading $pkg $v (arm64)"
    rm -rf "$debs/.partial" && mkdir -p "$debs/.partial"
    (cd "$debs/.partial" && apt-get "${apt_o[@]}" download "$pkg=$v") || die "apt-get download $pkg=$v (arm64) failed"
    deb=$(compgen -G "$debs/.partial/*.deb")
    mv "$deb" "$debs/" && deb=$debs/${deb##*/}
  fi
  got=$(sha256sum "$deb" | cut -d' ' -f1)
  [ -z "$want" ] || [ "$got" = "$want" ] ||
    die "$deb has sha256 $got but $pin_file pins $want for $pkg $v: the archive changed a published version; check the archive, then update the pin"
  fetched+=("$pkg $v $got")
}

# The kernel: the pinned ABI package (linux-image-<abi>-cloud-arm64) while it is
# in the archive; otherwise whatever the linux-image-cloud-arm64 metapackage
# depends on now, since security updates move the ABI name on and drop the old.
choose_kernel() {
  kpkg=$(awk '$1 ~ /^linux-image-.*-cloud-arm64$/ { print $1; exit }' "$pin_file")
  if [ -n "$kpkg" ] && pinned_usable "$kpkg"; then return; fi
  ensure_lists "$kernel_meta"
  local dep
  dep=$(apt-cache "${apt_o[@]}" show --no-all-versions "$kernel_meta" | sed -n 's/^Depends: //p' |
    grep -o 'linux-image-[^ ,]*-cloud-arm64 (= [^)]*)' | head -n 1)
  [ -n "$dep" ] || die "cannot find which kernel $kernel_meta depends on in the arm64 package lists"
  local was="no kernel is pinned in $pin_file"
  [ -z "$kpkg" ] || was="pinned kernel $kpkg ${ver:-} is gone from Debian's archive"
  kpkg=${dep%% *} ver=${dep##*= } ver=${ver%)} sha=
  warn "$was; using $kpkg $ver, what $kernel_meta depends on now (adopt it: cp $cache/arm64-packages.pin $pin_file)"
}
# extract PKG DEB DIR: unpack DEB into DIR; in the root of the program being
# resolved (program, below), also keep its file list, to find which package
# owns a library.
extract() {
  mkdir -p "$3"
  dpkg-deb -x "$2" "$3"
  [ "$3" != "${root:-}" ] || dpkg-deb --fsys-tarfile "$2" | tar -t | sed 's|^\./|/|' >"$lists/$1"
}

# Fetch the top-level packages first, so that an unreachable archive or a hash
# that does not match its pin stops the run before any unpacking.
choose_kernel
get "$kpkg" "$ver" "$sha"
kernel_deb=$deb kernel_ver=$ver
# The generic kernel, for boards other than QEMU virt (the xlnx-zcu102
# machine boots it with the ZCU102 device tree it ships): the same ABI and
# version as the cloud kernel, so both come from one source upload.
gpkg=linux-image-${kpkg#linux-image-}
gpkg=${gpkg%-cloud-arm64}-arm64
gsha=$(awk -v p="$gpkg" -v v="$kernel_ver" '$1 == p && $2 == v { print $3 }' "$pin_file")
if [ -z "$(cached_deb "$gpkg" "$kernel_ver")" ]; then
  ensure_lists "$gpkg"
  available "$gpkg" "$kernel_ver" || die "$gpkg $kernel_ver, the generic kernel of the cloud kernel's upload, is not in the arm64 package lists"
fi
[ -n "$gsha" ] || warn "$gpkg $kernel_ver is not pinned in $pin_file; using it unpinned (pin it: cp $cache/arm64-packages.pin $pin_file)"
get "$gpkg" "$kernel_ver" "$gsha"
generic_deb=$deb
choose busybox-static
get busybox-static "$ver" "$sha"
busybox_deb=$deb busybox_ver=$ver
choose makedumpfile
get makedumpfile "$ver" "$sha"
makedumpfile_deb=$deb makedumpfile_ver=$ver
choose kexec-tools
get kexec-tools "$ver" "$sha"
kexec_deb=$deb kexec_ver=$ver
# Debian 12's nodejs (Node 18): the target-side commands (`purgatory kdump`)
# run on the Node a distro ships, and the kdump cycle test runs them with it.
choose nodejs
get nodejs "$ver" "$sha"
nodejs_deb=$deb nodejs_ver=$ver

# Everything is extracted into a staging directory that replaces arm64/ only
# when complete, so a failed run leaves the previous assets intact.
stage=$cache/arm64.new
rm -rf "$stage"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lists"

# Kernel: the packaged vmlinuz (Debian arm64 ships it as a plain or a
# gzip-compressed arm64 Image), and an uncompressed Image for QEMU's -kernel.
release=${kpkg#linux-image-}
extract "$kpkg" "$kernel_deb" "$stage/kernel"
vmlinuz=kernel/boot/vmlinuz-$release
[ -f "$stage/$vmlinuz" ] || die "$kpkg does not ship /boot/vmlinuz-$release"
# The arm64 Image header has the magic "ARM\x64" at offset 0x38
# (Documentation/arch/arm64/booting.rst); gzip starts with 1f 8b.
image_magic() { od -An -c -j 56 -N 4 "$1" | tr -d ' '; }
case $(od -An -tx1 -N 2 "$stage/$vmlinuz" | tr -d ' ') in
  1f8b) compression=gzip; gzip -dc "$stage/$vmlinuz" >"$stage/Image" ;;
  *) compression=none; cp "$stage/$vmlinuz" "$stage/Image" ;;
esac
[ "$(image_magic "$stage/Image")" = 'ARMd' ] ||
  die "$vmlinuz from $kpkg $kernel_ver is neither an arm64 Image nor a gzip-compressed one (no ARM\\x64 magic at 0x38)"
# The generic kernel: its Image and config, and the ZCU102 device tree from
# /usr/lib/linux-image-*/xilinx/ (the rest of the package, its modules
# above all, is not needed: the kernel boots from an initramfs, earlycon and
# the ZynqMP UART are built in).
grelease=${gpkg#linux-image-}
gvmlinuz=generic/boot/vmlinuz-$grelease
gconfig=generic/boot/config-$grelease
zcu102_dtb=generic/usr/lib/linux-image-$grelease/xilinx/zynqmp-zcu102-rev1.0.dtb
mkdir -p "$stage/generic"
dpkg-deb --fsys-tarfile "$generic_deb" | tar -x -C "$stage/generic" "./${gvmlinuz#generic/}" "./${gconfig#generic/}" "./${zcu102_dtb#generic/}" ||
  die "$gpkg does not ship /boot/vmlinuz-$grelease, /boot/config-$grelease and xilinx/zynqmp-zcu102-rev1.0.dtb"
case $(od -An -tx1 -N 2 "$stage/$gvmlinuz" | tr -d ' ') in
  1f8b) gzip -dc "$stage/$gvmlinuz" >"$stage/generic/Image" && rm "$stage/$gvmlinuz" ;;
  *) mv "$stage/$gvmlinuz" "$stage/generic/Image" ;;
esac
[ "$(image_magic "$stage/generic/Image")" = 'ARMd' ] || die "$gvmlinuz from $gpkg is not an arm64 Image (no ARM\\x64 magic at 0x38)"
[ "$(od -An -tx1 -N 4 "$stage/$zcu102_dtb" | tr -d ' ')" = d00dfeed ] || die "$zcu102_dtb from $gpkg is not a device tree blob"

config=kernel/boot/config-$release
[ -f "$stage/$config" ] || config=
# Debian ships a one-line placeholder System.map (the real one is in the -dbg
# package); record it only when it is a real symbol table.
system_map=kernel/boot/System.map-$release
{ [ -f "$stage/$system_map" ] && [ "$(wc -l <"$stage/$system_map")" -gt 1 ]; } || system_map=
modules=kernel/lib/modules/$release
[ -d "$stage/$modules" ] || modules=

# busybox-static: one static binary that provides the initramfs's shell and tools.
extract busybox-static "$busybox_deb" "$stage/busybox"
busybox=busybox/bin/busybox
[ -f "$stage/$busybox" ] || die "busybox-static does not ship /bin/busybox"
readelf -h "$stage/$busybox" | grep -q 'Machine:.*AArch64' || die "$busybox is not an AArch64 ELF"
readelf -l "$stage/$busybox" | grep -q 'program interpreter' && die "$busybox is not static (it has a program interpreter)"

# A dynamically linked program and its shared libraries, in one root laid out
# like the guest's (one root a program: each is run from its own initramfs).
# resolve GUESTPATH: follows symlinks inside $root; prints the guest path of
# the file they end at (the root is not the host's /, so realpath cannot do it).
resolve() {
  local p=$1 t n=0
  while [ -L "$root$p" ]; do
    t=$(readlink "$root$p")
    case $t in /*) p=$t ;; *) p=$(realpath -m -s "${p%/*}/$t") ;; esac
    n=$((n + 1)) && [ $n -lt 40 ] || die "symlink loop at $1 in $root"
  done
  [ -f "$root$p" ] && echo "$p"
}
# The directories the aarch64 glibc dynamic linker searches (no ld.so.cache in
# an initramfs); the guest runs each program with exactly these as --library-path.
lib_dirs=(/lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu /lib /usr/lib)
# find_soname SONAME: prints the guest path where SONAME is in $root, if anywhere.
find_soname() {
  local d
  for d in "${lib_dirs[@]}"; do
    if [ -e "$root$d/$1" ] || [ -L "$root$d/$1" ]; then echo "$d/$1" && return; fi
  done
}
# owner GUESTPATH: the package of $root whose file list has GUESTPATH.
owner() {
  local list
  list=$(grep -lxF "$1" "$lists"/* | head -n 1) || die "no package extracted into $root owns $1"
  basename "$list"
}
# Same-architecture dependencies only: a ':any' dependency (perl:any) may be
# met by another architecture's package, so it cannot be what the dynamic
# linker loads; of alternatives "a | b" the first is Debian's default.
depends_of() {
  dpkg-deb -f "$1" Pre-Depends Depends | sed -n 's/^[A-Za-z-]*: //p' | tr ',' '\n' |
    sed 's/|.*//; s/(.*//; s/[[:space:]]//g' | grep -v ':any$' | grep -v '^$' || true
}
needed() { readelf -d "$root$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
rel() { echo "arm64/${1#"$stage"/}"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
join() { local IFS=,; echo "$*"; }

# program PKG DEB VERSION NAME: extracts PKG into $stage/PKG, finds its binary
# NAME, the closure of the shared libraries it needs and its program
# interpreter; sets $program_json to its assets.json object and adds the
# number of libraries to $libraries.
libraries=0
program() {
  local pkg=$1 bin= d elf elf_pkg so at real dep interp interp_real
  local root=$stage/$1 lists=$stage/lists/$1
  mkdir -p "$lists"
  extract "$pkg" "$2" "$root"
  for d in /usr/sbin /usr/bin /sbin /bin; do
    [ -f "$root$d/$4" ] && bin=$d/$4 && break
  done
  [ -n "$bin" ] || die "$pkg does not ship a $4 binary"

  # Walk the NEEDED entries (readelf -d) from the binary down. When a soname is
  # not in the root yet, extract the dependencies of the package that owns the
  # ELF asking for it, then look again; what is still missing is an error.
  local -A have=([$pkg]=1) deb_of=([$pkg]=$2) lib_at=() lib_pkg=()
  local queue=("$bin")
  while [ ${#queue[@]} -gt 0 ]; do
    elf=${queue[0]} queue=("${queue[@]:1}")
    # Debian's node has RUNPATH $ORIGIN/../lib:$ORIGIN/ (upstream's layout);
    # its libraries are in the standard directories searched here. A library
    # reachable only through an RPATH would be reported missing below, so only
    # an RPATH outside the program's own tree is refused.
    readelf -d "$root$elf" | sed -n 's/.*(\(RPATH\|RUNPATH\)).*\[\(.*\)\]/\2/p' | tr ':' '\n' | grep -v '^$ORIGIN' | grep -q . &&
      die "$elf has an RPATH/RUNPATH outside \$ORIGIN, which this resolver does not follow"
    elf_pkg=$(owner "$elf")
    for so in $(needed "$elf"); do
      [ -n "${lib_at[$so]:-}" ] && continue
      at=$(find_soname "$so")
      if [ -z "$at" ]; then
        for dep in $(depends_of "${deb_of[$elf_pkg]}"); do
          [ -n "${have[$dep]:-}" ] && continue
          choose "$dep"
          get "$dep" "$ver" "$sha"
          extract "$dep" "$deb" "$root"
          have[$dep]=1 deb_of[$dep]=$deb
        done
        at=$(find_soname "$so")
        [ -n "$at" ] || die "soname $so, NEEDED by $elf (package $elf_pkg), is in none of its dependencies ($(depends_of "${deb_of[$elf_pkg]}" | xargs)) under ${lib_dirs[*]}"
      fi
      real=$(resolve "$at") || die "soname $so at $at is a dangling symlink in $root"
      lib_at[$so]=$at lib_pkg[$so]=$(owner "$at")
      queue+=("$real")
    done
  done

  # The program interpreter (PT_INTERP) must be there too: the guest runs the
  # binary through it.
  interp=$(readelf -l "$root$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
  [ -n "$interp" ] || die "$bin of $pkg has no program interpreter; expected a dynamic binary"
  interp_real=$(resolve "$interp") || die "the program interpreter $interp of $bin is not in $root: add the package that ships it (libc6) to the dependencies of $pkg"

  local jlibs=() used_dirs
  for so in $(printf '%s\n' "${!lib_at[@]}" | sort); do
    real=$(resolve "${lib_at[$so]}")
    jlibs+=("$(printf '\n      {"soname": "%s", "guestPath": "%s", "path": "%s", "sha256": "%s", "package": "%s"}' \
      "$so" "${lib_at[$so]}" "$(rel "$root$real")" "$(sha "$root$real")" "${lib_pkg[$so]}")")
  done
  used_dirs=$(for so in "${!lib_at[@]}"; do dirname "${lib_at[$so]}"; done | sort -u | sed 's/.*/"&"/' | paste -sd, | sed 's/,/, /g')
  program_json=$(cat <<EOF
{
    "package": "$pkg",
    "version": "$3",
    "root": "$(rel "$root")",
    "guestPath": "$bin",
    "binary": {"path": "$(rel "$root$bin")", "sha256": "$(sha "$root$bin")"},
    "interpreter": {"guestPath": "$interp", "path": "$(rel "$root$interp_real")", "sha256": "$(sha "$root$interp_real")"},
    "libDirs": [$used_dirs],
    "libraries": [$(join "${jlibs[@]}")
    ]
  }
EOF
)
  libraries=$((libraries + ${#lib_at[@]}))
}

program makedumpfile "$makedumpfile_deb" "$makedumpfile_ver" makedumpfile
makedumpfile_json=$program_json
program kexec-tools "$kexec_deb" "$kexec_ver" kexec
kexec_json=$program_json
program nodejs "$nodejs_deb" "$nodejs_ver" node
nodejs_json=$program_json
# node 18 as Debian builds it loads these packages' JavaScript at start-up
# (--with-intl, shared cjs-module-lexer, acorn and undici); libnode108 depends
# on them, so the closure above extracted them: check it did.
for js in cjs-module-lexer acorn undici; do
  [ -d "$stage/nodejs/usr/share/nodejs/$js" ] || die "node-$js is missing from $stage/nodejs: libnode108 no longer depends on it? node 18 loads it at start-up"
done

# A sysroot: busybox-static, makedumpfile with every package its libraries
# come from, and the kernel (with /lib/modules), in one root laid out as
# installed, for `purgatory initramfs --sysroot` (the capture initramfs). Its
# files are hard links into the trees above, so it costs no space; like any
# tree unpacked from .deb files it has no modules.dep (depmod runs at install
# time).
for t in busybox makedumpfile kernel; do cp -al "$stage/$t/." "$stage/sysroot/"; done
[ -x "$stage/sysroot/bin/busybox" ] && [ -x "$stage/sysroot/usr/bin/makedumpfile" ] && [ -d "$stage/sysroot/lib/modules/$release" ] ||
  die "internal error: the sysroot lacks busybox, makedumpfile or /lib/modules/$release"

# Record what was fetched, in the pin file's format, for a person to adopt.
{
  echo "# arm64 Debian packages for scripts/provision.sh: package version sha256."
  echo "# provision.sh prefers these versions; when Debian's archive has dropped one, it"
  echo "# takes the current one, says so, and writes what it fetched to"
  echo "# \$PURGATORY_CACHE/arm64-packages.pin: copy that file here to adopt it."
  printf '%s\n' "${fetched[@]}" | sort -u
} >"$stage/arm64-packages.pin"

# assets.json: paths are relative to the cache directory (scripts/assets.ts
# makes them absolute), so a cache can be moved or copied to another machine.
jfile() { # jfile PATH-IN-STAGE: {"path", "sha256"}, or null for an empty name
  if [ -z "$1" ]; then echo null; else printf '{"path": "%s", "sha256": "%s"}' "$(rel "$stage/$1")" "$(sha "$stage/$1")"; fi
}
jdir() { if [ -z "$1" ]; then echo null; else printf '"%s"' "$(rel "$stage/$1")"; fi; }
jdebs=()
while read -r p v s; do
  d=$(cached_deb "$p" "$v")
  pinned=false
  awk -v p="$p" -v v="$v" '$1 == p && $2 == v { f = 1 } END { exit !f }' "$pin_file" && pinned=true
  jdebs+=("$(printf '\n    {"package": "%s", "version": "%s", "path": "debs/%s", "sha256": "%s", "pinned": %s}' "$p" "$v" "${d##*/}" "$s" "$pinned")")
done < <(printf '%s\n' "${fetched[@]}" | sort -u)
cat >"$stage/assets.json" <<EOF
{
  "schema": $schema,
  "pinSha256": "$pin_sha",
  "debs": [$(join "${jdebs[@]}")
  ],
  "kernel": {
    "package": "$kpkg",
    "version": "$kernel_ver",
    "release": "$release",
    "vmlinuz": $(jfile "$vmlinuz"),
    "vmlinuzCompression": "$compression",
    "image": $(jfile Image),
    "config": $(jfile "$config"),
    "systemMap": $(jfile "$system_map"),
    "modulesDir": $(jdir "$modules")
  },
  "genericKernel": {
    "package": "$gpkg",
    "version": "$kernel_ver",
    "release": "$grelease",
    "image": $(jfile generic/Image),
    "config": $(jfile "$gconfig"),
    "zcu102Dtb": $(jfile "$zcu102_dtb")
  },
  "busybox": {
    "package": "busybox-static",
    "version": "$busybox_ver",
    "binary": $(jfile "$busybox")
  },
  "makedumpfile": $makedumpfile_json,
  "kexecTools": $kexec_json,
  "nodejs": $nodejs_json,
  "sysroot": "arm64/sysroot"
}
EOF
node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$stage/assets.json" ||
  die "internal error: $stage/assets.json is not valid JSON"
# Every file assets.json names (paths relative to the cache), for the fast path.
grep -o '"path": "[^"]*"\|"modulesDir": "[^"]*"\|"sysroot": "[^"]*"' "$stage/assets.json" | sed 's/.*: "\(.*\)"/\1/' >"$stage/files"

# Swap the new tree in, then publish assets.json and the fetched pins
# atomically; the private lists are kept for the next download, .debs that
# this run did not use (superseded versions) are dropped.
rm -rf "$stage/lists" "$cache/arm64.old" "$debs/.partial"
[ ! -d "$cache/arm64" ] || mv "$cache/arm64" "$cache/arm64.old"
mv "$stage" "$cache/arm64"
rm -rf "$cache/arm64.old"
mv "$cache/arm64/assets.json" "$cache/assets.json"
mv "$cache/arm64/arm64-packages.pin" "$cache/arm64-packages.pin"
for f in "$debs"/*.deb; do grep -qxF "debs/${f##*/}" "$cache/arm64/files" || rm -f "$f"; done
say "arm64 assets ready: $cache/assets.json (kernels $release and $grelease $kernel_ver, busybox $busybox_ver, makedumpfile $makedumpfile_ver, kexec-tools $kexec_ver, nodejs $nodejs_ver, $libraries libraries)"
