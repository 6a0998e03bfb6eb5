# Berth: build, test and benchmark entry points.
# Tests need root (namespaces, mounts, cgroups) and the fixtures built by
# rootfs-fixtures/ (cached under /var/cache/berth/fixtures).

CARGO ?= cargo
export BERTH_RUNTIME_BIN ?= $(CURDIR)/target/debug/berth-runtime

.PHONY: all build release release-smoke fixtures lint test test-vm unit-test runtime-test bench bench-pull bench-daemon demo clean

all: build

build:
	$(CARGO) build --workspace

# The release berth-runtime is fully static (glibc and libseccomp linked
# in): no dynamic loading on each of the several invocations a container
# lifecycle takes, and nothing from the host's library path at run time.
HOST_TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
MULTIARCH := $(shell gcc -print-multiarch)
RELEASE_BIN := $(CURDIR)/target/$(HOST_TRIPLE)/release/berth-runtime

release:
	RUSTFLAGS="-C target-feature=+crt-static" LIBSECCOMP_LINK_TYPE=static \
	LIBSECCOMP_LIB_PATH=/usr/lib/$(MULTIARCH) \
	$(CARGO) build --release --target $(HOST_TRIPLE) -p berth-runtime

fixtures:
	@rootfs-fixtures/busybox.sh > /dev/null

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Everything CI runs: unit tests, then the integration tests on the real
# kernel, with real peers (containerd, dockerd) driving berth-runtime.
test: build fixtures
	$(CARGO) test --workspace --lib --bins
	$(CARGO) test --workspace --doc
	BERTH_BUSYBOX_FIXTURE=$$(rootfs-fixtures/busybox.sh) $(CARGO) test -p runtime-tests -- --test-threads=4
	$(MAKE) release-smoke
	@if command -v qemu-system-x86_64 >/dev/null; then \
		$(MAKE) --no-print-directory test-vm; \
	else \
		echo "make test: no qemu-system-x86_64, skipping the cgroup v2 VM tests (make test-vm)"; \
	fi

# The runtime's tests again on a pure cgroup v2 kernel, in a qemu (TCG) VM
# over the host's root (runtime-tests/vm/README.md); peers are left out.
test-vm: build fixtures
	BERTH_BUSYBOX_FIXTURE=$$(rootfs-fixtures/busybox.sh) runtime-tests/vm/test-v2.sh

# The static release binary runs a container end to end.
release-smoke: release fixtures
	BERTH_RUNTIME_BIN=$(RELEASE_BIN) runtime-tests/demo.sh

unit-test:
	$(CARGO) test --workspace --lib --bins
	$(CARGO) test --workspace --doc

runtime-test: build fixtures
	BERTH_BUSYBOX_FIXTURE=$$(rootfs-fixtures/busybox.sh) $(CARGO) test -p runtime-tests -- --test-threads=4

# The main job for now: build everything and run a busybox container.
# Berth's main job: berthd, the berth CLI and the docker CLI running
# busybox containers (runtime-tests/daemon-demo.sh), then berth-runtime alone.
demo: build fixtures
	runtime-tests/daemon-demo.sh
	runtime-tests/demo.sh

# All benchmarks against the peers installed here, measured in the same
# run (docs/benchmarks.md): the runtime lifecycle, pulls, the daemon.
bench: release fixtures
	BENCH_BERTH_RUNTIME=$(RELEASE_BIN) BERTH_BUSYBOX_FIXTURE=$$(rootfs-fixtures/busybox.sh) runtime-tests/bench/runtime-bench.sh
	runtime-tests/bench/pull-bench.sh
	BERTH_BUSYBOX_FIXTURE=$$(rootfs-fixtures/busybox.sh) runtime-tests/bench/daemon-bench.sh

bench-pull:
	runtime-tests/bench/pull-bench.sh

bench-daemon: fixtures
	BERTH_BUSYBOX_FIXTURE=$$(rootfs-fixtures/busybox.sh) runtime-tests/bench/daemon-bench.sh

clean:
	$(CARGO) clean
