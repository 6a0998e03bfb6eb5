#!/usr/bin/env bash
# Runs a busybox container with berth-runtime from the cached fixture:
# the smallest end-to-end proof that the build works on this machine.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runtime=${BERTH_RUNTIME_BIN:-$here/target/debug/berth-runtime}
fixture=$("$here/rootfs-fixtures/busybox.sh")
bundle=$(mktemp -d)
state=$(mktemp -d)
trap 'rm -rf "$bundle" "$state"' EXIT
ln -s "$fixture/rootfs" "$bundle/rootfs"
(cd "$bundle" && "$runtime" spec)
# No terminal (this may run without one), and a friendly command.
python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["sh", "-c", "echo hello from busybox in berth: $(hostname), pid $$; uname -a"]
json.dump(spec, open(path, "w"), indent=2)
PY
"$runtime" --root "$state" run --bundle "$bundle" "demo-$$"
