# SPDX-License-Identifier: GPL-2.0
#
# plugsched-rs: live update of the Linux scheduler.
#
#   make demo      boot Debian's stock kernel, load plugsched.ko, show it, unload it
#   make test      every test (host, style, KUnit + scenarios in QEMU, stock kernel)
#   make bench     downtime of engine switches and of the whole-scheduler update, 100/1k/10k threads
#   make module    build plugsched.ko for TARGET (test, default; debian; arm64)
#   make kernel    build (or verify) the TARGET kernel tree and print KDIR
#
# TARGET=test|debian|arm64 selects the kernel; unset, each command takes its own
# default: Debian's stock kernel for demo (what users run; no kernel
# build), the test kernel otherwise.
#   make install   build the `plugsched` command and link it into $(PREFIX)/bin
#   make setup     create the toolchain root only
#   make fmt       rustfmt all Rust sources
#   make clean     remove module and host-tool build outputs
#
# Everything slow is cached under $(PLUGSCHED_CACHE) (default
# /var/cache/plugsched), outside the work tree.  The kernel's out-of-tree
# module build reads Kbuild, not this file.

export TARGET

PREFIX ?= /usr/local

.PHONY: all module kernel setup install test demo bench fmt clean

all: module

module:
	@scripts/build-module.sh $(TARGET)

kernel:
	@scripts/kernel.sh $(TARGET)

setup:
	@scripts/setup-root.sh

install:
	@scripts/setup-root.sh
	@mkdir -p $(PREFIX)/bin
	@ln -sf "$$(scripts/host-tools.sh --build)" $(PREFIX)/bin/plugsched
	@echo "$(PREFIX)/bin/plugsched -> $$(readlink $(PREFIX)/bin/plugsched)"

test:
	@scripts/test.sh

bench:
	@scripts/bench.sh

demo:
	@scripts/demo.sh

fmt:
	@scripts/check-style.sh --fix

clean:
	rm -rf build target
