# The two set-up commands of the README: `make run` (the terminal) and `make test` (the tests).
# Each installs what is missing (system packages, .venv, the native build, the models) and is
# quick when nothing changed: stamps in .cache/stamps remember what was done.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
             command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
             && { command -v $$p; break; }; done)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMPS := .cache/stamps
NATIVE_SOURCES := $(shell find native models -type f 2>/dev/null) pyproject.toml
PYTEST_ARGS ?=
# pytest-xdist workers of `make test` (0: one process, as `python -m pytest` alone)
PYTEST_WORKERS ?= 2
RUN_ARGS ?=

.PHONY: help run test core-test bench doctor clean

help:
	@echo "make run    build everything needed and start the terminal (daka run)"
	@echo "make test   build everything needed and run the tests"

$(STAMPS)/system: scripts/install_system_deps.sh
	@mkdir -p $(STAMPS)
	bash scripts/install_system_deps.sh
	@touch $@

$(PY): $(STAMPS)/system
	@test -n "$(PYTHON)" || { echo "error: no Python >= 3.11 found" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@touch $@

# Build requirements live in the venv so that the editable install can reuse build/ and
# recompile only what changed (no build isolation).
$(STAMPS)/install: $(PY) $(NATIVE_SOURCES)
	$(PY) -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12" "setuptools<82" wheel
	$(PY) -m pip install -q --no-build-isolation -e .
	@touch $@

# The test extra (pinned test-only dependencies: clients and servers of the HR protocols, the
# browser driver, the fuzzer) is installed by `make test` only, never by `make run`.
$(STAMPS)/test-install: $(STAMPS)/install pyproject.toml
	$(PY) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["test"]))' > $(STAMPS)/test-requirements.txt
	$(PY) -m pip install -q -r $(STAMPS)/test-requirements.txt
	# The accuracy/speed baseline; --no-deps because it requires "dlib", which the dlib-bin
	# wheel of the test extra provides (never build dlib from source).
	$(PY) -m pip install -q --no-deps "face_recognition==1.3.0"
	@touch $@

$(STAMPS)/models: $(STAMPS)/install
	$(VENV)/bin/daka models install
	@touch $@

run: $(STAMPS)/models
	$(VENV)/bin/daka run $(RUN_ARGS)

# The tests' own system packages: PostgreSQL (store tests on both backends), Chromium and its
# driver (the admin's browser tests), shellcheck, debootstrap and sudo (visudo) (the installer's tests),
# qemu-user-static (the arm64 root's programs run under qemu: tests/arm64), rsync (the installer's build stamp in dry runs).
TEST_PACKAGES := postgresql chromium chromium-driver shellcheck debootstrap sudo qemu-user-static rsync
$(STAMPS)/test-system: scripts/install_system_deps.sh Makefile
	@mkdir -p $(STAMPS)
	bash scripts/install_system_deps.sh $(TEST_PACKAGES)
	@touch $@

# The node ZKTeco clients tests/zk/test_pull*.py read the terminal with (issue 19): the exact
# versions of tests/zk/node/package-lock.json, installed by npm ci (node is a system package).
NODE_TESTS := tests/zk/node
$(STAMPS)/test-node: $(NODE_TESTS)/package.json $(NODE_TESTS)/package-lock.json
	@mkdir -p $(STAMPS)
	cd $(NODE_TESTS) && npm ci --no-audit --no-fund
	@touch $@

# The C++ self-test of the core (native/tests/core_selftest.cpp): built in its own directory
# with AddressSanitizer and UndefinedBehaviorSanitizer (only the core's parts without dlib, so
# seconds once built) and run by CTest before the Python tests.
CORE_TEST_DIR := build/core-tests
core-test: $(STAMPS)/system
	cmake -S native -B $(CORE_TEST_DIR) -DCMAKE_BUILD_TYPE=Release -DDAKA_BUILD_CORE_TESTS=ON \
	  -DDAKA_SANITIZE=ON -DDAKA_NATIVE_ARCH=$${DAKA_NATIVE_ARCH:-ON} >/dev/null
	cmake --build $(CORE_TEST_DIR) --target core_selftest
	ctest --test-dir $(CORE_TEST_DIR) --output-on-failure

# pytest's exit code 5 (no tests collected) is a failure here, not a pass.
test: $(STAMPS)/models $(STAMPS)/test-install $(STAMPS)/test-system $(STAMPS)/test-node
	@$(MAKE) --no-print-directory core-test
	$(VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc
	@$(MAKE) --no-print-directory test-setup-chroot-if-changed
	@$(MAKE) --no-print-directory test-arm64-if-changed

# The installer's end-to-end run in a debootstrapped Debian (minutes) runs when the installer
# differs from the hash its last passing run recorded in tests/installer/setup_chroot.sha256 (committed),
# so a clean clone in CI runs it once after each change. SETUP_CHROOT=always|never overrides.
SETUP_CHROOT ?= auto
SETUP_FILES := scripts/flash_and_setup.sh scripts/install_system_deps.sh scripts/daka-set-time $(sort $(wildcard scripts/setup/*)) \
               tests/installer/test_setup_chroot.py tests/helpers/debian_roots.py
setup_hash = $$(sha256sum $(SETUP_FILES) | sha256sum | cut -c1-64)

.PHONY: test-setup-chroot test-setup-chroot-if-changed
test-setup-chroot-if-changed:
	@if [ "$(SETUP_CHROOT)" = never ]; then echo "setup chroot run: skipped (SETUP_CHROOT=never)"; \
	elif [ "$(SETUP_CHROOT)" != always ] && [ "$$(cat tests/installer/setup_chroot.sha256 2>/dev/null)" = "$(setup_hash)" ]; then \
	  echo "setup chroot run: the installer is as in its last passing run (tests/installer/setup_chroot.sha256)"; \
	else $(MAKE) --no-print-directory test-setup-chroot; fi

test-setup-chroot: $(STAMPS)/models $(STAMPS)/test-install $(STAMPS)/test-system
	$(VENV)/bin/python -m pytest -m chroot tests/installer/test_setup_chroot.py
	@echo "$(setup_hash)" > tests/installer/setup_chroot.sha256
	@echo "setup chroot run passed: recorded in tests/installer/setup_chroot.sha256 (commit it)"

# The product for arm64 under emulation (tests/arm64/test_arm64_root.py): a debootstrapped Debian 12
# arm64 root (cached outside the clone in $$DAKA_ARM64_CACHE, default /var/cache/daka-arm64), the
# installer run in it with the native build, then the core's self-test (NEON and scalar kernels),
# `daka doctor --json` and the faces and pipeline compared with this machine's. Tens of minutes under
# qemu, so `make test` runs it only when what it builds differs from the hash of its last passing
# run, tests/arm64/arm64_root.sha256 (committed). ARM64_ROOT=always|never overrides.
ARM64_ROOT ?= auto
ARM64_FILES = $(sort $(shell find native -type f) pyproject.toml scripts/flash_and_setup.sh scripts/install_system_deps.sh \
               scripts/daka-set-time $(wildcard scripts/setup/*) $(wildcard tests/arm64/*.py) tests/helpers/debian_roots.py)
arm64_hash = $$(sha256sum $(ARM64_FILES) | sha256sum | cut -c1-64)
# What the gate runs when the hash differs (tests/arm64/test_arm64_gate.py replaces it).
ARM64_TEST ?= $(MAKE) --no-print-directory test-arm64

.PHONY: test-arm64 test-arm64-if-changed arm64-hash
arm64-hash:
	@echo "$(arm64_hash)"

test-arm64-if-changed:
	@if [ "$(ARM64_ROOT)" = never ]; then echo "arm64 run: skipped (ARM64_ROOT=never)"; \
	elif [ "$(ARM64_ROOT)" != always ] && [ "$$(cat tests/arm64/arm64_root.sha256 2>/dev/null)" = "$(arm64_hash)" ]; then \
	  echo "arm64 run: native/, pyproject.toml and the installer are as in its last passing run (tests/arm64/arm64_root.sha256)"; \
	else $(ARM64_TEST); fi

test-arm64: $(STAMPS)/models $(STAMPS)/test-install $(STAMPS)/test-system
	@hash="$(arm64_hash)"; \
	$(VENV)/bin/python -m pytest -m chroot -p no:cacheprovider tests/arm64/test_arm64_root.py && \
	echo "$$hash" > tests/arm64/arm64_root.sha256 && \
	cat "$${DAKA_ARM64_CACHE:-/var/cache/daka-arm64}/last-run.txt" && \
	echo "arm64 run passed: recorded in tests/arm64/arm64_root.sha256 (commit it)"

bench: $(STAMPS)/models $(STAMPS)/test-install
	$(VENV)/bin/daka bench native

doctor: $(STAMPS)/install
	$(VENV)/bin/daka doctor

clean:
	rm -rf build $(STAMPS)
