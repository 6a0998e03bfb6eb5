#!/usr/bin/env bash
#
# The runtime's tests on a pure cgroup v2 kernel: builds berth-runtime and the
# test executables on this host, then runs them one by one inside the VM
# (run-in-vm.sh), 2 test threads each.
#
#   runtime-tests/vm/test-v2.sh [TEST-FILTER...]
#
# Runs the berth-runtime lib tests and every runtime-tests test target except
# peers (containerd and dockerd are not set up in the VM). Any arguments are
# passed to each test executable as libtest filters. Exits non-zero when a
# test failed or the VM did not finish. Env: BERTH_VM_TIMEOUT (default 900),
# BERTH_VM_SKIP (test targets to leave out; default "peers"), BERTH_VM_TARGETS
# (run only these targets, e.g. "berth_runtime resources"), CARGO.
set -euo pipefail

VM_DIR=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd -P)
ROOT=$(cd -- "$VM_DIR/../.." && pwd -P)
CARGO=${CARGO:-cargo}
SKIP=${BERTH_VM_SKIP:-peers}
# The runtime's suites (and berth-runtime's unit tests). The daemon, CLI,
# registry and peer suites need services the VM does not set up (a
# network, dockerd, a registry) and would take too long under TCG.
BERTH_VM_TARGETS=${BERTH_VM_TARGETS-berth_runtime lifecycle isolation escapes bad_input resources images}

log() { printf 'test-v2: %s\n' "$*" >&2; }
cd "$ROOT"

log "building berth-runtime and the test executables"
"$CARGO" build -p berth-runtime --bins
BERTH_RUNTIME_BIN=${BERTH_RUNTIME_BIN:-$("$CARGO" metadata --format-version 1 --no-deps | jq -r .target_directory)/debug/berth-runtime}
export BERTH_RUNTIME_BIN
[[ -x $BERTH_RUNTIME_BIN ]] || {
	log "error: no $BERTH_RUNTIME_BIN"
	exit 1
}

# "DIR EXE NAME" for each test executable: DIR is its package's directory,
# the cwd cargo test would give it.
collect() {
	"$CARGO" test "$@" --no-run --message-format=json |
		jq -r 'select(.reason == "compiler-artifact" and .executable != null and .profile.test)
			| [(.manifest_path | sub("/Cargo.toml$"; "")), .executable, .target.name] | @tsv' |
		LC_ALL=C sort -t $'\t' -k3,3
}
list=$({
	collect -p berth-runtime --lib
	collect -p runtime-tests --tests
})
args=()
while IFS=$'\t' read -r dir exe name; do
	if [[ " $SKIP " == *" $name "* ]]; then
		log "skipping $name (BERTH_VM_SKIP)"
		continue
	fi
	if [[ -n ${BERTH_VM_TARGETS:-} && " $BERTH_VM_TARGETS " != *" $name "* ]]; then
		continue
	fi
	args+=("$name" "$dir" "$exe")
done <<<"$list"
((${#args[@]})) || {
	log "error: no test executables found"
	exit 1
}

BERTH_BUSYBOX_FIXTURE=${BERTH_BUSYBOX_FIXTURE:-$(rootfs-fixtures/busybox.sh)}
export BERTH_BUSYBOX_FIXTURE
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}

log "running $((${#args[@]} / 3)) test executables in the VM"
exec "$VM_DIR/run-in-vm.sh" --timeout "${BERTH_VM_TIMEOUT:-900}" -- \
	/bin/bash "$VM_DIR/guest-tests.sh" "$#" "$@" "${args[@]}"
