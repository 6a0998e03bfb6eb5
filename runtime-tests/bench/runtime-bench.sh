#!/usr/bin/env bash
#
# Container lifecycle benchmark: berth-runtime against runc and crun.
#
#   make bench                                  # the normal way (root)
#   BENCH_RUNS=300 runtime-tests/bench/runtime-bench.sh
#
# Times create+start+wait+delete and `run` of a busybox container running
# `true`, and reports a Markdown table on stdout (progress on stderr). See
# docs/benchmarks.md for what is measured and how to read it.
#
# Environment:
#   BERTH_BUSYBOX_FIXTURE  busybox fixture dir (default: rootfs-fixtures/busybox.sh)
#   BENCH_BERTH_RUNTIME    berth-runtime binary (default: target/release/berth-runtime;
#                          BERTH_RUNTIME_BIN is deliberately ignored: the Makefile
#                          points it at the debug build)
#   BENCH_RUNS             measured iterations per runtime (default 100)
#   BENCH_WARMUP           warm-up iterations (default 5)
#   BENCH_RSS_RUNS         untimed iterations under GNU time for peak RSS (default 5)
#   BENCH_RUNTIMES         space-separated peers to compare (default "runc crun")
#   BENCH_JSON             also write the raw samples (ns) to this file
#   TMPDIR                 where the bundle and the runtimes' state roots go (/tmp)
set -euo pipefail

here=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd -P)
repo=$(cd -- "$here/../.." && pwd -P)

die() {
	printf 'runtime-bench: %s\n' "$*" >&2
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root (namespaces, mounts, cgroups)"
command -v python3 >/dev/null || die "needs python3"

berth=${BENCH_BERTH_RUNTIME:-$repo/target/release/berth-runtime}
[[ -x $berth ]] || die "$berth not found: run 'make bench' (or cargo build --release)"
berth=$(readlink -f -- "$berth") # the driver runs it from other directories

fixture=${BERTH_BUSYBOX_FIXTURE:-}
if [[ -z $fixture ]]; then
	fixture=$("$repo/rootfs-fixtures/busybox.sh" | tail -n 1)
fi
[[ -d $fixture/rootfs ]] || die "no rootfs/ in busybox fixture '$fixture'"

# Peers: Debian's packages live in /usr/sbin or /usr/bin; PATH may lack sbin.
runtimes=("--runtime" "berth-runtime=$berth")
for name in ${BENCH_RUNTIMES-runc crun}; do
	path=$(PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin command -v "$name" || true)
	# Not installed: an empty path, reported as a failed row by the driver.
	runtimes+=("--runtime" "$name=$path")
done

# Unique per invocation: container ids and the cgroup (/berth-bench/<token>)
# are named after it, so cleanup never touches anything else.
token=bb$$x$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")

# Backstop for whatever the driver could not clean up (it was SIGKILLed):
# containers in our state roots, anything still in our cgroups, the cgroups,
# the scratch directory. A runtime command may still be finishing, hence the
# retries. Only pids inside our own (uniquely named) cgroups are killed.
cleanup() {
	local rc=$? state rt path entry dir tries left=0
	# After a failure, let in-flight runtime commands finish first (ms).
	((rc == 0)) || sleep 0.5
	for ((tries = 0; tries < 50; tries++)); do
		for state in "$work"/state-*; do
			[[ -d $state ]] || continue
			rt=${state##*/state-}
			path=
			for ((i = 1; i < ${#runtimes[@]}; i += 2)); do
				[[ ${runtimes[i]%%=*} == "$rt" ]] && path=${runtimes[i]#*=}
			done
			[[ -n $path ]] || continue
			for entry in "$state/$token"*; do
				[[ -e $entry ]] || continue
				"$path" --root "$state" delete --force "${entry##*/}" >/dev/null 2>&1 || true
			done
		done
		left=0
		for dir in /sys/fs/cgroup/berth-bench/"$token" /sys/fs/cgroup/*/berth-bench/"$token"; do
			[[ -d $dir ]] || continue
			# shellcheck disable=SC2046 # one pid per word
			kill -KILL $(find "$dir" -name cgroup.procs -exec cat {} +) 2>/dev/null || true
			find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || left=1
		done
		((left)) || break
		sleep 0.1
	done
	((left == 0)) || printf 'runtime-bench: could not remove cgroups named %s\n' "$token" >&2
	for dir in /sys/fs/cgroup/berth-bench /sys/fs/cgroup/*/berth-bench; do
		if [[ -d $dir ]]; then rmdir "$dir" 2>/dev/null || true; fi
	done
	rm -rf -- "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

extra=()
[[ -z ${BENCH_JSON:-} ]] || extra+=(--json "$BENCH_JSON")
python3 "$here/driver.py" \
	--work "$work" \
	--rootfs "$fixture/rootfs" \
	--token "$token" \
	--runs "${BENCH_RUNS:-100}" \
	--warmup "${BENCH_WARMUP:-5}" \
	--rss-runs "${BENCH_RSS_RUNS:-5}" \
	--source "$repo" \
	"${extra[@]}" \
	"${runtimes[@]}"
