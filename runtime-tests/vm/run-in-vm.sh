#!/usr/bin/env bash
#
# Run a command as root inside a throw-away VM whose kernel has pure cgroup v2
# (cgroup_no_v1=all), on top of this host's own root filesystem (read-only
# over 9p), so host-built binaries run unchanged.
#
#   runtime-tests/vm/run-in-vm.sh [--timeout SECS] [--tmpfs PATH]... [--env NAME]... -- COMMAND...
#
# Exits with COMMAND's exit code; 124 when the hard timeout killed the VM,
# 125 when the VM failed before COMMAND ran. Guest output streams to stdout;
# progress goes to stderr. See README.md beside this script.
set -euo pipefail

VM_DIR=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd -P)

log() { printf 'run-in-vm: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 125
}

usage() {
	sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 125
}

TIMEOUT=${BERTH_VM_TIMEOUT:-900}
SMP=${BERTH_VM_SMP:-2}
MEM=${BERTH_VM_MEM:-2G}
CACHE=${BERTH_VM_CACHE:-/var/cache/berth/vm}
# Kernel package: the one Debian's linux-image-amd64 points at (6.1 on
# bookworm), unless BERTH_VM_KERNEL_PKG names one (e.g. linux-image-6.1.0-56-amd64).
KERNEL_PKG=${BERTH_VM_KERNEL_PKG:-}
# Modules loaded in the guest, in this order (busybox modprobe ignores
# softdeps, so crc32c_generic goes before libcrc32c users).
MODULES=(crc32c_generic virtio_mmio 9pnet_virtio 9p overlay veth bridge nf_tables)
# Writable tmpfs mounts over the read-only host root (more with --tmpfs).
TMPFS_PATHS=(/tmp /var/tmp /run /dev/shm)
# Environment passed through to COMMAND (more with --env; plus every
# BERTH_* and RUST_* variable).
ENV_NAMES=(PATH HOME USER LANG LC_ALL TERM)

while (($#)); do
	case $1 in
	--timeout)
		TIMEOUT=${2:?--timeout needs seconds}
		shift 2
		;;
	--tmpfs)
		TMPFS_PATHS+=("${2:?--tmpfs needs a path}")
		shift 2
		;;
	--env)
		ENV_NAMES+=("${2:?--env needs a name}")
		shift 2
		;;
	--)
		shift
		break
		;;
	-h | --help) usage ;;
	*) break ;;
	esac
done
(($#)) || usage
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout wants whole seconds, got $TIMEOUT"
[[ $(id -u) == 0 ]] || die "must run as root (qemu shares / with the guest's root)"
for c in qemu-system-x86_64 busybox apt-get apt-cache dpkg-deb xz flock timeout sha256sum; do
	command -v "$c" >/dev/null || die "missing command: $c (bash .ci/run --deps-only installs it)"
done
# The initramfs needs a static busybox (Debian's busybox-static).
BUSYBOX=
for b in /bin/busybox "$(command -v busybox)"; do
	if [[ -x $b && $(LC_ALL=C ldd "$b" 2>&1 || true) == *'not a dynamic'* ]]; then
		BUSYBOX=$b
		break
	fi
done
[[ -n $BUSYBOX ]] || die "no static busybox: apt-get install busybox-static"

mkdir -p -- "$CACHE"

# --- kernel ---------------------------------------------------------------

# Prints "PACKAGE VERSION" of the kernel to use, from apt's lists; empty
# when apt knows no candidate (no 'apt-get update' yet, or offline).
kernel_candidate() {
	local pkg=$KERNEL_PKG ver
	if [[ -z $pkg ]]; then
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.1\.[0-9.-]*-amd64$/ { print $2; exit }')
	fi
	[[ -n $pkg ]] || return 0
	ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')
	[[ -n $ver && $ver != "(none)" ]] || return 0
	printf '%s %s\n' "$pkg" "$ver"
}

# Extracts the uncompressed ELF vmlinux from a bzImage (what the kernel's
# scripts/extract-vmlinux does): find the payload's compression magic and
# decompress from there. Debian's amd64 kernels are xz-compressed.
extract_vmlinux() {
	local bz=$1 out=$2 off
	# shellcheck disable=SC2013 # byte offsets, one a line
	for off in $(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bz" | cut -d: -f1); do
		if tail -c +"$((off + 1))" "$bz" | xz -dc --single-stream >"$out" 2>/dev/null ||
			[[ -s $out ]]; then
			if [[ $(head -c 4 "$out" | od -An -c | tr -d ' ') == '177ELF' ]]; then
				return 0
			fi
		fi
	done
	return 1
}

# Makes $CACHE/PKG_VERSION/ (vmlinux, config, lib/modules/REL with depmod
# data, release) if missing. Atomic: built in a temp dir, renamed last.
build_kernel_dir() {
	local pkg=$1 ver=$2 final=$3 tmp deb rel
	exec {klock}>"$CACHE/.kernel.lock"
	flock "$klock"
	if [[ -e $final/.complete ]]; then
		exec {klock}>&-
		return 0
	fi
	rm -rf -- "$final" "$CACHE/.${final##*/}.tmp."*
	tmp=$(mktemp -d "$CACHE/.${final##*/}.tmp.XXXXXX")
	CLEANUP+=("$tmp")
	chmod 0755 "$tmp"
	log "fetching $pkg=$ver"
	(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >&2) ||
		die "apt-get download $pkg=$ver failed"
	deb=$(find "$tmp" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
	[[ -n $deb ]] || die "apt-get download produced no .deb for $pkg"
	dpkg-deb -x "$deb" "$tmp/x"
	rel=$(find "$tmp/x/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | head -n1)
	[[ -n $rel && -f $tmp/x/boot/vmlinuz-$rel ]] || die "$deb has no vmlinuz and modules for one release"
	log "extracting vmlinux ($rel)"
	extract_vmlinux "$tmp/x/boot/vmlinuz-$rel" "$tmp/vmlinux" || die "no xz-compressed ELF kernel in vmlinuz-$rel"
	mkdir -p "$tmp/lib/modules"
	mv "$tmp/x/lib/modules/$rel" "$tmp/lib/modules/$rel"
	mv "$tmp/x/boot/config-$rel" "$tmp/config"
	log "depmod $rel"
	"$BUSYBOX" depmod -b "$tmp" "$rel"
	printf '%s\n' "$rel" >"$tmp/release"
	printf '%s %s\n' "$pkg" "$ver" >"$tmp/package"
	rm -rf "$tmp/x" "$deb"
	: >"$tmp/.complete"
	mv -T -- "$tmp" "$final"
	# Older kernels (a security update replaced them) are 400 MB each.
	find "$CACHE" -mindepth 1 -maxdepth 1 -name 'linux-image-*' ! -path "$final" -exec rm -rf -- {} +
	exec {klock}>&-
}

CLEANUP=()
QEMU_PID=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local p
	# QEMU_PID is timeout(1), which passes the TERM on to qemu.
	if [[ -n $QEMU_PID ]] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill -TERM "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
	fi
	for p in "${CLEANUP[@]}"; do
		[[ -n $p && -e $p ]] && rm -rf -- "$p"
	done
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r KPKG KVER < <(kernel_candidate) || true
if [[ -n ${KPKG:-} ]]; then
	KDIR=$CACHE/${KPKG}_$KVER
	[[ -e $KDIR/.complete ]] || build_kernel_dir "$KPKG" "$KVER" "$KDIR"
else
	# No apt lists: the newest kernel already cached, if any.
	KDIR=$(find "$CACHE" -mindepth 2 -maxdepth 2 -name .complete -path '*/linux-image-*' -printf '%h\n' 2>/dev/null | sort -V | tail -n1)
	[[ -n $KDIR ]] || die "apt knows no linux-image-6.1.*-amd64 (run 'apt-get update') and none is cached in $CACHE"
	log "no apt candidate for the kernel: using cached $KDIR"
fi
KREL=$(cat "$KDIR/release")

# --- initramfs ------------------------------------------------------------

# Module files (relative to lib/modules/REL) for MODULES and their deps.
module_closure() {
	local dep=$KDIR/lib/modules/$KREL/modules.dep
	awk -v want="${MODULES[*]}" '
		BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) { m = w[i]; gsub("-", "_", m); wanted[m] = 1 } }
		{
			f = $1; sub(":$", "", f)
			b = f; sub(".*/", "", b); sub("\\.ko.*$", "", b); gsub("-", "_", b)
			if (b in wanted) { found[b] = 1; print f; for (i = 2; i <= NF; i++) print $i }
		}
		END { for (m in wanted) if (!(m in found)) { print "missing module " m > "/dev/stderr"; exit 1 } }
	' "$dep" | sort -u
}

MODFILES=$(module_closure) || die "kernel $KREL lacks a module the VM needs"
IKEY=$({
	cat "$VM_DIR/init.sh" "$VM_DIR/stage2.sh"
	printf '%s\n' "$KDIR" "${MODULES[@]}" "$MODFILES"
	sha256sum <"$BUSYBOX"
} | sha256sum | cut -c1-16)
INITRD=$CACHE/initramfs-$KREL-$IKEY.cpio

build_initramfs() {
	local tmp m
	exec {ilock}>"$CACHE/.initramfs.lock"
	flock "$ilock"
	if [[ -e $INITRD ]]; then
		exec {ilock}>&-
		return 0
	fi
	tmp=$(mktemp -d "$CACHE/.initramfs.tmp.XXXXXX")
	CLEANUP+=("$tmp")
	log "building initramfs $INITRD"
	mkdir -p "$tmp/root"/{bin,dev,proc,sys,host,etc/berth-vm,"lib/modules/$KREL"}
	install -m 0755 "$BUSYBOX" "$tmp/root/bin/busybox"
	install -m 0755 "$VM_DIR/init.sh" "$tmp/root/init"
	install -m 0644 "$VM_DIR/stage2.sh" "$tmp/root/etc/berth-vm/stage2.sh"
	printf '%s\n' "${MODULES[@]}" >"$tmp/root/etc/berth-vm/modules"
	while IFS= read -r m; do
		mkdir -p "$tmp/root/lib/modules/$KREL/${m%/*}"
		cp "$KDIR/lib/modules/$KREL/$m" "$tmp/root/lib/modules/$KREL/$m"
	done <<<"$MODFILES"
	cp "$KDIR/lib/modules/$KREL/modules.builtin" "$tmp/root/lib/modules/$KREL/" 2>/dev/null || true
	"$BUSYBOX" depmod -b "$tmp/root" "$KREL"
	# Uncompressed: decompressing costs more than reading under TCG.
	(cd "$tmp/root" && find . -mindepth 1 | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc -R 0:0) >"$tmp/initramfs.cpio" 2>/dev/null
	mv -T -- "$tmp/initramfs.cpio" "$INITRD"
	rm -rf -- "$tmp"
	# Initramfs images of older recipes or kernels, unused for a day.
	find "$CACHE" -maxdepth 1 -name 'initramfs-*.cpio' ! -path "$INITRD" -mmin +1440 -delete
	exec {ilock}>&-
}
[[ -e $INITRD ]] || build_initramfs

# --- the run --------------------------------------------------------------

# The tmpfs paths to mount in the guest, less any that holds the working
# directory (a checkout under /tmp must stay visible). Temporary files then
# go to the first tmpfs left, through TMPDIR.
writable_tmpfs_paths() {
	local cwd p first=
	cwd=$(pwd -P)
	for p in "${TMPFS_PATHS[@]}"; do
		if [[ $cwd == "$p" || $cwd == "$p"/* ]]; then
			echo "run-in-vm: $p holds the working directory: not mounting a tmpfs over it" >&2
			continue
		fi
		[[ -z $first && $p != /run && $p != /dev/shm ]] && first=$p
		printf '%s\n' "$p"
	done
	if [[ $cwd == /tmp/* && -n $first ]]; then
		printf 'export TMPDIR=%q\n' "$first" >>"$RUN/share/env.sh"
	fi
}

RUN=$(mktemp -d "${TMPDIR:-/tmp}/berth-vm.XXXXXX")
CLEANUP+=("$RUN")
mkdir "$RUN/share"
# What the guest's stage2.sh reads: cwd, environment, argv (NUL-separated),
# writable tmpfs paths, and the host clock.
pwd -P >"$RUN/share/cwd"
{
	declare -A seen=()
	for n in "${ENV_NAMES[@]}" $(compgen -e | grep -E '^(BERTH|RUST)_' || true); do
		[[ -n ${seen[$n]:-} ]] && continue
		seen[$n]=1
		[[ -n ${!n+x} ]] && printf 'export %s=%q\n' "$n" "${!n}"
	done
} >"$RUN/share/env.sh"
printf '%s\0' "$@" >"$RUN/share/argv"
writable_tmpfs_paths >"$RUN/share/tmpfs"
date +%s >"$RUN/share/clock"

APPEND="console=ttyS0 quiet panic=-1 cgroup_no_v1=all random.trust_cpu=on"
# Time under TCG: the guest's TSC is the host's, but the kernel's checks
# (PIT calibration, TSC sync between vCPUs) fail when the host is busy; it
# then falls back to jiffies and can hang at boot or stall later. So: TSC as
# the clocksource, trusted, at the host's frequency.
APPEND+=" clocksource=tsc tsc=reliable"
TSC_KHZ=$(awk -F': *' '$1 ~ /^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
[[ -n $TSC_KHZ && $TSC_KHZ != 0 ]] && APPEND+=" tsc_early_khz=$TSC_KHZ"
APPEND+=" ${BERTH_VM_APPEND:-}"
log "booting $KREL (TCG, $SMP vCPUs, $MEM; timeout ${TIMEOUT}s)"
START=$(date +%s)
# qemu's serial output has CRLF line ends: strip the CRs, and keep a copy to
# find the exit marker if the share has no exit code. Both sides run in the
# background so that a signal to this script is handled at once (the trap
# stops the VM).
mkfifo "$RUN/console"
sed -u 's/\r$//' <"$RUN/console" | tee "$RUN/console.log" &
TEE_PID=$!
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 \
	-M microvm -accel tcg,thread=multi -cpu max -smp "$SMP" -m "$MEM" \
	-nodefaults -nographic -serial stdio -no-reboot \
	-kernel "$KDIR/vmlinux" -initrd "$INITRD" -append "$APPEND" \
	-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
	-device virtio-9p-device,fsdev=hostroot,mount_tag=hostroot \
	-fsdev local,id=share,path="$RUN/share",security_model=none,multidevs=remap \
	-device virtio-9p-device,fsdev=share,mount_tag=share \
	</dev/null >"$RUN/console" 2>"$RUN/qemu.err" &
QEMU_PID=$!
qrc=0
wait "$QEMU_PID" || qrc=$?
QEMU_PID=
wait "$TEE_PID" || true
log "VM ran $(($(date +%s) - START))s"
if ((qrc == 124 || qrc == 137)); then
	log "error: hard timeout (${TIMEOUT}s): killed the VM"
	exit 124
fi
if [[ -s $RUN/qemu.err ]]; then
	sed 's/^/qemu: /' "$RUN/qemu.err" >&2
fi
if [[ -s $RUN/share/exit-code ]]; then
	code=$(cat "$RUN/share/exit-code")
else
	code=$(sed -n 's/^BERTH-VM-EXIT=\([0-9]*\)$/\1/p' "$RUN/console.log" | tail -n1)
fi
if [[ -z $code ]]; then
	log "error: the VM stopped (qemu exit $qrc) without running the command to the end"
	exit 125
fi
exit "$code"
