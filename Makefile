# Berth: build, test and benchmark entry points.
# Tests need root (namespaces, mounts, cgroups) and the fixtures built by
# rootfs-fixtures/ (cached under /var/cache/berth/fixtures).

CARGO ?= cargo
export BERTH_RUNTIME_BIN ?= $(CURDIR)/target/debug/berth-runtime

.PHONY: all build release fixtures lint test unit-test runtime-test bench demo clean

all: build

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --release --workspace

fixtures:
	@rootfs-fixtures/busybox.sh > /dev/null

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Everything CI runs: unit tests, then the integration tests on the real
# kernel, with real peers (containerd, dockerd) driving berth-runtime.
test: build fixtures
	$(CARGO) test --workspace --lib --bins
	BERTH_BUSYBOX_FIXTURE=$$(rootfs-fixtures/busybox.sh) $(CARGO) test -p runtime-tests -- --test-threads=4

unit-test:
	$(CARGO) test --workspace --lib --bins

runtime-test: build fixtures
	BERTH_BUSYBOX_FIXTURE=$$(rootfs-fixtures/busybox.sh) $(CARGO) test -p runtime-tests -- --test-threads=4

# The main job for now: build everything and run a busybox container.
demo: build fixtures
	runtime-tests/demo.sh

bench: release fixtures
	BERTH_BUSYBOX_FIXTURE=$$(rootfs-fixtures/busybox.sh) runtime-tests/bench/runtime-bench.sh

clean:
	$(CARGO) clean
