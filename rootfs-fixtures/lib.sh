# shellcheck shell=bash
#
# Shared helpers for Berth's rootfs/image fixtures. Source it from a fixture
# script (busybox.sh, later a debootstrap one, ...); it defines functions only
# and changes nothing until fx_init is called.
#
# Everything here aims at byte-for-byte reproducible output: same inputs ->
# same tar bytes -> same digests, on any run, in any directory, at any time.
# The bytes still depend on the tool versions (GNU tar, gzip, jq), which is why
# fx_tool_fingerprint feeds them into the cache key.
#
# Conventions: functions are prefixed fx_; logs go to stderr; a function that
# "returns" a string prints it on stdout (capture it with $(...)), except
# fx_cached_build, which sets FX_OUT (it must not run in a subshell, because
# its cleanup trap would not survive one).

# Timestamp used for every mtime in every tar and for "created" in configs.
# 0 keeps the fixtures independent of the build date.
FX_EPOCH=0
FX_CREATED=1970-01-01T00:00:00Z

# Tar options for byte-reproducible archives:
#   --format=posix            well-specified format, no GNU-only headers
#   --pax-option ...          pax headers would otherwise embed atime/ctime
#                             and a name containing the PID
#   --mtime/--numeric-owner   no host clock, no host user/group names
#   --no-recursion --null -T  we feed an already sorted list (see
#                             fx__sorted_entries), so ordering is ours
FX_TAR_OPTS=(
	--format=posix
	--pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime'
	--mtime="@${FX_EPOCH}"
	--numeric-owner
	--no-recursion
	--null
)

FX_MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
FX_MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
FX_MT_OCI_CONFIG=application/vnd.oci.image.config.v1+json
FX_MT_OCI_LAYER_GZIP=application/vnd.oci.image.layer.v1.tar+gzip

# Paths removed by the EXIT trap unless the build got to the end.
FX_CLEANUP=()

fx_log() { printf '%s: %s\n' "${FX_NAME:-fixture}" "$*" >&2; }
fx_die() { fx_log "error: $*"; exit 1; }

# Pin down everything in the environment that leaks into file bytes.
fx_init() {
	FX_NAME=$1
	umask 022
	export LC_ALL=C TZ=UTC
	trap fx__cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

fx__cleanup() {
	local p
	for p in "${FX_CLEANUP[@]}"; do
		[[ -n $p && -e $p ]] && rm -rf -- "$p"
	done
	return 0
}

fx_require_cmds() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || fx_die "missing command: $c"
	done
}

# Layers carry real ownership (e.g. /home/berth is 1000:1000), which only root
# can set on the staging tree, and the extraction to rootfs/ needs it too.
fx_require_root() {
	[[ $(id -u) == 0 ]] || fx_die "must run as root (staged files need real ownership)"
}

fx_sha256() { sha256sum -- "$1" | cut -d' ' -f1; }
fx_size() { stat -c %s -- "$1"; }

# First 16 hex digits of the sha256 of stdin: short, stable cache keys.
fx_short_hash() { sha256sum | cut -c1-16; }

# Versions of the tools whose output bytes end up in the fixtures; part of
# every cache key so a tool upgrade cannot serve stale digests.
fx_tool_fingerprint() {
	tar --version | head -n1
	gzip --version | head -n1
	jq --version
}

# Version apt would install for PACKAGE (what `apt-get download` fetches).
fx_apt_candidate() {
	local pkg=$1 v
	v=$(apt-cache policy "$pkg" | awk '$1 == "Candidate:" { print $2; exit }')
	[[ -n $v && $v != "(none)" ]] ||
		fx_die "no apt candidate for $pkg (run 'apt-get update' first?)"
	printf '%s\n' "$v"
}

# Download PACKAGE=VERSION into DIR and print the .deb path. The explicit
# version makes the input exactly the one the cache key was computed from.
fx_apt_download() {
	local pkg=$1 version=$2 dir=$3 deb
	# Root downloads are sandboxed as _apt, which cannot write our 0700 temp
	# dirs and would warn; we trust apt's own signature checks either way.
	(cd "$dir" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$version" >&2)
	deb=$(find "$dir" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
	[[ -n $deb ]] || fx_die "apt-get download produced no .deb for $pkg"
	[[ $(dpkg-deb -f "$deb" Package) == "$pkg" && $(dpkg-deb -f "$deb" Version) == "$version" ]] ||
		fx_die "$deb is not $pkg $version"
	printf '%s\n' "$deb"
}

# Debian architecture name -> OCI "architecture" (and no variant support:
# the fixtures only need the common cases).
fx_oci_arch() {
	case $1 in
	amd64 | arm64 | riscv64 | s390x) printf '%s\n' "$1" ;;
	i386) echo 386 ;;
	ppc64el) echo ppc64le ;;
	*) fx_die "no OCI architecture mapping for Debian arch $1" ;;
	esac
}

# ---------------------------------------------------------------------------
# Cache handling
# ---------------------------------------------------------------------------

# fx_cached_build NAME KEY BUILD_FN
#
# Ensures $cache/NAME-KEY/ exists and is complete, building it with
# `BUILD_FN <tmpdir>` if needed, and sets FX_OUT to its absolute path.
#
# Why it is safe:
# - a flock serialises builders of the same key, so concurrent runs build once;
# - the build happens in a temp dir in the same filesystem, gets a .complete
#   marker last, and is then rename(2)d into place: readers either see nothing
#   or a complete fixture;
# - the temp dir is removed by the EXIT trap on failure, and leftovers of a
#   SIGKILLed run are removed by the next builder (it holds the lock, so any
#   temp dir for this key is stale).
fx_cached_build() {
	local name=$1 key=$2 build_fn=$3
	local cache=${BERTH_FIXTURES_CACHE:-/var/cache/berth/fixtures}
	mkdir -p -- "$cache"
	cache=$(cd -- "$cache" && pwd -P)
	local final=$cache/$name-$key

	# shellcheck disable=SC2034 # FX_OUT is this function's result, read by callers
	FX_OUT=$final
	if [[ -e $final/.complete ]]; then
		fx_log "cached: $final"
		return 0
	fi

	[[ -w $cache ]] || fx_die "$final is not built and $cache is not writable (build it as root first)"
	local lock_fd
	exec {lock_fd}>"$cache/.$name-$key.lock"
	fx_log "locking $name-$key"
	flock "$lock_fd"

	if [[ -e $final/.complete ]]; then # another run finished it meanwhile
		exec {lock_fd}>&-
		fx_log "cached: $final"
		return 0
	fi
	# Not complete but present: left by something other than this code
	# (e.g. a manual copy). Never trust it.
	rm -rf -- "$final" "$cache/.$name-$key.tmp."*

	local tmp
	tmp=$(mktemp -d "$cache/.$name-$key.tmp.XXXXXX")
	FX_CLEANUP+=("$tmp")
	chmod 0755 "$tmp" # mktemp makes it 0700; fixtures are readable by all

	fx_log "building $final"
	"$build_fn" "$tmp"

	: >"$tmp/.complete"
	mv -T -- "$tmp" "$final"
	FX_CLEANUP=("${FX_CLEANUP[@]/#"$tmp"/}")
	exec {lock_fd}>&-
	fx_log "built: $final"
}

# ---------------------------------------------------------------------------
# Reproducible tars and layers
# ---------------------------------------------------------------------------

# NUL-separated paths below DIR (relative, no "./" prefix), in C-locale byte
# order. Parents sort before their children because "a" < "a/...", which is
# all extractors need. Entries thus look like docker's ("bin/sh", "etc/").
fx__sorted_entries() {
	find "$1" -mindepth 1 -printf '%P\0' | LC_ALL=C sort -z
}

# fx_make_layer_tar ROOTFS_DIR OUT_TAR [EXTRA_TAR_OPTS...]
#
# Uncompressed layer tar of ROOTFS_DIR. Ownership and modes are taken from the
# tree as staged (so callers chown/chmod the staging dir, e.g. /home/berth to
# 1000:1000); mtimes are all FX_EPOCH. Hard links, symlinks and device nodes
# are preserved. xattrs are not (pass --xattrs ... in EXTRA_TAR_OPTS if a
# fixture needs e.g. security.capability).
fx_make_layer_tar() {
	local dir=$1 out=$2
	shift 2
	fx__sorted_entries "$dir" |
		tar -C "$dir" "${FX_TAR_OPTS[@]}" "$@" -cf "$out" -T -
}

# fx_gzip IN OUT: reproducible gzip (-n: no name, no timestamp in the header).
fx_gzip() { gzip -n -9 -c -- "$1" >"$2"; }

# Set every directory to 0755 and every regular file to 0755/0644 depending on
# whether its owner may execute it; symlinks are left alone. Callers apply
# deliberate exceptions (/tmp 1777, ...) afterwards.
fx_normalize_modes() {
	find "$1" -type d -exec chmod 0755 {} +
	find "$1" -type f -perm -u+x -exec chmod 0755 {} +
	find "$1" -type f ! -perm -u+x -exec chmod 0644 {} +
}

# Extract a layer tar into DIR (created) with exact ownership/modes/mtimes,
# i.e. what a container engine would see. The top dir's own mtime is set too
# so the tree is fully deterministic.
fx_extract_layer() {
	local tar=$1 dir=$2
	mkdir -p -- "$dir"
	chmod 0755 "$dir"
	tar -C "$dir" -xpf "$tar" --numeric-owner --same-owner
	touch -h -d "@${FX_EPOCH}" -- "$dir"
}

# ---------------------------------------------------------------------------
# Image config, OCI layout, docker-archive
# ---------------------------------------------------------------------------

# fx_image_config OUT_FILE ARCH CONTAINER_CONFIG_JSON CREATED_BY DIFF_ID...
#
# Writes an OCI/docker image config. CONTAINER_CONFIG_JSON is the "config"
# object (Env, Cmd, User, WorkingDir, ...). One history entry per layer.
# Written compact with sorted keys and no trailing newline, so the bytes (and
# thus the image ID) are a pure function of the arguments.
fx_image_config() {
	local out=$1 arch=$2 container_config=$3 created_by=$4
	shift 4
	jq -n -cSj \
		--arg arch "$arch" \
		--arg created "$FX_CREATED" \
		--arg created_by "$created_by" \
		--argjson config "$container_config" \
		--args '{
			architecture: $arch,
			os: "linux",
			created: $created,
			config: $config,
			rootfs: { type: "layers", diff_ids: $ARGS.positional },
			history: [ $ARGS.positional[] | { created: $created, created_by: $created_by } ]
		}' "$@" >"$out"
}

# fx_oci_put_blob LAYOUT FILE: copy FILE into LAYOUT's blob store, print
# "sha256:<hex> <size>".
fx_oci_put_blob() {
	local layout=$1 file=$2 hex
	hex=$(fx_sha256 "$file")
	mkdir -p -- "$layout/blobs/sha256"
	install -m 0644 -- "$file" "$layout/blobs/sha256/$hex"
	printf 'sha256:%s %s\n' "$hex" "$(fx_size "$file")"
}

# fx_oci_write_layout LAYOUT REF CONFIG_FILE LAYER_TAR_GZ...
#
# Writes a complete OCI image layout (oci-layout, index.json, blobs/) holding
# one image tagged REF (org.opencontainers.image.ref.name). Layers are given
# already gzipped, in order bottom to top. Prints the manifest digest.
fx_oci_write_layout() {
	local layout=$1 ref=$2 config=$3
	shift 3
	mkdir -p -- "$layout/blobs/sha256"

	# Blob descriptors travel as "digest size" strings; command substitution
	# (not < <(...)) so a failing fx_oci_put_blob stops the build.
	local desc cfg_digest cfg_size layer_descs=() d s l
	desc=$(fx_oci_put_blob "$layout" "$config")
	read -r cfg_digest cfg_size <<<"$desc"
	for l in "$@"; do
		desc=$(fx_oci_put_blob "$layout" "$l")
		read -r d s <<<"$desc"
		layer_descs+=("$(jq -n -cS --arg mt "$FX_MT_OCI_LAYER_GZIP" --arg d "$d" --argjson s "$s" \
			'{mediaType: $mt, digest: $d, size: $s}')")
	done

	local manifest=$layout/.manifest.json
	jq -n -cSj \
		--arg mt "$FX_MT_OCI_MANIFEST" \
		--arg cmt "$FX_MT_OCI_CONFIG" --arg cd "$cfg_digest" --argjson cs "$cfg_size" \
		--jsonargs '{
			schemaVersion: 2,
			mediaType: $mt,
			config: { mediaType: $cmt, digest: $cd, size: $cs },
			layers: $ARGS.positional
		}' "${layer_descs[@]}" >"$manifest"
	local m_digest m_size
	desc=$(fx_oci_put_blob "$layout" "$manifest")
	read -r m_digest m_size <<<"$desc"
	rm -f -- "$manifest"

	# The platform in the index lets platform-matching importers pick the
	# image without opening the config.
	local arch
	arch=$(jq -r .architecture "$config")
	jq -n -cSj \
		--arg imt "$FX_MT_OCI_INDEX" --arg mt "$FX_MT_OCI_MANIFEST" \
		--arg d "$m_digest" --argjson s "$m_size" --arg ref "$ref" --arg arch "$arch" \
		'{
			schemaVersion: 2,
			mediaType: $imt,
			manifests: [ {
				mediaType: $mt, digest: $d, size: $s,
				platform: { architecture: $arch, os: "linux" },
				annotations: { "org.opencontainers.image.ref.name": $ref }
			} ]
		}' >"$layout/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
	chmod 0644 "$layout/index.json" "$layout/oci-layout"
	printf '%s\n' "$m_digest"
}

# fx_docker_archive OUT_TAR REPO:TAG CONFIG_FILE LAYER_TAR...
#
# Writes what `docker save` writes (the manifest.json flavour, which every
# current loader reads first): manifest.json, repositories, <config-hex>.json
# and <diff-id-hex>/layer.tar per (uncompressed) layer. The legacy per-layer
# "json"/"VERSION" files are omitted; skopeo, docker and podman do not need
# them. Layer directories are named by diff_id, so they are stable.
fx_docker_archive() {
	local out=$1 repo_tag=$2 config=$3
	shift 3
	local stage
	stage=$(mktemp -d "$(dirname -- "$out")/.docker-archive.XXXXXX")
	FX_CLEANUP+=("$stage")

	local cfg_hex layers=() l hex
	cfg_hex=$(fx_sha256 "$config")
	install -m 0644 -- "$config" "$stage/$cfg_hex.json"
	for l in "$@"; do
		hex=$(fx_sha256 "$l")
		mkdir -p -- "$stage/$hex"
		# Hard link: layers of a full distro are large; tar copies the bytes.
		ln -- "$l" "$stage/$hex/layer.tar" 2>/dev/null || cp -- "$l" "$stage/$hex/layer.tar"
		layers+=("$hex/layer.tar")
	done

	# Keys in docker's own order (not sorted); still deterministic.
	jq -n -cj --arg cfg "$cfg_hex.json" --arg tag "$repo_tag" \
		--args '[{Config: $cfg, RepoTags: [$tag], Layers: $ARGS.positional}]' \
		"${layers[@]}" >"$stage/manifest.json"
	# repositories maps repo -> tag -> top layer id (legacy, still read by
	# some tools).
	jq -n -cj --arg repo "${repo_tag%:*}" --arg tag "${repo_tag##*:}" --arg top "$hex" \
		'{($repo): {($tag): $top}}' >"$stage/repositories"

	chmod 0644 "$stage/manifest.json" "$stage/repositories"
	# The archive's own files carry no meaningful ownership: force root.
	fx__sorted_entries "$stage" |
		tar -C "$stage" "${FX_TAR_OPTS[@]}" --owner=0 --group=0 -cf "$out" -T -
	rm -rf -- "$stage"
}

# fx_write_image_metadata OUTDIR OCI_LAYOUT_DIR [EXTRA_JQ_OBJECT]
#
# Reads the image back from the OCI layout (so the numbers describe what was
# really written) and writes, in OUTDIR:
#   image.json   {manifest_digest, config_digest, layers:[{digest,size,diff_id}],
#                 diff_ids, ...EXTRA}
#   digests.txt  shell-sourceable MANIFEST_DIGEST=, CONFIG_DIGEST=,
#                LAYER_DIGESTS= and LAYER_DIFF_IDS= (space separated, bottom
#                layer first). CONFIG_DIGEST is also docker's image ID.
fx_write_image_metadata() {
	local outdir=$1 layout=$2 extra=${3:-"{}"}
	local blobs=$layout/blobs/sha256 m_digest manifest config
	m_digest=$(jq -r '.manifests[0].digest' "$layout/index.json")
	manifest=$blobs/${m_digest#sha256:}
	config=$blobs/$(jq -r '.config.digest | ltrimstr("sha256:")' "$manifest")

	jq -n -S --arg md "$m_digest" --argjson ms "$(fx_size "$manifest")" \
		--slurpfile m "$manifest" --slurpfile c "$config" --argjson extra "$extra" '
		$m[0] as $m | $c[0] as $c |
		{
			manifest_digest: $md,
			manifest_size: $ms,
			config_digest: $m.config.digest,
			config_size: $m.config.size,
			diff_ids: $c.rootfs.diff_ids,
			layers: [ range($m.layers | length) as $i | {
				digest: $m.layers[$i].digest,
				size: $m.layers[$i].size,
				media_type: $m.layers[$i].mediaType,
				diff_id: $c.rootfs.diff_ids[$i]
			} ]
		} + $extra' >"$outdir/image.json"

	jq -r '
		"MANIFEST_DIGEST=\(.manifest_digest)",
		"CONFIG_DIGEST=\(.config_digest)",
		"LAYER_DIGESTS=\"\([.layers[].digest] | join(" "))\"",
		"LAYER_DIFF_IDS=\"\(.diff_ids | join(" "))\""
	' "$outdir/image.json" >"$outdir/digests.txt"
	chmod 0644 "$outdir/image.json" "$outdir/digests.txt"
}

# ---------------------------------------------------------------------------
# Larger and multi-layer images (debian.sh, large.sh)
# ---------------------------------------------------------------------------

# Parallel gzip for big layers. pigz's output does not depend on the thread
# count, but it does differ from gzip's, so the tool is part of the cache key
# (fx_gzip_fast_fingerprint). -n: no name and no mtime in the header.
fx_gzip_fast_tool() {
	if command -v pigz >/dev/null; then echo pigz; else echo gzip; fi
}
fx_gzip_fast_fingerprint() {
	local t
	t=$(fx_gzip_fast_tool)
	printf '%s: %s\n' "$t" "$("$t" --version 2>&1 | head -n1)"
}
# fx_gzip_fast IN OUT [LEVEL]: level 6 (gzip's default) unless given.
fx_gzip_fast() {
	"$(fx_gzip_fast_tool)" -n "-${3:-6}" -c -- "$1" >"$2"
}

# Seconds since the epoch with centiseconds, and the time elapsed since such
# a stamp, for "took N s" log lines.
fx_now() { date +%s.%N; }
fx_since() { awk -v s="$1" -v e="$(fx_now)" 'BEGIN { printf "%.1f", e - s }'; }

# fx_overlay_upper_to_layer UPPER_DIR LOWER_DIR
#
# Turns an overlayfs upper dir into an OCI layer tree, in place:
#   whiteout (char device 0:0) NAME  ->  empty file .wh.NAME
#   opaque dir (trusted.overlay.opaque=y)  ->  adds .wh..wh..opq
# but only where LOWER_DIR (the single lower layer) has something to hide:
# overlayfs also marks brand-new directories opaque (a lookup shortcut), and
# copying that into the layer would only be noise.
# The overlay must have been mounted with redirect_dir=off and metacopy=off:
# redirects and metacopy files have no OCI equivalent, so they are refused.
# Python, not find/getfattr: it reads the xattrs without depending on the
# attr package and copes with any file name.
fx_overlay_upper_to_layer() {
	python3 - "$1" "$2" <<'PY'
import os, stat, sys

upper, lower = sys.argv[1], sys.argv[2]

def xattr(path, name):
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None

def in_lower(rel):
    """lstat of rel inside lower, never following a symlink on the way
    (an absolute one would point into the host)."""
    path = lower
    parts = rel.split(os.sep)
    for i, part in enumerate(parts):
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
            return None
    return st

for top, dirs, files in os.walk(upper):
    rel_top = os.path.relpath(top, upper)
    for name in dirs + files:
        p = os.path.join(top, name)
        if xattr(p, "trusted.overlay.redirect") is not None or xattr(p, "trusted.overlay.metacopy") is not None:
            sys.exit(f"overlay redirect/metacopy not supported: {p}")
    opaque = xattr(top, "trusted.overlay.opaque")
    if opaque not in (None, b"y"):
        sys.exit(f"unsupported trusted.overlay.opaque={opaque!r}: {top}")
    if opaque == b"y" and rel_top != ".":
        st = in_lower(rel_top)
        if st is not None and stat.S_ISDIR(st.st_mode):
            open(os.path.join(top, ".wh..wh..opq"), "x").close()
    for name in files:
        p = os.path.join(top, name)
        st = os.lstat(p)
        if stat.S_ISCHR(st.st_mode):
            if st.st_rdev != 0:
                sys.exit(f"device node in layer (not a whiteout): {p}")
            os.unlink(p)
            if in_lower(os.path.normpath(os.path.join(rel_top, name))) is not None:
                open(os.path.join(top, ".wh." + name), "x").close()
PY
}
