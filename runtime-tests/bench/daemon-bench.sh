#!/usr/bin/env bash
# Daemon-level container benchmarks on the busybox fixture: a release
# berthd (through the docker CLI and through Berth's own CLI) against a
# private dockerd (containerd + runc) and podman (conmon + runc), all in the
# same run:
#
#   1. `run --rm --network none busybox true` latency (median of 20, after
#      3 warm-up runs, engines interleaved), plus each CLI's `version` as a
#      client floor;
#   2. 100 `run -d --network none busybox sleep 1000` in a row, then 100
#      more 8 at a time: containers started per second;
#   3. memory: the daemon idle, and per running container's monitor
#      (berth-shim, containerd-shim-runc-v2, conmon) with 20 running;
#   4. `ps -a` latency with 1000 created (not started) containers.
#
# Prints a Markdown report on stdout, progress on stderr; removes every
# container, daemon and directory it made, also on Ctrl-C.
#
#   runtime-tests/bench/daemon-bench.sh        # as root, from the checkout
#
# Knobs: BENCH_RUNS (20), BENCH_BURST (100), BENCH_PARALLEL (8),
# BENCH_SHIMS (20), BENCH_PS_CONTAINERS (1000), BENCH_ENGINES ("berth
# dockerd podman"), BENCH_BUILD (1), BENCH_ALLOW_QEMU (0), TMPDIR (/tmp).
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${BENCH_RUNS:-20}
BURST=${BENCH_BURST:-100}
PAR=${BENCH_PARALLEL:-8}
SHIMS=${BENCH_SHIMS:-20}
PSN=${BENCH_PS_CONTAINERS:-1000}
ENGINES=${BENCH_ENGINES:-"berth dockerd podman"}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BERTHD=$TARGET/release/berthd
BERTH=$TARGET/release/berth

log() { echo "daemon-bench: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
if pgrep qemu >/dev/null && [ "${BENCH_ALLOW_QEMU:-0}" != 1 ]; then
    die "a qemu VM is running (pgrep qemu); its noise would skew the numbers (BENCH_ALLOW_QEMU=1 to go on)"
fi
for c in docker dockerd podman runc conmon python3 xargs; do
    command -v "$c" >/dev/null || die "$c is not installed"
done
if [ "${BENCH_BUILD:-1}" = 1 ]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build -q --release -p berthd -p berth-shim -p berth) >&2
fi
[ -x "$BERTHD" ] && [ -x "$BERTH" ] && [ -x "$TARGET/release/berth-shim" ] \
    || die "release binaries missing under $TARGET/release"
if [ -n "${BERTH_BUSYBOX_FIXTURE:-}" ]; then
    BUSYBOX=$BERTH_BUSYBOX_FIXTURE
else
    BUSYBOX=$("$ROOT/rootfs-fixtures/busybox.sh" | tail -n1)
fi
[ -f "$BUSYBOX/busybox.tar" ] || die "no busybox fixture at $BUSYBOX"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dbench-XXXXXX")
CG=berth-dbench-$$
BERTHD_PID= DOCKERD_PID=
BD=$WORK/bd DD=$WORK/dd PD=$WORK/pd
BD_HOST=unix://$BD/b.sock DD_HOST=unix://$DD/docker.sock
mkdir -p "$WORK/cli" "$BD" "$DD/data" "$DD/exec" "$PD/tmp"
echo '{}' >"$WORK/cli/config.json"   # the docker CLI's and podman's auth file
# Podman as root asks runc for RLIMIT_NOFILE/NPROC 1048576 / 4194304, beyond
# the hard limits a sandboxed root may have (runc: "error setting rlimit ...
# operation not permitted"); give it the caller's nofile and a fixed nproc.
cat >"$PD/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Sn):$(ulimit -Hn)", "nproc=4096:4096"]
EOF
export CONTAINERS_CONF=$PD/containers.conf

# ------------------------------------------------------------------ engines

dk_berthd() { DOCKER_CONFIG=$WORK/cli docker -H "$BD_HOST" "$@"; }
dk_dockerd() { DOCKER_CONFIG=$WORK/cli docker -H "$DD_HOST" "$@"; }
bc_berth() { "$BERTH" -H "$BD_HOST" "$@"; }
PODMAN=(podman --root "$PD/root" --runroot "$PD/run" --tmpdir "$PD/tmp"
    --storage-driver overlay --cgroup-manager cgroupfs --events-backend none
    --runtime runc)
pm() { "${PODMAN[@]}" "$@"; }

# The command that drives engine $1 (a name for the python driver too).
engine_cmd() {
    case $1 in
    berthd) echo "docker -H $BD_HOST" ;;
    berth) echo "$BERTH -H $BD_HOST" ;;
    dockerd) echo "docker -H $DD_HOST" ;;
    podman) echo "${PODMAN[*]}" ;;
    esac
}
eng() { # eng ENGINE ARGS...: run the engine's CLI
    local e=$1; shift
    case $e in
    berthd) dk_berthd "$@" ;;
    berth) bc_berth "$@" ;;
    dockerd) dk_dockerd "$@" ;;
    podman) pm "$@" ;;
    esac
}

# ------------------------------------------------------------------ cleanup

# umount_under, kill_cmdline, stop_pid
source "$ROOT/runtime-tests/bench/cleanup.sh"

# Pids in any cgroup whose path has a component starting with $1.
pids_in_cgroup_prefix() {
    grep -l -E ":/(.*/)?$1" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 || true
}
rm_all() { # removes every container of engine $1 (untimed)
    local ids
    ids=$(eng "$1" ps -aq 2>/dev/null || true)
    # podman rm -f would first wait 10 s for each sleep to take SIGTERM.
    local t0=""
    [ "$1" = podman ] && t0="-t 0"
    [ -z "$ids" ] || xargs -n 50 -P 4 $(engine_cmd "$1") rm -f $t0 <<<"$ids" >/dev/null 2>&1 || true
}
cleanup() {
    local rc=$? ids p
    trap - EXIT INT TERM
    log "cleaning up"
    if [ -n "$BERTHD_PID" ]; then
        # Container ids name their cgroups (/berth/<id>).
        ids=$(dk_berthd ps -aq --no-trunc 2>/dev/null || true)
        rm_all berthd
        stop_pid "$BERTHD_PID"
        for p in $ids; do kill -9 $(pids_in_cgroup_prefix "$p") 2>/dev/null || true; done
    fi
    if [ -n "$DOCKERD_PID" ]; then
        rm_all dockerd
        stop_pid "$DOCKERD_PID"
    fi
    if [ -d "$PD/root" ]; then
        rm_all podman
    fi
    kill -9 $(pids_in_cgroup_prefix "$CG") 2>/dev/null || true
    kill_cmdline "$WORK"
    umount_under "$WORK"
    rm -rf "$WORK"
    for d in /sys/fs/cgroup/*/"$CG"* /sys/fs/cgroup/"$CG"*; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_api() {
    local e=$1 pid=$2
    for _ in $(seq 1 600); do
        eng "$e" version >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || die "$e exited: $(tail -5 "$WORK"/*/*.log)"
        sleep 0.05
    done
    die "$e did not answer"
}

# VmRSS and Pss (kB) summed over pids.
mem_kb() {
    local rss=0 pss=0 p r s
    for p in "$@"; do
        r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
        s=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        rss=$((rss + ${r:-0})); pss=$((pss + ${s:-0}))
    done
    echo "$rss $pss"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# The timing driver: runs each named command N times (after W warm-up
# runs), engines interleaved in a rotating order; prints
# "name median p10 p90 failures" in ms.
cat >"$WORK/lat.py" <<'EOF'
import json, subprocess, sys, time, statistics
cmds = json.loads(sys.argv[1]); n = int(sys.argv[2]); warm = int(sys.argv[3])
samples = {name: [] for name, _ in cmds}; fails = {name: 0 for name, _ in cmds}
for i in range(warm + n):
    order = cmds[i % len(cmds):] + cmds[:i % len(cmds)]
    for name, argv in order:
        t0 = time.perf_counter_ns()
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t = (time.perf_counter_ns() - t0) / 1e6
        if r.returncode != 0:
            fails[name] += 1
            if fails[name] == 1:
                sys.stderr.write(f"{name}: {argv} failed: {r.stderr.decode(errors='replace').strip()}\n")
            continue
        if i >= warm:
            samples[name].append(t)
for name, _ in cmds:
    s = sorted(samples[name])
    if not s:
        print(name, "-", "-", "-", fails[name]); continue
    q = lambda p: s[min(len(s) - 1, int(p * len(s)))]
    print(name, f"{statistics.median(s):.1f}", f"{q(0.1):.1f}", f"{q(0.9):.1f}", fails[name])
EOF
# latency NAME=ENGINE:ARGS... rows; N; WARM
latency() {
    local n=$1 warm=$2; shift 2
    python3 - "$@" >"$WORK/cmds.json" <<'EOF'
import json, sys, shlex
out = []
for spec in sys.argv[1:]:
    name, cmd = spec.split("=", 1)
    out.append([name, shlex.split(cmd)])
print(json.dumps(out))
EOF
    DOCKER_CONFIG=$WORK/cli python3 "$WORK/lat.py" "$(cat "$WORK/cmds.json")" "$n" "$warm"
}

# ------------------------------------------------------------------ start

declare -A ACTIVE
for e in $ENGINES; do ACTIVE[$e]=1; done
RUN_ENGINES=()   # engines measured through a CLI: berthd (docker CLI), berth (our CLI), dockerd, podman

if [ -n "${ACTIVE[berth]:-}" ]; then
    log "starting berthd"
    "$BERTHD" --data-root "$BD/data" --exec-root "$BD/run" -H "$BD_HOST" >"$BD/berthd.log" 2>&1 &
    BERTHD_PID=$!
    wait_api berthd "$BERTHD_PID"
    dk_berthd load -q -i "$BUSYBOX/busybox.tar" >/dev/null
    RUN_ENGINES+=(berthd berth)
fi
if [ -n "${ACTIVE[dockerd]:-}" ]; then
    log "starting dockerd"
    echo '{}' >"$DD/daemon.json"
    dockerd --config-file "$DD/daemon.json" --data-root "$DD/data" --exec-root "$DD/exec" \
        --pidfile "$DD/docker.pid" -H "$DD_HOST" --bridge=none --iptables=false \
        --ip6tables=false --ip-masq=false --containerd-namespace "$CG" \
        --containerd-plugins-namespace "$CG-p" --cgroup-parent "/$CG" >"$DD/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    wait_api dockerd "$DOCKERD_PID"
    dk_dockerd load -q -i "$BUSYBOX/busybox.tar" >/dev/null
    RUN_ENGINES+=(dockerd)
fi
if [ -n "${ACTIVE[podman]:-}" ]; then
    pm load -q -i "$BUSYBOX/busybox.tar" >/dev/null
    pm tag localhost/busybox:latest busybox:latest 2>/dev/null || true
    RUN_ENGINES+=(podman)
fi
sleep 2

# Idle memory of the daemons (berthd alone; dockerd + its containerd).
idle_mem() {
    case $1 in
    berthd) mem_kb "$BERTHD_PID" ;;
    dockerd) mem_kb "$DOCKERD_PID" $(pgrep -f -- "$DD/exec/containerd" | head -1) ;;
    esac
}
declare -A IDLE
for e in berthd dockerd; do
    [ -n "${ACTIVE[${e/berthd/berth}]:-}" ] && IDLE[$e]=$(idle_mem "$e")
done

# ------------------------------------------------------------------ 1. run --rm latency

log "run --rm latency ($RUNS runs each, interleaved)"
specs=()
for e in "${RUN_ENGINES[@]}"; do
    specs+=("$e=$(engine_cmd "$e") run --rm --network none busybox true")
done
LAT_RUN=$(latency "$RUNS" 3 "${specs[@]}")
specs=()
for e in "${RUN_ENGINES[@]}"; do specs+=("$e=$(engine_cmd "$e") version"); done
LAT_VER=$(latency "$RUNS" 2 "${specs[@]}")
log "$LAT_RUN"

# ------------------------------------------------------------------ 2. burst

declare -A SEQ PARL
burst_engines=()
for e in "${RUN_ENGINES[@]}"; do [ "$e" = berth ] || burst_engines+=("$e"); done
for e in "${burst_engines[@]}"; do
    log "$e: $BURST x run -d, one at a time"
    t0=$(now)
    for i in $(seq 1 "$BURST"); do
        eng "$e" run -d --network none busybox sleep 1000 >/dev/null || die "$e: run -d failed (container $i)"
    done
    t1=$(now)
    SEQ[$e]=$(elapsed "$t0" "$t1")
    n=$(eng "$e" ps -q | wc -l)
    [ "$n" -ge "$BURST" ] || log "$e: only $n running after the burst"
    rm_all "$e"
    log "$e: $BURST x run -d, $PAR at a time"
    t0=$(now)
    seq 1 "$BURST" | DOCKER_CONFIG=$WORK/cli xargs -P "$PAR" -I{} $(engine_cmd "$e") run -d --network none busybox sleep 1000 >/dev/null \
        || die "$e: a parallel run -d failed"
    t1=$(now)
    PARL[$e]=$(elapsed "$t0" "$t1")
    rm_all "$e"
done

# ------------------------------------------------------------------ 3. memory with N running

declare -A SHIMMEM BUSY
monitor_pids() {
    case $1 in
    berthd) pgrep -f -- "berth-shim .*$BD/" || true ;;
    dockerd) pgrep -f -- "containerd-shim-runc-v2 .*$DD/" || true ;;
    podman) pgrep -f -- "conmon .*$PD/" || true ;;
    esac
}
for e in "${burst_engines[@]}"; do
    for i in $(seq 1 "$SHIMS"); do
        eng "$e" run -d --network none busybox sleep 1000 >/dev/null
    done
    sleep 1
    pids=$(monitor_pids "$e")
    count=$(wc -w <<<"$pids")
    read -r rss pss <<<"$(mem_kb $pids)"
    SHIMMEM[$e]="$count $rss $pss"
    case $e in
    berthd) BUSY[$e]=$(mem_kb "$BERTHD_PID") ;;
    dockerd) BUSY[$e]=$(mem_kb "$DOCKERD_PID" $(pgrep -f -- "$DD/exec/containerd" | head -1)) ;;
    esac
    log "$e: $count monitors, RSS ${rss} kB, PSS ${pss} kB"
    rm_all "$e"
done

# ------------------------------------------------------------------ 4. ps -a with many created

declare -A CREATE PS
for e in "${burst_engines[@]}"; do
    log "$e: creating $PSN containers ($PAR at a time)"
    t0=$(now)
    seq 1 "$PSN" | DOCKER_CONFIG=$WORK/cli xargs -P "$PAR" -I{} $(engine_cmd "$e") create --network none busybox true >/dev/null \
        || log "$e: some creates failed"
    t1=$(now)
    CREATE[$e]=$(elapsed "$t0" "$t1")
    n=$(eng "$e" ps -aq | wc -l)
    CREATE[$e]+=" $n"
    if [ "$e" = berthd ]; then
        BUSY[berthd-created]=$(mem_kb "$BERTHD_PID")
        SHIMMEM[berthd-created]=$(monitor_pids berthd | wc -w)
    fi
done
specs=()
for e in "${RUN_ENGINES[@]}"; do specs+=("$e=$(engine_cmd "$e") ps -a"); done
LAT_PS=$(latency 10 1 "${specs[@]}")
for e in "${burst_engines[@]}"; do rm_all "$e"; done

# ------------------------------------------------------------------ report

row() { grep "^$1 " <<<"$2" | cut -d' ' -f2- || true; } # empty for an engine not measured
label() {
    case $1 in
    berthd) echo "berthd (docker CLI)" ;;
    berth) echo "berthd (berth CLI)" ;;
    dockerd) echo "dockerd $(dockerd --version | sed 's/,.*//; s/Docker version //') (docker CLI)" ;;
    podman) echo "podman $(podman --version | awk '{ print $3 }')" ;;
    esac
}
DOCKER_RUN=$(row dockerd "$LAT_RUN" | cut -d' ' -f1)

cat <<EOF
### Daemon: run latency, start throughput, memory, ps

- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- kernel: $(uname -sr); CPUs: $(nproc) x $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
- load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)
- berth: git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' + uncommitted changes'), release berthd/berth-shim/berth
- dockerd: $(dockerd --version), containerd $(containerd --version | awk '{ print $3 }'), $(runc --version | head -1); --bridge=none, no iptables
- podman: $(podman --version), runc, conmon $(conmon --version | head -1 | awk '{ print $3 }'), cgroupfs, overlay; private --root/--runroot
- docker CLI: $(docker --version | sed 's/,.*//'); image: the busybox fixture; state under $(dirname "$WORK") ($(stat -f -c %T "$WORK"))

#### run --rm --network none busybox true ($RUNS runs after 3 warm-up, engines interleaved)

| engine | median ms | p10 ms | p90 ms | failures | vs dockerd | CLI \`version\` median ms |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
for e in "${RUN_ENGINES[@]}"; do
    read -r m p10 p90 f <<<"$(row "$e" "$LAT_RUN")"
    ratio=$(awk -v a="$m" -v d="$DOCKER_RUN" 'BEGIN { if (d + 0 > 0 && a + 0 > 0) printf "%.2fx", a / d; else print "-" }')
    echo "| $(label "$e") | $m | $p10 | $p90 | $f | $ratio | $(row "$e" "$LAT_VER" | cut -d' ' -f1) |"
done
cat <<EOF

#### $BURST x \`run -d --network none busybox sleep 1000\`

| engine | one at a time: s | containers/s | $PAR at a time: s | containers/s |
| --- | ---: | ---: | ---: | ---: |
EOF
for e in "${burst_engines[@]}"; do
    echo "| $(label "$e") | ${SEQ[$e]} | $(awk -v n="$BURST" -v t="${SEQ[$e]}" 'BEGIN { printf "%.1f", n / t }') | ${PARL[$e]} | $(awk -v n="$BURST" -v t="${PARL[$e]}" 'BEGIN { printf "%.1f", n / t }') |"
done
cat <<EOF

#### Memory

| engine | daemon idle RSS MiB (PSS) | daemon with $SHIMS running, RSS MiB | monitor | monitors | RSS per monitor MiB | PSS per monitor MiB |
| --- | ---: | ---: | --- | ---: | ---: | ---: |
EOF
for e in "${burst_engines[@]}"; do
    read -r count rss pss <<<"${SHIMMEM[$e]}"
    case $e in
    berthd) mon=berth-shim ;;
    dockerd) mon=containerd-shim-runc-v2 ;;
    podman) mon=conmon ;;
    esac
    idle="- (no daemon)" busy="-"
    if [ -n "${IDLE[$e]:-}" ]; then
        read -r ir ip <<<"${IDLE[$e]}"
        idle="$(mib "$ir") ($(mib "$ip"))"
        read -r br _ <<<"${BUSY[$e]}"
        busy=$(mib "$br")
    fi
    per() { awk -v k="$1" -v n="$count" 'BEGIN { if (n > 0) printf "%.2f", k / n / 1024; else print "-" }'; }
    echo "| $(label "$e") | $idle | $busy | $mon | $count | $(per "$rss") | $(per "$pss") |"
done
cat <<EOF

dockerd's daemon columns are dockerd + its containerd. RSS counts shared pages (the binary, libc) in full for every process; PSS divides them among the processes sharing them, so the sum of PSS is what the monitors really cost together.

#### \`ps -a\` with $PSN created containers (10 runs after 1 warm-up)

| engine | creating them ($PAR at a time): s | containers listed | \`ps -a\` median ms | p10 ms | p90 ms |
| --- | ---: | ---: | ---: | ---: | ---: |
EOF
for e in "${RUN_ENGINES[@]}"; do
    ce=$e
    [ "$e" = berth ] && ce=berthd
    read -r ct cn <<<"${CREATE[$ce]:-- -}"
    read -r m p10 p90 _ <<<"$(row "$e" "$LAT_PS")"
    echo "| $(label "$e") | $ct | $cn | $m | $p10 | $p90 |"
done
if [ -n "${BUSY[berthd-created]:-}" ]; then
    read -r r p <<<"${BUSY[berthd-created]}"
    echo
    echo "With the $PSN created containers berthd had RSS $(mib "$r") MiB and ${SHIMMEM[berthd-created]} berth-shim processes."
fi
