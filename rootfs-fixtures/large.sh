#!/usr/bin/env bash
#
# Build (or reuse from cache) the "large" image fixture for pull/unpack
# benchmarks: ~850 MB of layers unpacked, ~300 MB gzipped, 8 layers, as an
# OCI image layout.
#
#   dir=$(rootfs-fixtures/large.sh)
#
# The content is real files, copied from Debian packages installed on this
# machine (the ones .ci/run installs, and what they depend on), plus
# generated data with a known compressibility:
#
#   1 os          everything below not in a later layer (libc, coreutils,
#                 python3, perl-base, apt, ...), usr-merge links, /etc basics
#   2 qemu        qemu-system-x86 and its firmware/data packages
#   3 containerd  containerd, runc, crun, CNI plugins, tini
#   4 docker      docker.io
#   5 tools       skopeo, umoci, jq, busybox-static, iso-codes, ...
#   6 assets      pseudo-random bytes (incompressible), a few big files
#   7 dataset     generated CSV log lines (compressible text), 8 MB files
#   8 app         a few small files describing the image
#
# Files are copied from /usr only (never /etc or /var: local state), with
# /bin, /lib, ... paths folded into /usr as on a merged-/usr system.
#
# Prints the absolute fixture directory as the last (only) line on stdout;
# progress goes to stderr. See README.md for the layout and sizes.
set -euo pipefail

# All chatter to stderr; fd 3 keeps the real stdout for the final path.
exec 3>&1 1>&2

FX_DIR=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd -P)
SELF=$FX_DIR/large.sh
# shellcheck source=lib.sh
. "$FX_DIR/lib.sh"

IMAGE_REF=latest
IMAGE_CONFIG='{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}'

# Package layers. Each package must be installed; what they depend on (if
# not listed in a later layer) lands in "os".
QEMU_PKGS='qemu-system-x86 qemu-system-common qemu-system-data ipxe-qemu seabios'
CONTAINERD_PKGS='containerd runc crun containernetworking-plugins tini'
DOCKER_PKGS='docker.io'
TOOLS_PKGS='skopeo umoci jq busybox-static iso-codes golang-github-containers-common golang-github-containers-image'
# Roots of the "os" layer besides Priority: required (always installed):
# the rest of what .ci/run installs.
OS_ROOTS='apt python3 iproute2 procps xz-utils bsdutils pkg-config libseccomp-dev'

# Generated data, sized so that the whole image is ~850 MB / ~300 MB gzip
# with the bookworm package set (whose layers are ~640 MB / ~235 MB).
ASSET_SIZES_MB='1 2 5 13' # 21 MB, incompressible
DATASET_FILES=24          # x 8 MB of text, gzips to ~27%
DATASET_FILE_MB=8

# ---------------------------------------------------------------------------
# Package file lists
# ---------------------------------------------------------------------------

# Installed packages reachable from ROOTS through Depends/Pre-Depends.
# --installed restricts the walk to what is installed, but still names the
# uninstalled side of alternatives (libsystemd0 | libelogind0): dpkg-query
# filters those out.
pkg_closure() {
	local names
	names=$(apt-cache depends --installed --recurse --no-recommends --no-suggests \
		--no-conflicts --no-breaks --no-replaces --no-enhances "$@" | grep -v '^[ <]' | LC_ALL=C sort -u)
	# shellcheck disable=SC2086 # package names
	{ dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' $names 2>/dev/null || true; } |
		awk '$1 == "ii" { print $2 }' | LC_ALL=C sort -u
}

# Sets PKG_LAYER[pkg]=layer for every package in the image; dies if a listed
# package is not installed.
assign_packages() {
	local missing=() p layer pkgs
	declare -gA PKG_LAYER=()
	for layer in qemu containerd docker tools; do
		pkgs=$(layer_pkgs "$layer")
		for p in $pkgs; do
			[[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) == ii* ]] || missing+=("$p")
			PKG_LAYER[$p]=$layer
		done
	done
	((${#missing[@]} == 0)) || fx_die "not installed: ${missing[*]} (see .ci/run)"

	local required
	required=$(dpkg-query -W -f='${Package} ${Priority}\n' | awk '$2 == "required" { print $1 }')
	# shellcheck disable=SC2086 # word lists
	for p in $(pkg_closure $required $OS_ROOTS $QEMU_PKGS $CONTAINERD_PKGS $DOCKER_PKGS $TOOLS_PKGS); do
		[[ -n ${PKG_LAYER[$p]:-} ]] || PKG_LAYER[$p]=os
	done
}

layer_pkgs() {
	case $1 in
	qemu) echo "$QEMU_PKGS" ;;
	containerd) echo "$CONTAINERD_PKGS" ;;
	docker) echo "$DOCKER_PKGS" ;;
	tools) echo "$TOOLS_PKGS" ;;
	os)
		local p
		for p in "${!PKG_LAYER[@]}"; do [[ ${PKG_LAYER[$p]} == os ]] && echo "$p"; done | LC_ALL=C sort
		;;
	esac
}

# "package=version" of every package in the image, sorted: the cache key's
# view of the copied content.
package_versions() {
	# shellcheck disable=SC2046 # package names
	dpkg-query -W -f='${Package}=${Version}\n' $(printf '%s\n' "${!PKG_LAYER[@]}" | LC_ALL=C sort) |
		LC_ALL=C sort
}

# NUL-separated relative paths ("usr/...") of the regular files and
# symlinks the packages of LAYER own below /usr. On merged-/usr systems
# dpkg still lists some files as /lib/..., /bin/...: those are folded into
# /usr so each file is copied once, at its real place.
layer_files() {
	local merged=
	[[ -L /lib && -L /bin ]] && merged=1
	# shellcheck disable=SC2046 # package names
	dpkg-query -L $(layer_pkgs "$1") |
		if [[ -n $merged ]]; then sed -E 's#^/(bin|sbin|lib|lib32|lib64|libx32)/#/usr/\1/#'; else cat; fi |
		grep '^/usr/' | LC_ALL=C sort -u |
		while IFS= read -r f; do
			if [[ -L $f || -f $f ]]; then printf '%s\0' "${f#/}"; fi
		done
}

# ---------------------------------------------------------------------------
# Layer contents
# ---------------------------------------------------------------------------

copy_package_files() {
	local layer=$1 stage=$2
	layer_files "$layer" >"$stage.list"
	[[ -s $stage.list ]] || fx_die "no files for layer $layer"
	mkdir -p "$stage"
	# tar pipe: keeps modes, owners, symlinks and hard links; missing parent
	# directories are created 0755 root.
	tar -C / --no-recursion --null -T "$stage.list" -cf - | tar -C "$stage" -xpf - --numeric-owner
	rm -f "$stage.list"
}

# The root skeleton: merged-/usr links and the usual top-level dirs, so the
# image is also a (minimal) runnable system.
stage_skeleton() {
	local s=$1 l
	mkdir -p "$s"/{etc,dev,proc,sys,tmp,root,home,var/tmp,run,usr/lib64}
	for l in bin sbin lib lib64; do ln -s "usr/$l" "$s/$l"; done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$s/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$s/etc/group"
	chmod 0644 "$s/etc/passwd" "$s/etc/group"
	chmod 1777 "$s/tmp" "$s/var/tmp"
	chmod 0700 "$s/root"
}

# Deterministic generated files (same bytes on every machine and Python 3
# version): SHAKE-256 output for the assets, random.Random-driven CSV for
# the dataset. Only Random.random() with a str seed is used: the one part of
# the random module whose output Python promises to keep across versions.
generate_data() {
	local kind=$1 dir=$2
	mkdir -p "$dir"
	python3 - "$kind" "$dir" "$ASSET_SIZES_MB" "$DATASET_FILES" "$DATASET_FILE_MB" <<'PY'
import hashlib, os, random, sys

kind, out = sys.argv[1], sys.argv[2]
MB = 1 << 20

def write(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)

if kind == "assets":
    for i, mb in enumerate(map(int, sys.argv[3].split())):
        write(f"asset-{i:02d}.bin", hashlib.shake_256(f"berth-large asset {i}".encode()).digest(mb * MB))
else:
    files, file_mb = int(sys.argv[4]), int(sys.argv[5])
    rng = random.Random("berth-large dataset")
    pick = lambda seq: seq[int(rng.random() * len(seq))]
    methods = ["GET"] * 8 + ["POST", "PUT", "DELETE"]
    paths = ["/api/v1/items", "/api/v1/users", "/api/v2/search", "/static/app.js",
             "/static/style.css", "/healthz", "/login", "/api/v1/orders"]
    agents = ["curl/7.88.1", "Mozilla/5.0 (X11; Linux x86_64)", "python-requests/2.28.1",
              "Go-http-client/1.1", "berth-bench/1.0"]
    statuses = ["200"] * 12 + ["201", "204", "301", "304", "400", "404", "500"]
    # A pool of lines, then files made of lines drawn from it: realistic
    # gzip ratio (repeats are rarely within deflate's 32 KiB window), fast.
    pool = []
    for n in range(200_000):
        ts = 1686355200 + n * 3
        pool.append("%d,10.%d.%d.%d,%s,%s/%d,%s,%d,%.3f,%s\n" % (
            ts, int(rng.random() * 256), int(rng.random() * 256), int(rng.random() * 256),
            pick(methods), pick(paths), int(rng.random() * 100000), pick(statuses),
            int(rng.random() * 65536), rng.random() * 2, pick(agents)))
    header = "time,client,method,path,status,bytes,seconds,agent\n"
    for i in range(files):
        buf, size = [header], len(header)
        while size < file_mb * MB:
            line = pool[int(rng.random() * len(pool))]
            buf.append(line)
            size += len(line)
        write(f"part-{i:04d}.csv", "".join(buf).encode()[: file_mb * MB])
PY
}

# The top layer: what is in the image, for a human looking inside.
stage_app() {
	local s=$1 layer
	mkdir -p "$s/etc/berth-large"
	{
		echo "berth rootfs-fixtures large.sh: layers bottom to top"
		for layer in os qemu containerd docker tools; do
			printf '%s: %s\n' "$layer" "$(layer_pkgs "$layer" | tr '\n' ' ' | sed 's/ $//')"
		done
		echo "assets: ${ASSET_SIZES_MB// /+} MB of SHAKE-256 output"
		echo "dataset: $DATASET_FILES x $DATASET_FILE_MB MB of CSV"
		echo "app: this directory"
	} >"$s/etc/berth-large/layers.txt"
	package_versions >"$s/etc/berth-large/packages.txt"
	chmod 0644 "$s/etc/berth-large/"*
}

# ---------------------------------------------------------------------------

# stage_layer NAME DIR: fills DIR with layer NAME's tree.
stage_layer() {
	local name=$1 s=$2
	case $name in
	os)
		copy_package_files os "$s"
		stage_skeleton "$s"
		;;
	qemu | containerd | docker | tools) copy_package_files "$name" "$s" ;;
	assets) generate_data assets "$s/usr/share/berth-large/assets" ;;
	dataset) generate_data dataset "$s/usr/share/berth-large/dataset" ;;
	app) stage_app "$s" ;;
	esac
	# Directories made along the way (generated data, missing parents) are
	# root 0755; copied files keep their package modes.
	find "$s" -type d ! -perm 1777 ! -perm 0700 -exec chmod 0755 {} +
	if [[ $name == assets || $name == dataset ]]; then
		find "$s" -type f -exec chmod 0644 {} +
	fi
}

LAYER_NAMES=(os qemu containerd docker tools assets dataset app)

build() {
	local out=$1 work=$1/.work
	fx_require_root
	mkdir -p "$work"
	local i name start gzs=() diff_ids=() sizes=() gz_time=0 t0
	for i in "${!LAYER_NAMES[@]}"; do
		name=${LAYER_NAMES[$i]}
		start=$(fx_now)
		stage_layer "$name" "$work/stage-$i"
		fx_make_layer_tar "$work/stage-$i" "$work/layer-$i.tar"
		rm -rf "$work/stage-$i"
		diff_ids+=("sha256:$(fx_sha256 "$work/layer-$i.tar")")
		t0=$(fx_now)
		fx_gzip_fast "$work/layer-$i.tar" "$work/layer-$i.tar.gz"
		gz_time=$(awk -v a="$gz_time" -v b="$(fx_since "$t0")" 'BEGIN { print a + b }')
		sizes+=("$(jq -n -c --arg n "$name" --argjson u "$(fx_size "$work/layer-$i.tar")" \
			--argjson g "$(fx_size "$work/layer-$i.tar.gz")" '{name: $n, tar_size: $u, gzip_size: $g}')")
		fx_log "layer $i $name: $(fx_size "$work/layer-$i.tar") bytes, gzipped $(fx_size "$work/layer-$i.tar.gz") ($(fx_since "$start")s)"
		rm -f "$work/layer-$i.tar"
		gzs+=("$work/layer-$i.tar.gz")
	done
	fx_log "gzip ($(fx_gzip_fast_tool)) took ${gz_time}s in total"

	local config=$work/config.json
	fx_image_config "$config" "$(fx_oci_arch "$(dpkg --print-architecture)")" "$IMAGE_CONFIG" \
		"berth rootfs-fixtures large.sh" "${diff_ids[@]}"
	jq -cSj '.history |= [to_entries[] | .value + {created_by: "berth rootfs-fixtures large.sh: \($ARGS.positional[.key])"}]' \
		--args "${LAYER_NAMES[@]}" <"$config" >"$config.tmp"
	mv "$config.tmp" "$config"
	fx_oci_write_layout "$out/oci" "$IMAGE_REF" "$config" "${gzs[@]}" >/dev/null

	fx_write_image_metadata "$out" "$out/oci" "$(jq -n -c --arg ref "$IMAGE_REF" \
		--arg gz "$(fx_gzip_fast_fingerprint)" --jsonargs '{
			oci_ref: $ref, oci_layout: "oci", compressor: $gz,
			layer_names: [$ARGS.positional[].name],
			tar_size: ([$ARGS.positional[].tar_size] | add),
			gzip_size: ([$ARGS.positional[].gzip_size] | add),
			layer_sizes: $ARGS.positional
		}' "${sizes[@]}")"
	rm -rf "$work"
}

main() {
	fx_init large
	fx_require_cmds apt-cache dpkg dpkg-query tar gzip jq sha256sum flock python3
	local start key p
	start=$(fx_now)
	assign_packages
	# Key: the recipe, the exact package versions copied (not the files'
	# bytes: reading 600 MB for every cached run would defeat the cache),
	# and the tools that produce the bytes. Not python3's version: SHAKE-256
	# is a standard, and Python guarantees random() sequences for a seed.
	key=$({
		cat "$SELF" "$FX_DIR/lib.sh"
		package_versions
		for p in "${!PKG_LAYER[@]}"; do echo "$p ${PKG_LAYER[$p]}"; done | LC_ALL=C sort
		dpkg --print-architecture
		fx_tool_fingerprint
		fx_gzip_fast_fingerprint
	} | fx_short_hash)
	fx_cached_build large "$key" build
	fx_log "done in $(fx_since "$start")s"
	printf '%s\n' "$FX_OUT" >&3
}

main "$@"
