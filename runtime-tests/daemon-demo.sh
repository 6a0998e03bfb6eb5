#!/usr/bin/env bash
# Berth's main job, end to end: start berthd on a private data root, load
# the busybox fixture, and run containers with the berth CLI and with the
# stock docker CLI pointed at berthd. Everything is removed afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BERTH_BIN_DIR:-$here/target/debug}
fixture=$("$here/rootfs-fixtures/busybox.sh" | tail -1)
root=$(mktemp -d /tmp/berth-demo-XXXX)
sock="$root/berth.sock"
cleanup() {
    "$bin/berth" -H "unix://$sock" rm -f $("$bin/berth" -H "unix://$sock" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    [ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
    grep -o " $root[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$root"
}
trap cleanup EXIT
"$bin/berthd" --data-root "$root/data" --exec-root "$root/run" -H "unix://$sock" 2>"$root/berthd.log" &
daemon=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
berth() { "$bin/berth" -H "unix://$sock" "$@"; }
berth load -i "$fixture/busybox.tar"
berth images
berth run --rm busybox sh -c 'echo "hello from busybox under berthd: $(hostname)"'
if command -v docker >/dev/null; then
    DOCKER_HOST="unix://$sock" DOCKER_CONFIG="$root/docker-config" \
        docker run --rm busybox echo "and from the stock docker CLI"
fi
berth run -d --name demo-clock busybox sh -c 'while true; do date; sleep 1; done' >/dev/null
sleep 2
berth ps
berth logs --tail 2 demo-clock
berth rm -f demo-clock >/dev/null
