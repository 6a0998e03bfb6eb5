#!/usr/bin/env bash
# Inside the VM (called by test-v2.sh through run-in-vm.sh):
#
#   guest-tests.sh NFILTERS [FILTER...] (NAME DIR EXE)...
#
# Checks that the cgroup layout is pure v2, then runs each test executable
# from DIR with --test-threads=2 (and the FILTERs), and sums up. Exits 1 when
# any executable failed, 2 when the layout is wrong.
set -uo pipefail

nf=$1
shift
filters=("${@:1:nf}")
shift "$nf"

# The same check as runtime_tests::cgroup_layout(), plus the mount point.
layout() {
	local v1=0 v2=0
	grep -q ' - cgroup ' /proc/self/mountinfo && v1=1
	grep -q ' - cgroup2 ' /proc/self/mountinfo && v2=1
	case $v1$v2 in
	11) echo "hybrid (v1 controllers + cgroup2)" ;;
	10) echo v1 ;;
	01) echo v2 ;;
	*) echo none ;;
	esac
}
l=$(layout)
echo "cgroup layout: $l"
echo "kernel: $(uname -r); cpus: $(nproc); booted in $(cut -d' ' -f1 /proc/uptime)s; controllers: $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)"
if [[ $l != v2 ]] || ! awk '$5 == "/sys/fs/cgroup" && / - cgroup2 / { ok = 1 } END { exit !ok }' /proc/self/mountinfo; then
	echo "FAIL: /sys/fs/cgroup is not pure cgroup v2"
	exit 2
fi

passed=0 failed=0 ignored=0 bad=()
summary=()
while (($#)); do
	name=$1 dir=$2 exe=$3
	shift 3
	echo
	echo "===== $name ($exe)"
	start=$(date +%s)
	out=$(mktemp)
	(cd "$dir" && CARGO_MANIFEST_DIR=$dir "$exe" --test-threads=2 "${filters[@]}") 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	secs=$(($(date +%s) - start))
	# "test result: ok. 12 passed; 0 failed; 1 ignored; ..."
	read -r p f i < <(sed -n 's/^test result: [A-Z]*[a-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$out" | tail -n1)
	rm -f "$out"
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	ignored=$((ignored + ${i:-0}))
	if ((rc != 0)); then
		bad+=("$name")
		# A crash before libtest's summary still counts as a failure.
		[[ -z ${f:-} || ${f:-0} == 0 ]] && failed=$((failed + 1))
	fi
	summary+=("$(printf '%-14s exit %-3s %4ss  passed %s failed %s ignored %s' "$name" "$rc" "$secs" "${p:-?}" "${f:-?}" "${i:-?}")")
done

echo
echo "===== summary (cgroup layout: $l)"
printf '%s\n' "${summary[@]}"
((${#bad[@]})) && echo "FAILED: ${bad[*]}"
echo "vm-v2: $passed passed, $failed failed, $ignored skipped"
((${#bad[@]} == 0))
