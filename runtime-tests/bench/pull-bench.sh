#!/usr/bin/env bash
# Cold-cache pull of the large fixture (rootfs-fixtures/large.sh, 8 layers,
# ~309 MB gzipped, ~861 MB unpacked) from a local docker-registry on
# 127.0.0.1: Berth (image-tool and `docker pull` through berthd, both
# release builds) against a private dockerd, podman and skopeo, measured in
# the same run, plus reference rows for the raw costs (HTTP download,
# sha256, inflate, untar). Prints a Markdown report on stdout, progress on
# stderr; leaves nothing behind. See docs/benchmarks.md.
#
#   runtime-tests/bench/pull-bench.sh        # as root, from the checkout
#
# Knobs: BENCH_REPS (3), BENCH_TOOLS ("image-tool berthd dockerd podman
# skopeo"), BENCH_REFS (1: the reference rows), BENCH_ALLOW_QEMU (0),
# BENCH_BUILD (1: cargo build --release first), TMPDIR (/tmp).
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REPS=${BENCH_REPS:-3}
TOOLS=${BENCH_TOOLS:-"image-tool berthd dockerd podman skopeo"}
REFS=${BENCH_REFS:-1}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
IMAGE_TOOL=$TARGET/release/image-tool
BERTHD=$TARGET/release/berthd

log() { echo "pull-bench: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
if pgrep qemu >/dev/null && [ "${BENCH_ALLOW_QEMU:-0}" != 1 ]; then
    die "a qemu VM is running (pgrep qemu); its noise would skew the numbers (BENCH_ALLOW_QEMU=1 to go on)"
fi
for c in docker-registry skopeo curl sha256sum gzip pigz tar python3 jq docker dockerd podman mkfs.ext4; do
    command -v "$c" >/dev/null || die "$c is not installed"
done

if [ "${BENCH_BUILD:-1}" = 1 ]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build -q --release -p berthd -p berth-shim -p berth \
        && cargo build -q --release -p runtime-tests --bin image-tool) >&2
fi
[ -x "$IMAGE_TOOL" ] && [ -x "$BERTHD" ] && [ -x "$TARGET/release/berth-shim" ] \
    || die "release binaries missing under $TARGET/release"

LARGE=$("$ROOT/rootfs-fixtures/large.sh" | tail -n1)
[ -f "$LARGE/image.json" ] || die "large fixture not found ($LARGE)"
GZ_BYTES=$(jq -r .gzip_size "$LARGE/image.json")
TAR_BYTES=$(jq -r .tar_size "$LARGE/image.json")
MANIFEST_DIGEST=$(jq -r .manifest_digest "$LARGE/image.json")
NLAYERS=$(jq -r '.layers | length' "$LARGE/image.json")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pbench-XXXXXX")
REG_PID= DAEMON_PID= DAEMON_DIR= CG_NAME=
declare -a CG_NAMES=()

# ------------------------------------------------------------------ cleanup

# umount_under, kill_cmdline, stop_pid
source "$ROOT/runtime-tests/bench/cleanup.sh"

remove_cgroups() {
    local n d
    for n in "${CG_NAMES[@]}"; do
        for d in /sys/fs/cgroup/"$n" /sys/fs/cgroup/*/"$n"; do
            [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done
    done
}

stop_daemon() {
    [ -n "$DAEMON_DIR" ] || return 0
    stop_pid "$DAEMON_PID"
    kill_cmdline "$DAEMON_DIR"
    umount_under "$DAEMON_DIR"
    rm -rf "$DAEMON_DIR"
    DAEMON_PID= DAEMON_DIR=
    remove_cgroups
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_daemon
    stop_pid "$REG_PID"
    kill_cmdline "$WORK"
    drop_fs
    umount_under "$WORK"
    rm -rf "$WORK"
    remove_cgroups
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ helpers

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# CPU seconds (user+sys, including reaped children) of a process.
proc_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12+$13+$14+$15)/hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}

wait_docker_api() {
    local host=$1 i
    for i in $(seq 1 600); do
        DOCKER_CONFIG=$WORK/cli docker -H "$host" version >/dev/null 2>&1 && return 0
        kill -0 "$DAEMON_PID" 2>/dev/null || { tail -20 "$DAEMON_DIR"/*.log >&2; die "daemon exited"; }
        sleep 0.05
    done
    die "daemon at $host did not answer"
}

start_berthd() {
    DAEMON_DIR=$(mktemp -d "$FS/bd-XXXX")
    "$BERTHD" --data-root "$DAEMON_DIR/data" --exec-root "$DAEMON_DIR/run" \
        -H "unix://$DAEMON_DIR/b.sock" >"$DAEMON_DIR/berthd.log" 2>&1 &
    DAEMON_PID=$!
    DAEMON_HOST=unix://$DAEMON_DIR/b.sock
    wait_docker_api "$DAEMON_HOST"
}

start_dockerd() {
    DAEMON_DIR=$(mktemp -d "$FS/dd-XXXX")
    CG_NAME=berth-pbench-$$-$RANDOM
    CG_NAMES+=("$CG_NAME")
    mkdir -p "$DAEMON_DIR/data" "$DAEMON_DIR/exec"
    printf '{"insecure-registries": ["127.0.0.1:%s"]}\n' "$PORT" >"$DAEMON_DIR/daemon.json"
    dockerd --config-file "$DAEMON_DIR/daemon.json" --data-root "$DAEMON_DIR/data" \
        --exec-root "$DAEMON_DIR/exec" --pidfile "$DAEMON_DIR/docker.pid" \
        -H "unix://$DAEMON_DIR/docker.sock" --bridge=none --iptables=false \
        --ip6tables=false --ip-masq=false \
        --containerd-namespace "$CG_NAME" --containerd-plugins-namespace "$CG_NAME-p" \
        --cgroup-parent "/$CG_NAME" >"$DAEMON_DIR/dockerd.log" 2>&1 &
    DAEMON_PID=$!
    DAEMON_HOST=unix://$DAEMON_DIR/docker.sock
    wait_docker_api "$DAEMON_HOST"
}

# Every run writes into a filesystem made for it: a loop-mounted ext4 made
# fresh each time. On a reused filesystem, ext4 walks past the inodes the
# previous run freed (it won't reuse them for a few minutes), which made the
# system time of a run depend on what ran before it.
# The loop device uses direct I/O on its backing file, so the data is not
# cached (and copied) twice.
FS=$WORK/fs LOOP_DEV=
fresh_fs() {
    truncate -s 8G "$WORK/fs.img"
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$WORK/fs.img"
    mkdir -p "$FS"
    LOOP_DEV=$(losetup --direct-io=on -f --show "$WORK/fs.img")
    mount "$LOOP_DEV" "$FS"
}
drop_fs() {
    umount_under "$FS"
    [ -z "$LOOP_DEV" ] || losetup -d "$LOOP_DEV" 2>/dev/null || true
    LOOP_DEV=
    rm -f "$WORK/fs.img"
}

# One timed, cold pull by $1; prints "seconds seconds_with_sync cpu_seconds".
# Untimed: making the fresh filesystem, data root and daemon before, and
# removing them after.
run_one() {
    local tool=$1 dir t0 t1 t2 cpu0 cpu1 cpu
    fresh_fs
    sync
    case $tool in
    image-tool)
        dir=$FS/it-root
        t0=$(now)
        /usr/bin/time -f '%U %S' -o "$WORK/time.out" \
            "$IMAGE_TOOL" "$dir" pull "$REF" >"$WORK/tool.out" 2>&1 \
            || { cat "$WORK/tool.out" >&2; die "image-tool pull failed"; }
        t1=$(now); sync; t2=$(now)
        cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$WORK/time.out")
        log "$tool CPU: $(awk '{ printf "user %.2fs, system %.2fs", $1, $2 }' "$WORK/time.out")"
        grep -q "^pulled .* $MANIFEST_DIGEST" "$WORK/tool.out" || die "image-tool pulled something else: $(tail -1 "$WORK/tool.out")"
        umount_under "$dir"; rm -rf "$dir"
        ;;
    berthd|dockerd)
        if [ "$tool" = berthd ]; then start_berthd; else start_dockerd; fi
        cpu0=$(proc_cpu "$DAEMON_PID")
        t0=$(now)
        DOCKER_CONFIG=$WORK/cli docker -H "$DAEMON_HOST" pull -q "$REF" >"$WORK/tool.out" 2>&1 \
            || { cat "$WORK/tool.out" >&2; tail -20 "$DAEMON_DIR"/*.log >&2; die "$tool pull failed"; }
        t1=$(now); sync; t2=$(now)
        cpu1=$(proc_cpu "$DAEMON_PID")
        cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')
        stop_daemon
        ;;
    podman)
        dir=$FS/podman
        mkdir -p "$dir/tmp"
        t0=$(now)
        /usr/bin/time -f '%U %S' -o "$WORK/time.out" \
            podman --root "$dir/root" --runroot "$dir/run" --tmpdir "$dir/tmp" \
            --storage-driver overlay --cgroup-manager cgroupfs --events-backend none \
            pull -q --tls-verify=false "$REF" >"$WORK/tool.out" 2>&1 \
            || { cat "$WORK/tool.out" >&2; die "podman pull failed"; }
        t1=$(now); sync; t2=$(now)
        cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$WORK/time.out")
        log "$tool CPU: $(awk '{ printf "user %.2fs, system %.2fs", $1, $2 }' "$WORK/time.out")"
        umount_under "$dir"; rm -rf "$dir"
        ;;
    skopeo)
        dir=$FS/skopeo
        t0=$(now)
        /usr/bin/time -f '%U %S' -o "$WORK/time.out" \
            skopeo --insecure-policy copy -q --src-tls-verify=false \
            "docker://$REF" "oci:$dir:latest" >"$WORK/tool.out" 2>&1 \
            || { cat "$WORK/tool.out" >&2; die "skopeo copy failed"; }
        t1=$(now); sync; t2=$(now)
        cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$WORK/time.out")
        log "$tool CPU: $(awk '{ printf "user %.2fs, system %.2fs", $1, $2 }' "$WORK/time.out")"
        rm -rf "$dir"
        ;;
    *) die "unknown tool $tool" ;;
    esac
    sync
    drop_fs
    echo "$(elapsed "$t0" "$t1") $(elapsed "$t0" "$t2") $cpu"
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ------------------------------------------------------------------ registry

PORT=$(free_port)
mkdir -p "$WORK/reg/storage" "$WORK/cli"
cat >"$WORK/reg/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/reg/storage
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$PORT
  secret: pull-bench-$$
health:
  storagedriver:
    enabled: false
EOF
docker-registry serve "$WORK/reg/config.yml" >"$WORK/reg/registry.log" 2>&1 &
REG_PID=$!
for i in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break
    kill -0 "$REG_PID" 2>/dev/null || { cat "$WORK/reg/registry.log" >&2; die "docker-registry exited"; }
    sleep 0.05
done
REF=127.0.0.1:$PORT/large:latest
log "pushing the large fixture to $REF"
skopeo --insecure-policy copy -q --preserve-digests --dest-tls-verify=false \
    "oci:$LARGE/oci:latest" "docker://$REF" >&2
BLOBS=$(jq -r '.layers[].digest' "$LARGE/image.json")
URLS=()
for d in $BLOBS; do URLS+=("http://127.0.0.1:$PORT/v2/large/blobs/$d"); done
# Warm the registry's storage into the page cache, so every run reads it
# from memory (the first would otherwise pay the disk).
for u in "${URLS[@]}"; do curl -fsS -o /dev/null "$u"; done

# ------------------------------------------------------------------ measure

declare -A T TS CPU
tools=($TOOLS)
n=${#tools[@]}
for rep in $(seq 1 "$REPS"); do
    for k in $(seq 0 $((n - 1))); do
        tool=${tools[$(((k + rep - 1) % n))]}
        run_one "$tool" >"$WORK/result"   # not in a subshell: cleanup must see the daemon
        read -r t ts cpu <"$WORK/result"
        log "rep $rep/$REPS $tool: ${t}s (${ts}s with sync, cpu ${cpu}s)"
        T[$tool]+="$t "; TS[$tool]+="$ts "; CPU[$tool]+="$cpu "
    done
done

# Reference rows: the raw costs of the same bytes, each on its own.
declare -A RT
ref_cmd() {
    local name=$1; shift
    local r t0 t1 out=""
    for r in $(seq 1 "$REPS"); do
        sync
        t0=$(now); "$@"; t1=$(now)
        out+="$(elapsed "$t0" "$t1") "
    done
    RT[$name]=$out
    log "reference $name: $out"
}
LAYER_FILES=()
for d in $BLOBS; do LAYER_FILES+=("$LARGE/oci/blobs/sha256/${d#sha256:}"); done
cat "${LAYER_FILES[@]}" >/dev/null   # page cache
curl_seq() { for u in "${URLS[@]}"; do curl -fsS -o /dev/null "$u"; done; }
curl_par() {
    local args=() u
    for u in "${URLS[@]}"; do args+=(-o /dev/null "$u"); done
    curl -fsS --no-progress-meter --parallel --parallel-max 3 "${args[@]}"
}
sha_seq() { sha256sum "${LAYER_FILES[@]}" >/dev/null; }
diffid_seq() { local f; for f in "${LAYER_FILES[@]}"; do pigz -dc "$f" | sha256sum >/dev/null; done; }
gunzip_seq() { local f; for f in "${LAYER_FILES[@]}"; do gzip -dc "$f" >/dev/null; done; }
pigz_seq() { local f; for f in "${LAYER_FILES[@]}"; do pigz -dc "$f" >/dev/null; done; }
untar_seq() {
    local f i=0
    for f in "${LAYER_FILES[@]}"; do
        i=$((i + 1)); mkdir -p "$FS/untar/$i"
        pigz -dc "$f" | tar -x --numeric-owner -C "$FS/untar/$i"
    done
    sync
}
# Each rep of the untar row gets its own fresh filesystem too (untimed).
ref_untar() {
    local r t0 t1 out=""
    for r in $(seq 1 "$REPS"); do
        fresh_fs; sync
        t0=$(now); untar_seq; t1=$(now)
        drop_fs
        out+="$(elapsed "$t0" "$t1") "
    done
    RT["pigz -dc \\| tar -x, then sync"]=$out
    log "reference untar: $out"
}
if [ "$REFS" = 1 ]; then
    ref_cmd "curl, layers one by one" curl_seq
    ref_cmd "curl --parallel-max 3" curl_par
    ref_cmd "sha256sum (1 core)" sha_seq
    ref_cmd "gzip -dc (1 core)" gunzip_seq
    ref_cmd "pigz -dc" pigz_seq
    ref_cmd "pigz -dc \\| sha256sum (DiffIDs)" diffid_seq
    ref_untar
fi

# ------------------------------------------------------------------ report

mb() { awk -v b="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.0f", b / 1e6 / t; else print "-" }'; }
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
minmax() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk 'NR == 1 { a = $1 } { b = $1 } END { printf "%s-%s", a, b }'; }

DOCKER_MED=
[ -n "${T[dockerd]:-}" ] && DOCKER_MED=$(med "${T[dockerd]}")

label() {
    case $1 in
    image-tool) echo "Berth image-tool pull (library, release)" ;;
    berthd) echo "Berth: docker pull via berthd (release)" ;;
    dockerd) echo "dockerd: docker pull ($(dockerd --version | sed 's/,.*//; s/Docker version //'))" ;;
    podman) echo "podman pull ($(podman --version | awk '{ print $3 }'))" ;;
    skopeo) echo "skopeo copy to oci: (download only; $(skopeo --version | awk '{ print $3 }'))" ;;
    esac
}

cat <<EOF
### Cold pull of the large image from a local registry

- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- kernel: $(uname -sr); CPUs: $(nproc) x $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo); RAM $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
- load average before the report: $(cut -d' ' -f1-3 /proc/loadavg)
- berth: git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' + uncommitted changes'), release build
- image: \`rootfs-fixtures/large.sh\` ($(basename "$LARGE")), $NLAYERS layers, $(awk -v b="$GZ_BYTES" 'BEGIN { printf "%.1f", b / 1e6 }') MB gzipped, $(awk -v b="$TAR_BYTES" 'BEGIN { printf "%.1f", b / 1e6 }') MB of layer tars
- registry: docker-registry $(docker-registry --version 2>/dev/null | awk '{ print $3 }') on 127.0.0.1, filesystem storage, blobs in the page cache
- data roots on a fresh ext4 for every run (an 8 GiB image made with mkfs.ext4, loop-mounted with direct I/O, under $(dirname "$WORK")); every run starts from an empty root (a fresh daemon for berthd/dockerd)
- $REPS runs per tool, tools interleaved (order rotates); median, with min-max

| tool | median s | min-max s | median s incl. \`sync\` | compressed MB/s | unpacked MB/s | CPU s | time vs docker |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
for tool in "${tools[@]}"; do
    m=$(med "${T[$tool]}"); ms=$(med "${TS[$tool]}"); c=$(med "${CPU[$tool]}")
    ratio=-
    [ -n "$DOCKER_MED" ] && ratio=$(awk -v a="$m" -v d="$DOCKER_MED" 'BEGIN { printf "%.2fx", a / d }')
    up=$(mb "$TAR_BYTES" "$m")
    [ "$tool" = skopeo ] && up="(no unpack)"
    echo "| $(label "$tool") | $m | $(minmax "${T[$tool]}") | $ms | $(mb "$GZ_BYTES" "$m") | $up | $c | $ratio |"
done
if [ "$REFS" = 1 ]; then
    for name in "curl, layers one by one" "curl --parallel-max 3" "sha256sum (1 core)" "gzip -dc (1 core)" "pigz -dc" "pigz -dc \\| sha256sum (DiffIDs)" "pigz -dc \\| tar -x, then sync"; do
        m=$(med "${RT[$name]}")
        echo "| reference: $name | $m | $(minmax "${RT[$name]}") | | $(mb "$GZ_BYTES" "$m") | $(mb "$TAR_BYTES" "$m") | | |"
    done
fi
cat <<EOF

Times are wall clock of the pull command (for berthd and dockerd the docker CLI; the daemon was started beforehand, untimed). "incl. \`sync\`" adds a \`sync\` after the pull (Berth already syncfs()es its snapshots before recording the image; dockerd and podman leave the writeback to the kernel). CPU is user+sys of the tool (for berthd and dockerd: of the daemon, including reaped children such as unpigz). "time vs docker" is the median divided by dockerd's median (target: Berth ≤ 0.25x). Reference rows process the same layer blobs (from the page cache) with one standard tool each.
EOF
