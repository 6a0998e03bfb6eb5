#!/usr/bin/env bash
#
# Build (or reuse from cache) the busybox fixture: a minimal busybox rootfs,
# the same filesystem as a one-layer OCI image layout and as a docker-archive.
#
#   dir=$(rootfs-fixtures/busybox.sh)
#
# Prints the absolute fixture directory as the last (only) line on stdout;
# progress goes to stderr. See README.md for the layout and guarantees.
set -euo pipefail

# All chatter to stderr; fd 3 keeps the real stdout for the final path.
exec 3>&1 1>&2

FX_DIR=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd -P)
# shellcheck source=lib.sh
. "$FX_DIR/lib.sh"

PKG='busybox-static'
IMAGE_REPO_TAG=busybox:latest
IMAGE_REF=latest
IMAGE_ENV='["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'
IMAGE_CMD='["sh"]'

# The users/groups tests rely on: root, an unprivileged "berth" (1000) that is
# in "wheel", and nobody/nogroup.
PASSWD='root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
berth:x:1000:1000::/home/berth:/bin/sh
'
GROUP='root:x:0:
wheel:x:10:berth
berth:x:1000:
nogroup:x:65534:
'

# Lay out the filesystem in STAGE from the busybox binary BUSYBOX.
#
# Layout choice: every applet is a symlink "bin/<applet> -> busybox", and
# sbin, usr/bin, usr/sbin are symlinks to that same bin directory, so any
# absolute path a script may use (/usr/bin/env, /sbin/ip, ...) resolves, with
# exactly one copy of each name in the layer.
stage_rootfs() {
	local stage=$1 busybox=$2 applets applet

	mkdir -p "$stage"/{bin,etc,dev,proc,sys,tmp,root,home/berth,var,run,usr}
	install -m 0755 "$busybox" "$stage/bin/busybox"
	# --list comes from the packaged binary itself, so the set of links always
	# matches the pinned version. "busybox" itself is in the list: skip it.
	applets=$("$busybox" --list)
	[[ $applets == *$'\n'sh$'\n'* ]] || fx_die "busybox --list has no sh applet"
	while IFS= read -r applet; do
		[[ $applet == busybox ]] && continue
		ln -s busybox "$stage/bin/$applet"
	done <<<"$applets"
	ln -s bin "$stage/sbin"
	ln -s ../bin "$stage/usr/bin"
	ln -s ../bin "$stage/usr/sbin"

	printf '%s' "$PASSWD" >"$stage/etc/passwd"
	printf '%s' "$GROUP" >"$stage/etc/group"
	# No /etc/hostname on purpose: the engine is expected to provide it.

	fx_normalize_modes "$stage"
	chown -R 0:0 "$stage"
	chown 1000:1000 "$stage/home/berth"
	chmod 1777 "$stage/tmp"
	chmod 0700 "$stage/root"
}

# Build callback for fx_cached_build: writes the whole fixture into OUT.
build() {
	local out=$1 work=$1/.work
	# Only building needs root (ownership, extraction); reusing a cached
	# fixture does not.
	fx_require_root
	mkdir -p "$work/deb" "$work/stage"

	local deb
	deb=$(fx_apt_download "$PKG" "$PKG_VERSION" "$work")
	dpkg-deb -x "$deb" "$work/deb"
	[[ -x $work/deb/bin/busybox ]] || fx_die "$deb has no /bin/busybox"

	local arch
	arch=$(fx_oci_arch "$(dpkg-deb -f "$deb" Architecture)")

	stage_rootfs "$work/stage" "$work/deb/bin/busybox"

	fx_log "making layer"
	local layer=$work/layer.tar layer_gz=$work/layer.tar.gz config=$work/config.json
	fx_make_layer_tar "$work/stage" "$layer"
	fx_gzip "$layer" "$layer_gz"

	local diff_id
	diff_id=sha256:$(fx_sha256 "$layer")
	fx_image_config "$config" "$arch" \
		"$(jq -n -c --argjson env "$IMAGE_ENV" --argjson cmd "$IMAGE_CMD" '{Env: $env, Cmd: $cmd}')" \
		"berth rootfs-fixtures busybox.sh ($PKG $PKG_VERSION)" \
		"$diff_id"

	fx_log "writing oci/, busybox.tar, rootfs/"
	fx_oci_write_layout "$out/oci" "$IMAGE_REF" "$config" "$layer_gz" >/dev/null
	fx_docker_archive "$out/busybox.tar" "$IMAGE_REPO_TAG" "$config" "$layer"
	# rootfs/ is the layer as an engine would unpack it, not the staging dir,
	# so it cannot drift from the image.
	fx_extract_layer "$layer" "$out/rootfs"

	fx_write_image_metadata "$out" "$out/oci" "$(jq -n -c \
		--arg pkg "$PKG" --arg v "$PKG_VERSION" --arg deb_sha "$(fx_sha256 "$deb")" \
		--arg tag "$IMAGE_REPO_TAG" --arg ref "$IMAGE_REF" '{
			package: $pkg, package_version: $v, package_sha256: $deb_sha,
			oci_ref: $ref, docker_repo_tag: $tag,
			rootfs: "rootfs", oci_layout: "oci", docker_archive: "busybox.tar"
		}')"

	rm -rf "$work"
}

main() {
	fx_init busybox
	fx_require_cmds apt-cache apt-get dpkg-deb tar gzip jq sha256sum flock

	PKG_VERSION=$(fx_apt_candidate "$PKG")
	# Key: the recipe (both scripts), the pinned package version, the host
	# architecture and the versions of the tools that produce the bytes.
	local key
	key=$({
		cat "$FX_DIR/busybox.sh" "$FX_DIR/lib.sh"
		printf '%s\n' "$PKG_VERSION" "$(dpkg --print-architecture)"
		fx_tool_fingerprint
	} | fx_short_hash)

	fx_cached_build busybox "$key" build
	printf '%s\n' "$FX_OUT" >&3
}

main "$@"
