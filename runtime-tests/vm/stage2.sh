# Stage 2 of the VM (PID 1, run by the host's /bin/bash after switch_root
# into the host's root): check the cgroup layout, run the command from the
# share with its environment and cwd, record its exit code, power off.
# shellcheck shell=bash

BB=/run/berth-vm/busybox
S=/run/berth-vm/share

finish() {
	local code=$1
	echo "$code" >"$S/exit-code.tmp" && mv "$S/exit-code.tmp" "$S/exit-code"
	sync
	echo "BERTH-VM-EXIT=$code"
	$BB poweroff -f
	sleep 10
}

fail() {
	echo "berth-vm stage2: error: $*"
	finish 125
}

# Pure cgroup v2: cgroup2 at /sys/fs/cgroup and no v1 hierarchy anywhere.
if grep -q ' - cgroup ' /proc/self/mountinfo; then
	fail "a cgroup v1 hierarchy is mounted: $(grep ' - cgroup ' /proc/self/mountinfo)"
fi
awk '$5 == "/sys/fs/cgroup" && $0 ~ / - cgroup2 / { ok = 1 } END { exit !ok }' /proc/self/mountinfo ||
	fail "/sys/fs/cgroup is not a cgroup2 mount"

$BB hostname berth-vm
$BB ip link set lo up || fail "lo up"
ulimit -n 1048576 2>/dev/null || true

cwd=$(cat "$S/cwd")
# shellcheck source=/dev/null
. "$S/env.sh" || fail "environment"
mapfile -d '' argv <"$S/argv"
cd "$cwd" || fail "cd $cwd"

"${argv[@]}"
finish $?
