#!/usr/bin/env bash
#
# Build (or reuse from cache) a Debian bookworm image fixture:
#
#   dir=$(rootfs-fixtures/debian.sh [base|nginx|redis|flask])
#
#   base    debootstrap --variant=minbase, slimmed; one layer
#   nginx   base + one layer with nginx-light
#   redis   base + one layer with redis-server
#   flask   base + one layer with python3-flask python3-redis
#
# A variant is built on top of the cached base fixture (built first if
# needed): the base rootfs is the lower dir of an overlay mount, apt installs
# into it inside a chroot, and the overlay's upper dir becomes the layer.
#
# Prints the absolute fixture directory as the last (only) line on stdout;
# progress goes to stderr. See README.md for the layout and guarantees.
set -euo pipefail

# All chatter to stderr; fd 3 keeps the real stdout for the final path.
exec 3>&1 1>&2

FX_DIR=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd -P)
SELF=$FX_DIR/debian.sh
# shellcheck source=lib.sh
. "$FX_DIR/lib.sh"

SUITE=bookworm
# SOURCE_DATE_EPOCH for everything the build runs (shadow's "last password
# change", ...) and the mtime clamp of the layers: bookworm's release day.
# Not 0: /etc/shadow's lastchg field 0 means "password expired".
DEBIAN_EPOCH=1686355200
DEBIAN_CREATED=2023-06-10T00:00:00Z
IMAGE_REPO=berth-fixtures/debian
IMAGE_ENV='["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# dpkg configuration written into the base image (and thus honoured by every
# later apt-get install, in the variants and in containers): no docs except
# copyright files, no man pages, no translations. The same as the official
# "-slim" images.
SLIM_DPKG_CFG='path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
'

# Per-variant: packages, OCI ref / docker tag, and the container config.
variant_packages() {
	case $1 in
	nginx) echo nginx-light ;;
	redis) echo redis-server ;;
	flask) echo python3-flask python3-redis ;;
	esac
}
variant_tag() {
	case $1 in
	base) echo "$SUITE" ;;
	*) echo "$1" ;;
	esac
}
variant_config() {
	local env=$IMAGE_ENV
	case $1 in
	base) jq -n -c --argjson env "$env" '{Env: $env, Cmd: ["bash"]}' ;;
	# SIGQUIT is nginx's graceful stop (SIGTERM drops connections).
	nginx) jq -n -c --argjson env "$env" '{Env: $env, Cmd: ["nginx", "-g", "daemon off;"],
		ExposedPorts: {"80/tcp": {}}, StopSignal: "SIGQUIT"}' ;;
	# Without a config file redis listens on all interfaces; protected mode
	# would still refuse non-loopback clients. WorkingDir: where it saves.
	redis) jq -n -c --argjson env "$env" '{Env: $env, Cmd: ["redis-server", "--protected-mode", "no"],
		ExposedPorts: {"6379/tcp": {}}, WorkingDir: "/var/lib/redis"}' ;;
	flask) jq -n -c --argjson env "$env" '{Env: $env, Cmd: ["python3"]}' ;;
	esac
}

# The Debian mirror: $DEBIAN_MIRROR, else the first URI of the deb822 stanza
# in /etc/apt/sources.list.d/debian.sources whose Suites has exactly $SUITE
# (not "-security"/"-updates"), else the one-line sources.list, else
# deb.debian.org.
debian_mirror() {
	if [[ -n ${DEBIAN_MIRROR:-} ]]; then
		printf '%s\n' "${DEBIAN_MIRROR%/}"
		return
	fi
	local m='' f=/etc/apt/sources.list.d/debian.sources
	if [[ -r $f ]]; then
		m=$(awk -v suite="$SUITE" '
			function flush() { if (!found && uri != "" && has_suite && is_deb) found = uri; uri = ""; has_suite = 0; is_deb = 0 }
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") is_deb = 1 }
			tolower($1) == "uris:" { uri = $2 }
			tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) has_suite = 1 }
			END { flush(); print found }' "$f")
	fi
	if [[ -z $m && -r /etc/apt/sources.list ]]; then
		m=$(awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' /etc/apt/sources.list)
	fi
	m=${m:-http://deb.debian.org/debian}
	printf '%s\n' "${m%/}"
}

# Environment for everything that runs in the target (debootstrap, apt):
# nothing from the caller's except proxy settings (the mirror may need them).
# Sets the array CHROOT_ENV, used as `env -i "${CHROOT_ENV[@]}" ...`.
set_chroot_env() {
	local v
	CHROOT_ENV=("PATH=$CHROOT_PATH" HOME=/root LC_ALL=C TZ=UTC
		DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true
		"SOURCE_DATE_EPOCH=$DEBIAN_EPOCH")
	for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
		[[ -n ${!v:-} ]] && CHROOT_ENV+=("$v=${!v}")
	done
	return 0
}

# Remove what makes a Debian tree big or differ between two builds: apt's
# downloaded lists and packages, logs, backup files, the ldconfig aux-cache
# (holds inode numbers and mtimes), files copied from the build host, and
# anything the slim dpkg config excludes. Used on the base tree and on the
# overlay after a variant's install (where only new files are affected:
# the base has none of them).
strip_rootfs() {
	local r=$1
	rm -f -- "$r/etc/resolv.conf" "$r/etc/hostname" "$r/usr/sbin/policy-rc.d" \
		"$r/var/cache/ldconfig/aux-cache" "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old
	find "$r/var/lib/apt/lists" "$r/var/cache/apt" -type f -delete
	# Logs go, but not their directories (nginx needs /var/log/nginx) nor
	# the empty wtmp/btmp/lastlog/faillog login records.
	find "$r/var/log" -type f \( -name '*.log' -o -name '*.log.*' \) -delete
	find "$r/tmp" "$r/var/tmp" -mindepth 1 -delete
	# /run holds runtime state only: util-linux's record of the build's
	# mounts (run/mount/utab), adduser's lock, ... Keep its directories.
	rm -rf -- "$r/run/mount" "$r/root/.cache"
	find "$r/run" -mindepth 1 ! -type d -delete
	find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
	find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
	local d
	for d in groff info linda lintian/overrides locale man; do
		[[ -d $r/usr/share/$d ]] && find "$r/usr/share/$d" -mindepth 1 -delete
	done
	return 0
}

# ---------------------------------------------------------------------------
# base
# ---------------------------------------------------------------------------

# debootstrap in a private mount namespace: its /proc and /sys mounts in the
# target die with the namespace, even if debootstrap is killed midway.
run_debootstrap() {
	local target=$1 start
	start=$(fx_now)
	fx_log "debootstrap --variant=minbase $SUITE from $MIRROR"
	env -i "${CHROOT_ENV[@]}" unshare --mount --propagation private -- \
		debootstrap --variant=minbase --merged-usr "$SUITE" "$target" "$MIRROR" >&2 ||
		fx_die "debootstrap failed (see $target/debootstrap/debootstrap.log)"
	fx_log "debootstrap took $(fx_since "$start")s"
}

build_base() {
	local out=$1 work=$1/.work
	fx_require_root
	fx_require_cmds debootstrap unshare
	mkdir -p "$work"
	run_debootstrap "$work/stage"
	local r=$work/stage
	# Device nodes belong to the engine, not the image.
	find "$r/dev" -mindepth 1 -delete
	printf '%s' "$SLIM_DPKG_CFG" >"$r/etc/dpkg/dpkg.cfg.d/berth-slim"
	strip_rootfs "$r"
	write_image "$out" "$work" base "$r" "debootstrap --variant=minbase $SUITE"
	fx_extract_layer "$work/layer-0.tar" "$out/rootfs"
	write_metadata "$out" base "$out/rootfs" ""
	rm -rf "$work"
}

# ---------------------------------------------------------------------------
# variants
# ---------------------------------------------------------------------------

# Runs in its own mount namespace (see build_variant): overlay the base
# rootfs, install PACKAGES with apt in a chroot of the merged view, strip it.
# Every mount is below WORK/merged; the EXIT trap unmounts them, and the
# namespace going away would drop them anyway.
ns_install() {
	local lower=$1 w=$2
	shift 2
	local m=$w/merged
	# The overlay option string cannot quote these.
	[[ $lower$w != *[,:]* ]] || fx_die "overlay paths must not contain ',' or ':': $lower, $w"
	mkdir -p "$w/upper" "$w/ovl-work" "$m"
	NS_MERGED=$m
	trap ns_umount EXIT
	# redirect_dir/metacopy off: the upper dir must hold whole files and no
	# renamed directories, so it maps 1:1 onto an OCI layer.
	mount -t overlay overlay \
		-o "lowerdir=$lower,upperdir=$w/upper,workdir=$w/ovl-work,redirect_dir=off,index=off,metacopy=off" "$m"
	mount -t proc proc "$m/proc"
	# A private /dev and /tmp: nothing written there reaches the layer.
	mount -t tmpfs -o mode=0755,nosuid tmpfs "$m/dev"
	mknod -m 0666 "$m/dev/null" c 1 3
	mknod -m 0666 "$m/dev/zero" c 1 5
	mknod -m 0666 "$m/dev/full" c 1 7
	mknod -m 0666 "$m/dev/random" c 1 8
	mknod -m 0666 "$m/dev/urandom" c 1 9
	mknod -m 0666 "$m/dev/tty" c 5 0
	ln -s /proc/self/fd "$m/dev/fd"
	mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$m/tmp"

	# Needed only during the build; created here, deleted by strip_rootfs,
	# so they leave nothing in the upper dir (the base has neither file).
	cat /etc/resolv.conf >"$m/etc/resolv.conf"
	printf '#!/bin/sh\n# berth fixtures: never start services at build time\nexit 101\n' >"$m/usr/sbin/policy-rc.d"
	chmod 0755 "$m/usr/sbin/policy-rc.d"

	local apt_opts=(-q -o Acquire::Languages=none -o Acquire::Check-Valid-Until=false
		-o APT::Install-Recommends=false -o Dpkg::Use-Pty=0
		-o Dpkg::Options::=--force-unsafe-io -o Dpkg::Options::=--force-confold)
	env -i "${CHROOT_ENV[@]}" chroot "$m" apt-get "${apt_opts[@]}" update
	env -i "${CHROOT_ENV[@]}" chroot "$m" apt-get "${apt_opts[@]}" install -y --no-install-recommends "$@"

	umount "$m/tmp"
	strip_rootfs "$m"
	# Clean exit: unmount now so the caller sees a quiet upper dir.
	umount -R "$m"
	trap - EXIT
}

# EXIT trap of ns_install: unmount everything below the merged dir, lazily
# if something still holds it (the namespace's end would do it anyway).
ns_umount() {
	mountpoint -q "$NS_MERGED" || return 0
	umount -R "$NS_MERGED" 2>/dev/null || umount -R -l "$NS_MERGED" || true
}

build_variant() {
	local out=$1 work=$1/.work variant=$VARIANT
	fx_require_root
	fx_require_cmds unshare chroot mount umount mountpoint mknod python3
	mkdir -p "$work"
	local -a pkgs
	read -r -a pkgs <<<"$(variant_packages "$variant")"

	local start
	start=$(fx_now)
	fx_log "installing ${pkgs[*]} on $BASE_DIR/rootfs"
	# A new process (this script, in --ns-install mode) in a private mount
	# namespace: every mount it makes vanishes when it exits, however it
	# exits. It inherits fx_cached_build's lock fd, so even if this script
	# is SIGKILLed no other builder removes the dir while the install runs.
	unshare --mount --propagation private -- "$SELF" --ns-install "$BASE_DIR/rootfs" "$work/ovl" "${pkgs[@]}" ||
		fx_die "installing ${pkgs[*]} failed"
	fx_log "install took $(fx_since "$start")s"

	local upper=$work/ovl/upper
	fx_overlay_upper_to_layer "$upper" "$BASE_DIR/rootfs"
	write_image "$out" "$work" "$variant" "$upper" "apt-get install ${pkgs[*]}"
	# Package versions come from the dpkg database the layer installs.
	write_metadata "$out" "$variant" "$upper" "${pkgs[*]}"
	rm -rf "$work"
}

# ---------------------------------------------------------------------------
# image output (both)
# ---------------------------------------------------------------------------

# write_image OUT WORK VARIANT LAYER_TREE WHAT
# Tars LAYER_TREE as the top layer (WHAT describes it in the history); the
# variants get the base's layer below it, reused byte for byte (blob copied,
# not recompressed).
write_image() {
	local out=$1 work=$2 variant=$3 tree=$4 what=$5 start
	local tag config=$work/config.json arch
	tag=$(variant_tag "$variant")
	arch=$(fx_oci_arch "$(dpkg --print-architecture)")

	local -a tars=() gzs=() diff_ids=() history=()
	if [[ $variant != base ]]; then
		local base_gz
		base_gz=$BASE_DIR/oci/blobs/sha256/$(jq -r '.layers[0].digest | ltrimstr("sha256:")' "$BASE_DIR/image.json")
		gzip -dc "$base_gz" >"$work/layer-0.tar"
		[[ sha256:$(fx_sha256 "$work/layer-0.tar") == "$(jq -r '.diff_ids[0]' "$BASE_DIR/image.json")" ]] ||
			fx_die "base layer in $BASE_DIR does not match its diff_id"
		cp -- "$base_gz" "$work/layer-0.tar.gz"
		tars+=("$work/layer-0.tar") gzs+=("$work/layer-0.tar.gz")
		history+=("$(jq -r '.history[0].created_by' "$BASE_DIR/oci/blobs/sha256/$(jq -r '.config_digest | ltrimstr("sha256:")' "$BASE_DIR/image.json")")")
	fi
	history+=("berth rootfs-fixtures debian.sh $variant: $what")
	local n=${#tars[@]}
	start=$(fx_now)
	# Clamp, not reset, mtimes: files keep the (reproducible) times from the
	# .debs when older than DEBIAN_EPOCH; everything made during the build
	# gets DEBIAN_EPOCH.
	fx_make_layer_tar "$tree" "$work/layer-$n.tar" --mtime="@$DEBIAN_EPOCH" --clamp-mtime
	# Level 6 (docker's default too): -9 is 5x slower for 0.4% smaller.
	fx_gzip_fast "$work/layer-$n.tar" "$work/layer-$n.tar.gz"
	tars+=("$work/layer-$n.tar") gzs+=("$work/layer-$n.tar.gz")
	fx_log "layer $n: $(fx_size "$work/layer-$n.tar") bytes, gzipped $(fx_size "$work/layer-$n.tar.gz") ($(fx_since "$start")s)"

	local t
	for t in "${tars[@]}"; do diff_ids+=("sha256:$(fx_sha256 "$t")"); done
	FX_CREATED=$DEBIAN_CREATED fx_image_config "$config" "$arch" "$(variant_config "$variant")" \
		"" "${diff_ids[@]}"
	# fx_image_config gives every layer the same history entry: say which
	# layer is which instead.
	jq -cSj '.history |= [to_entries[] | .value + {created_by: $ARGS.positional[.key]}]' \
		--args "${history[@]}" <"$config" >"$config.tmp"
	mv "$config.tmp" "$config"

	fx_oci_write_layout "$out/oci" "$tag" "$config" "${gzs[@]}" >/dev/null
	fx_docker_archive "$out/debian-$variant.tar" "$IMAGE_REPO:$tag" "$config" "${tars[@]}"
	# The base's layer.tar is kept for fx_extract_layer; the rest is done.
	rm -f -- "${gzs[@]}"
	[[ $variant == base ]] || rm -f -- "${tars[@]}"
}

# write_metadata OUT VARIANT DPKG_ROOT PACKAGES
write_metadata() {
	local out=$1 variant=$2 root=$3 wanted=$4 tag
	tag=$(variant_tag "$variant")
	# Every installed package (the variants' dpkg status is in their layer),
	# so a test or a human can tell two builds apart; image.json has the
	# versions of the requested packages only.
	dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Package}=${Version}\n' | LC_ALL=C sort >"$out/packages.txt"
	chmod 0644 "$out/packages.txt"
	local rootfs_rel=null base_digest=null
	[[ $variant == base ]] && rootfs_rel='"rootfs"'
	[[ $variant != base ]] && base_digest=$(jq -c .manifest_digest "$BASE_DIR/image.json")
	fx_write_image_metadata "$out" "$out/oci" "$(jq -n -c \
		--arg variant "$variant" --arg suite "$SUITE" --arg mirror "$MIRROR" \
		--arg tag "$tag" --arg repo_tag "$IMAGE_REPO:$tag" --arg archive "debian-$variant.tar" \
		--arg wanted "$wanted" --argjson rootfs "$rootfs_rel" --argjson base "$base_digest" \
		--rawfile versions "$out/packages.txt" '{
			variant: $variant, suite: $suite, mirror: $mirror,
			packages: ($wanted | split(" ") | map(select(. != ""))),
			package_versions: (($versions | split("\n") | map(select(. != "") | split("=") | {(.[0]): .[1]}) | add)
				as $all | $wanted | split(" ") | map(select(. != "") | {(.): $all[.]}) | add // {}),
			base_manifest_digest: $base,
			oci_ref: $tag, docker_repo_tag: $repo_tag,
			rootfs: $rootfs, oci_layout: "oci", docker_archive: $archive, packages_list: "packages.txt"
		}')"
}

# ---------------------------------------------------------------------------

# Key: the recipe (both scripts), what it builds from, and the tools that
# produce the bytes. Deliberately not the package versions: the mirror
# decides those, and a fresh machine simply rebuilds.
cache_key() {
	{
		cat "$SELF" "$FX_DIR/lib.sh"
		printf '%s\n' "$@" "$(dpkg --print-architecture)"
		fx_tool_fingerprint
		fx_gzip_fast_fingerprint
	} | fx_short_hash
}

# Builds (or finds) the base; sets BASE_DIR.
ensure_base() {
	local key
	key=$(cache_key base "$SUITE" "$MIRROR" "$(dpkg-query -W -f='${Version}' debootstrap)")
	fx_cached_build debian-base "$key" build_base
	BASE_DIR=$FX_OUT
}

main() {
	if [[ ${1:-} == --ns-install ]]; then # internal, see build_variant
		shift
		fx_init debian-ns
		set_chroot_env
		ns_install "$@"
		return
	fi

	VARIANT=${1:-base}
	case $VARIANT in
	base | nginx | redis | flask) ;;
	*) fx_die "unknown variant '$VARIANT' (base, nginx, redis, flask)" ;;
	esac
	fx_init "debian-$VARIANT"
	# Enough to find a cached fixture (no root needed); building checks more.
	fx_require_cmds dpkg dpkg-query tar gzip jq sha256sum flock
	MIRROR=$(debian_mirror)
	set_chroot_env

	local start
	start=$(fx_now)
	ensure_base
	if [[ $VARIANT != base ]]; then
		local key
		key=$(cache_key "$VARIANT" "$(jq -r .manifest_digest "$BASE_DIR/image.json")")
		fx_cached_build "debian-$VARIANT" "$key" build_variant
	fi
	fx_log "done in $(fx_since "$start")s"
	printf '%s\n' "$FX_OUT" >&3
}

main "$@"
