#!/usr/bin/env bash
#
# Validate the busybox fixture with independent tools (skopeo, umoci, GNU tar,
# gzip, chroot) and check the build's promises: reproducible, cached, atomic,
# and not writing to the checkout.
#
#   rootfs-fixtures/check.sh            # build or reuse, then check
#   rootfs-fixtures/check.sh DIR        # check an existing fixture dir too
#
# Prints one "ok"/"FAIL" line per check and a final "N passed, N failed";
# exits non-zero if anything failed. Needs root (chroot, ownership).
set -euo pipefail
export LC_ALL=C

HERE=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd -P)
BUILD=$HERE/busybox.sh
# For fx_make_layer_tar / fx_sha256 only; check.sh never calls fx_init.
# shellcheck source=lib.sh
. "$HERE/lib.sh"

PASSED=0 FAILED=0
TMP=$(mktemp -d)
trap 'rm -rf -- "$TMP"' EXIT

ok() {
	PASSED=$((PASSED + 1))
	printf 'ok   - %s\n' "$1"
}
not_ok() {
	FAILED=$((FAILED + 1))
	printf 'FAIL - %s\n' "$1"
}

# check DESCRIPTION COMMAND...: run a predicate, report, show its output on
# failure. Predicates run in an `if`, where set -e is off, so each one must
# return its own status explicitly.
check() {
	local desc=$1
	shift
	if "$@" >"$TMP/check.log" 2>&1; then
		ok "$desc"
	else
		not_ok "$desc"
		sed 's/^/    /' "$TMP/check.log"
	fi
}

section() { printf '# %s\n' "$*"; }

# --- predicates -----------------------------------------------------------

eq() {
	[[ $1 == "$2" ]] && return 0
	printf 'expected: %s\n     got: %s\n' "$2" "$1"
	return 1
}
same_file() { cmp -- "$1" "$2"; }
is_file() { [[ -f $1 ]] || { echo "missing: $1"; return 1; }; }
jqf() { jq -r "$2" "$1"; }

# Re-tar a directory tree with the fixture's own recipe: equal to the diff_id
# iff names, types, modes, owners, link targets and contents all match the
# layer (mtimes are forced, so they do not matter).
tree_digest() {
	fx_make_layer_tar "$1" "$TMP/retar.tar" && echo "sha256:$(fx_sha256 "$TMP/retar.tar")"
	rm -f "$TMP/retar.tar"
}

# timed OUTFILE COMMAND...: run COMMAND with stdout to OUTFILE, set
# LAST_SECONDS to its wall-clock time, return its status.
timed() {
	local out=$1 start end rc=0
	shift
	start=$(date +%s.%N)
	"$@" >"$out" || rc=$?
	end=$(date +%s.%N)
	LAST_SECONDS=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')
	return $rc
}

all_blobs_match_names() {
	local b rc=0
	for b in "$1"/blobs/sha256/*; do
		[[ $(fx_sha256 "$b") == "$(basename "$b")" ]] || { echo "bad blob: $b"; rc=1; }
	done
	return $rc
}

gzip_header_is_reproducible() {
	# Bytes 3..7: FLG (0 = no file name) and MTIME (0).
	eq "$(od -An -tx1 -j3 -N5 "$1" | tr -d ' \n')" 0000000000
}

# Verbose listing of the layer: "mode owner/group size date time name [-> t]".
layer_listing() { tar -tvf "$1" --numeric-owner --full-time; }

layer_metadata_ok() {
	local l=$1 rc=0 line d
	layer_listing "$l" >"$TMP/listing"
	# Every mtime is the epoch.
	if grep -v ' 1970-01-01 00:00:00 ' "$TMP/listing"; then echo "^ non-epoch mtime"; rc=1; fi
	# Everything is root-owned except home/berth.
	while IFS= read -r line; do
		case $line in
		*' 1000/1000 '*' home/berth/') ;;
		*' 0/0 '*) ;;
		*) echo "unexpected owner: $line"; rc=1 ;;
		esac
	done <"$TMP/listing"
	grep -q '^drwxr-xr-x 1000/1000 .* home/berth/$' "$TMP/listing" || { echo "home/berth not 1000:1000 0755"; rc=1; }
	grep -q '^drwxrwxrwt 0/0 .* tmp/$' "$TMP/listing" || { echo "tmp not 1777"; rc=1; }
	grep -q '^drwx------ 0/0 .* root/$' "$TMP/listing" || { echo "root not 0700"; rc=1; }
	grep -q '^-rwxr-xr-x 0/0 .* bin/busybox$' "$TMP/listing" || { echo "bin/busybox not 0755"; rc=1; }
	for d in proc sys dev var run etc; do
		grep -q "^drwxr-xr-x 0/0 .* $d/\$" "$TMP/listing" || { echo "missing dir $d/"; rc=1; }
	done
	grep -q ' bin/sh -> busybox$' "$TMP/listing" || { echo "no bin/sh -> busybox"; rc=1; }
	grep -q ' sbin -> bin$' "$TMP/listing" || { echo "no sbin -> bin"; rc=1; }
	grep -q ' usr/bin -> ../bin$' "$TMP/listing" || { echo "no usr/bin -> ../bin"; rc=1; }
	grep -q ' usr/sbin -> ../bin$' "$TMP/listing" || { echo "no usr/sbin -> ../bin"; rc=1; }
	if grep -q ' etc/hostname$' "$TMP/listing"; then echo "etc/hostname present"; rc=1; fi
	if tar -tf "$l" | grep -q '^\./'; then echo "names have ./ prefix"; rc=1; fi
	# No pax records leaking host times (the pax-option deletes them).
	if grep -aqE '[0-9]+ (atime|ctime)=' "$l"; then echo "pax atime/ctime present"; rc=1; fi
	return $rc
}

applets_complete() {
	local root=$1 want got
	want=$(chroot "$root" /bin/busybox --list | grep -cvx busybox)
	got=$(find "$root/bin" -type l -lname busybox | wc -l)
	eq "$got" "$want"
}

etc_files_ok() {
	local root=$1
	eq "$(cat "$root/etc/passwd")" "root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
berth:x:1000:1000::/home/berth:/bin/sh" &&
		eq "$(cat "$root/etc/group")" "root:x:0:
wheel:x:10:berth
berth:x:1000:
nogroup:x:65534:"
}

# Names, types, modes, owners, sizes and contents of a tree (not mtimes).
dir_fingerprint() { (cd "$1" && find . -printf '%p %y %m %U:%G %s %l\n' | sort && find . -type f -exec sha256sum {} + | sort); }
unchanged() { diff -u "$2" <(dir_fingerprint "$1"); }
same_tree() { diff -u <(dir_fingerprint "$1") <(dir_fingerprint "$2"); }

# --- sections -------------------------------------------------------------

check_files() {
	local d=$1 f
	section "files in $d"
	for f in .complete busybox.tar image.json digests.txt oci/oci-layout oci/index.json rootfs/bin/busybox; do
		check "$f exists" is_file "$d/$f"
	done
	check "no build leftovers (.work)" eq "$(find "$d" -maxdepth 1 -name '.*' ! -name .complete ! -name . | wc -l)" 0
}

check_oci() {
	local d=$1 l=$1/oci
	local blobs=$l/blobs/sha256
	section "OCI layout"
	check "oci-layout is 1.0.0" eq "$(jqf "$l/oci-layout" .imageLayoutVersion)" 1.0.0
	check "every blob's sha256 equals its name" all_blobs_match_names "$l"

	local m_digest m cfg_digest cfg layer_digest layer diff_id
	m_digest=$(jqf "$d/image.json" .manifest_digest)
	m=$blobs/${m_digest#sha256:}
	check "index has exactly one manifest" eq "$(jqf "$l/index.json" '.manifests | length')" 1
	check "index manifest digest == image.json manifest_digest" eq "$(jqf "$l/index.json" '.manifests[0].digest')" "$m_digest"
	check "index manifest size matches blob" eq "$(jqf "$l/index.json" '.manifests[0].size')" "$(fx_size "$m")"
	check "index ref.name annotation is latest" \
		eq "$(jqf "$l/index.json" '.manifests[0].annotations["org.opencontainers.image.ref.name"]')" latest
	check "index manifest mediaType" eq "$(jqf "$l/index.json" '.manifests[0].mediaType')" "$FX_MT_OCI_MANIFEST"

	check "manifest mediaType" eq "$(jqf "$m" .mediaType)" "$FX_MT_OCI_MANIFEST"
	check "manifest schemaVersion 2" eq "$(jqf "$m" .schemaVersion)" 2
	check "manifest has one layer" eq "$(jqf "$m" '.layers | length')" 1
	check "layer mediaType is tar+gzip" eq "$(jqf "$m" '.layers[0].mediaType')" "$FX_MT_OCI_LAYER_GZIP"
	check "config mediaType" eq "$(jqf "$m" .config.mediaType)" "$FX_MT_OCI_CONFIG"
	cfg_digest=$(jqf "$m" .config.digest)
	cfg=$blobs/${cfg_digest#sha256:}
	layer_digest=$(jqf "$m" '.layers[0].digest')
	layer=$blobs/${layer_digest#sha256:}
	check "config digest == image.json config_digest" eq "$cfg_digest" "$(jqf "$d/image.json" .config_digest)"
	check "config size matches blob" eq "$(jqf "$m" .config.size)" "$(fx_size "$cfg")"
	check "layer size matches blob" eq "$(jqf "$m" '.layers[0].size')" "$(fx_size "$layer")"

	check "config architecture amd64" eq "$(jqf "$cfg" .architecture)" amd64
	check "config os linux" eq "$(jqf "$cfg" .os)" linux
	check "config Env" eq "$(jq -c .config.Env "$cfg")" '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'
	check "config Cmd" eq "$(jq -c .config.Cmd "$cfg")" '["sh"]'
	check "config created fixed" eq "$(jqf "$cfg" .created)" 1970-01-01T00:00:00Z
	check "config history has one entry" eq "$(jqf "$cfg" '.history | length')" 1
	check "config rootfs.type layers" eq "$(jqf "$cfg" .rootfs.type)" layers

	gzip -dc "$layer" >"$TMP/layer.tar"
	diff_id=sha256:$(fx_sha256 "$TMP/layer.tar")
	check "diff_id == sha256(gunzip layer)" eq "$(jqf "$cfg" '.rootfs.diff_ids | join(",")')" "$diff_id"
	check "digests.txt agrees with image.json" eq "$(
		# shellcheck disable=SC1091
		. "$d/digests.txt" && echo "$MANIFEST_DIGEST $CONFIG_DIGEST $LAYER_DIGESTS $LAYER_DIFF_IDS"
	)" "$m_digest $cfg_digest $layer_digest $diff_id"
	check "gzip header has no name and mtime 0" gzip_header_is_reproducible "$layer"
	check "layer metadata (owners, modes, mtimes, links, no ./, no pax times)" layer_metadata_ok "$TMP/layer.tar"

	section "skopeo / umoci on the OCI layout"
	check "skopeo inspect --raw oci:...:latest == manifest blob" \
		eq "$(skopeo inspect --raw "oci:$l:latest" | sha256sum | cut -d' ' -f1)" "${m_digest#sha256:}"
	check "skopeo inspect --config --raw oci:...:latest == config blob" \
		eq "$(skopeo inspect --config --raw "oci:$l:latest" | sha256sum | cut -d' ' -f1)" "${cfg_digest#sha256:}"
	check "skopeo inspect oci: reports the layer and amd64" \
		eq "$(skopeo inspect "oci:$l:latest" | jq -r '[.Architecture, .Os, .Layers[0]] | join(" ")')" "amd64 linux $layer_digest"

	# umoci gets a copy: it is a writer tool and the cache must stay pristine.
	cp -a "$l" "$TMP/umoci-layout"
	check "umoci ls lists latest" eq "$(umoci ls --layout "$TMP/umoci-layout")" latest
	if umoci unpack --image "$TMP/umoci-layout:latest" "$TMP/bundle" >"$TMP/umoci.log" 2>&1; then
		ok "umoci unpack"
		check "umoci-unpacked rootfs re-tars to the diff_id" eq "$(tree_digest "$TMP/bundle/rootfs")" "$diff_id"
	else
		not_ok "umoci unpack"
		sed 's/^/    /' "$TMP/umoci.log"
	fi
	rm -rf "$TMP/umoci-layout" "$TMP/bundle"
}

check_docker_archive() {
	local d=$1 a=$1/busybox.tar x=$TMP/docker
	section "docker-archive"
	local cfg_digest diff_id cfg_hex diff_hex
	cfg_digest=$(jqf "$d/image.json" .config_digest)
	diff_id=$(jqf "$d/image.json" '.diff_ids[0]')
	cfg_hex=${cfg_digest#sha256:} diff_hex=${diff_id#sha256:}

	mkdir -p "$x"
	tar -xf "$a" -C "$x"
	check "tar members" eq "$(tar -tf "$a" | tr '\n' ' ')" "$diff_hex/ $diff_hex/layer.tar $cfg_hex.json manifest.json repositories "
	check "tar members all 0/0 at epoch" eq "$(layer_listing "$a" | grep -cv ' 0/0 .* 1970-01-01 00:00:00 ')" 0
	check "manifest.json" eq "$(cat "$x/manifest.json")" \
		"[{\"Config\":\"$cfg_hex.json\",\"RepoTags\":[\"busybox:latest\"],\"Layers\":[\"$diff_hex/layer.tar\"]}]"
	check "repositories" eq "$(cat "$x/repositories")" "{\"busybox\":{\"latest\":\"$diff_hex\"}}"
	check "config file == OCI config blob" same_file "$x/$cfg_hex.json" "$d/oci/blobs/sha256/$cfg_hex"
	check "layer.tar == OCI layer uncompressed" same_file "$x/$diff_hex/layer.tar" "$TMP/layer.tar"
	check "skopeo inspect docker-archive: reports the diff_id" \
		eq "$(skopeo inspect "docker-archive:$a" | jq -r '[.Architecture, .Os, .Layers[0]] | join(" ")')" "amd64 linux $diff_id"
	check "skopeo resolves busybox:latest in the archive, config digest kept" \
		eq "$(skopeo inspect --raw "docker-archive:$a:busybox:latest" | jq -r .config.digest)" "$cfg_digest"
	rm -rf "$x"
}

check_rootfs() {
	local d=$1 r=$1/rootfs
	section "rootfs/"
	check "rootfs re-tars to the diff_id (same tree as the layer)" eq "$(tree_digest "$r")" "$(jqf "$d/image.json" '.diff_ids[0]')"
	check "/etc/passwd and /etc/group content" etc_files_ok "$r"
	check "one bin/ symlink per applet" applets_complete "$r"
	check "chroot /bin/sh -c 'echo ok'" eq "$(chroot "$r" /bin/sh -c 'echo ok')" ok
	check "chroot id berth (uid 1000, in wheel)" \
		eq "$(chroot "$r" /bin/id berth)" "uid=1000(berth) gid=1000(berth) groups=1000(berth),10(wheel)"
	check "chroot /usr/bin/env resolves via usr/bin -> ../bin" eq "$(chroot "$r" /usr/bin/env sh -c 'echo ok')" ok
}

# Fresh builds into new caches: two concurrent (lock, same result), one
# interrupted (no debris), one over stale debris; all must match DIR exactly.
check_build_behaviour() {
	local d=$1 key=${1##*/busybox-} c2=$TMP/cache2 c3=$TMP/cache3 f
	section "reproducibility, caching, atomicity"

	mkdir -p "$c2" "$TMP/cwd"
	BERTH_FIXTURES_CACHE=$c2 "$BUILD" >"$TMP/out1" 2>"$TMP/err1" </dev/null &
	local p1=$!
	BERTH_FIXTURES_CACHE=$c2 "$BUILD" >"$TMP/out2" 2>"$TMP/err2" </dev/null &
	local p2=$!
	local rc1=0 rc2=0
	wait "$p1" || rc1=$?
	wait "$p2" || rc2=$?
	check "two concurrent cold builds succeed" eq "$rc1 $rc2" "0 0"
	check "both print the same dir" eq "$(cat "$TMP/out1")" "$(cat "$TMP/out2")"
	check "only one of them built (lock)" eq "$(cat "$TMP/err1" "$TMP/err2" | grep -c ': building ')" 1
	local d2
	d2=$(tail -n1 "$TMP/out1")
	check "same cache key in a fresh cache" eq "${d2##*/}" "${d##*/}"
	for f in digests.txt image.json busybox.tar; do
		check "fresh build: $f byte-identical" same_file "$d/$f" "$d2/$f"
	done
	check "fresh build: oci/ byte-identical" diff -r "$d/oci" "$d2/oci"
	check "fresh build: rootfs/ identical (modes, owners, contents)" same_tree "$d/rootfs" "$d2/rootfs"

	# Interrupt a cold build once its temp dir exists.
	mkdir -p "$c3"
	BERTH_FIXTURES_CACHE=$c3 "$BUILD" >/dev/null 2>"$TMP/err3" </dev/null &
	local p3=$! i
	for ((i = 0; i < 600; i++)); do
		compgen -G "$c3/.busybox-*.tmp.*" >/dev/null && break
		sleep 0.05
	done
	kill -TERM "$p3" 2>/dev/null || true
	local rc3=0
	wait "$p3" || rc3=$?
	check "interrupted build exits non-zero" eq "$((rc3 != 0))" 1
	check "interrupted build leaves no fixture and no temp dir" \
		eq "$(find "$c3" -mindepth 1 -maxdepth 1 ! -name '*.lock' | wc -l)" 0

	# Debris from a SIGKILLed run (no trap ran) must be ignored and removed.
	mkdir -p "$c3/.busybox-$key.tmp.stale/oci" "$c3/busybox-$key/oci"
	local d3
	d3=$(cd "$TMP/cwd" && BERTH_FIXTURES_CACHE=$c3 "$BUILD" 2>/dev/null </dev/null | tail -n1)
	check "build over stale debris succeeds" eq "$d3" "$c3/busybox-$key"
	check "stale temp dir removed" eq "$(compgen -G "$c3/.busybox-*.tmp.*" || true)" ""
	check "rebuilt over debris: busybox.tar byte-identical" same_file "$d/busybox.tar" "$d3/busybox.tar"
	check "nothing written to the working directory" eq "$(find "$TMP/cwd" -mindepth 1 | wc -l)" 0

	# Cached run on DIR's own cache: same dir, no build.
	timed "$TMP/out4" env BERTH_FIXTURES_CACHE="${d%/*}" "$BUILD" 2>"$TMP/err4" </dev/null ||
		cat "$TMP/err4"
	check "cached run prints the same dir (last stdout line)" eq "$(tail -n1 "$TMP/out4")" "$d"
	check "cached run prints only that line on stdout" eq "$(wc -l <"$TMP/out4")" 1
	check "cached run does not build" eq "$(grep -c ': building ' "$TMP/err4" || true)" 0
	echo "# cached run took ${LAST_SECONDS}s"
}

main() {
	[[ $(id -u) == 0 ]] || { echo "check.sh needs root" >&2; exit 2; }
	local dir
	dir_fingerprint "$HERE" >"$TMP/checkout.before"

	if [[ $# -ge 1 ]]; then
		dir=$(cd -- "$1" && pwd -P)
	else
		if ! timed "$TMP/out0" "$BUILD" 2>"$TMP/err0"; then
			cat "$TMP/err0" >&2
			echo "busybox.sh failed" >&2
			exit 1
		fi
		dir=$(tail -n1 "$TMP/out0")
		echo "# busybox.sh took ${LAST_SECONDS}s ($(grep -q ': building ' "$TMP/err0" && echo cold || echo cached))"
	fi
	echo "# fixture: $dir"
	dir_fingerprint "$dir" >"$TMP/fixture.before"

	check_files "$dir"
	check_oci "$dir"
	check_docker_archive "$dir"
	check_rootfs "$dir"
	check_build_behaviour "$dir"

	section "side effects"
	check "checks did not modify the fixture" unchanged "$dir" "$TMP/fixture.before"
	check "nothing written in rootfs-fixtures/ (checkout)" unchanged "$HERE" "$TMP/checkout.before"

	echo "# digests:"
	sed 's/^/#   /' "$dir/digests.txt"
	echo "$PASSED passed, $FAILED failed"
	[[ $FAILED == 0 ]]
}

main "$@"
