#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the host tools (tools/plugsched) with the toolchain root's cargo and
# run `plugsched ARGS...` inside the root.  With --build, only build it and
# print its path ($PS_TOOL, statically linked: the same binary runs on the
# host, in the root and in the guests); with --test, run the host tests;
# with --clippy, clippy on them.
. "$(dirname "$0")/lib.sh"

cargo_env="CARGO_HOME=$PLUGSCHED_CACHE/cargo CARGO_TARGET_DIR=$PS_TOP/target/root"
# crates.io may be reached through a TLS proxy that only the host's
# certificate store knows: give the root's cargo the host's CA bundle.
ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
if [ -r "$ca" ]; then
	mkdir -p "$PLUGSCHED_CACHE/cargo"
	cmp -s "$ca" "$PLUGSCHED_CACHE/cargo/host-ca.crt" || cp "$ca" "$PLUGSCHED_CACHE/cargo/host-ca.crt"
	cargo_env="$cargo_env CARGO_HTTP_CAINFO=$PLUGSCHED_CACHE/cargo/host-ca.crt"
fi
if [ "${1:-}" = "--test" ]; then
	shift
	ps_in_root -C "$PS_TOP" "$cargo_env RUSTFLAGS='-D warnings' cargo test --locked --workspace $*"
	exit
fi
# --clippy: clippy on the host tools and the module's no_std core (with
# their tests), every warning an error.
if [ "${1:-}" = "--clippy" ]; then
	if ps_in_root -C "$PS_TOP" "$cargo_env cargo clippy --locked --workspace --all-targets -- -D warnings"; then
		echo "clippy: 1 passed, 0 failed, 0 skipped"
	else
		echo "clippy: 0 passed, 1 failed, 0 skipped"
		exit 1
	fi
	exit
fi
# --build-for aarch64: the same static binary for arm64 guests, cross-built
# with Debian's cross gcc as linker (and C compiler of the tree-sitter
# grammars), into build/bin/aarch64/plugsched.
if [ "${1:-}" = "--build-for" ]; then
	triple=$2-unknown-linux-gnu out=$PS_TOP/build/bin/$2/plugsched
	T=$(echo "$triple" | tr 'a-z-' 'A-Z_')
	ps_in_root -C "$PS_TOP" "$cargo_env CARGO_TARGET_${T}_LINKER=$2-linux-gnu-gcc-14 \
		CC_$(echo "$triple" | tr '-' '_')=$2-linux-gnu-gcc-14 \
		CARGO_TARGET_${T}_RUSTFLAGS='-C target-feature=+crt-static' \
		cargo build --locked --release --quiet -p plugsched --target $triple"
	built=$PS_TOP/target/root/$triple/release/plugsched
	cmp -s "$built" "$out" || install -D -m 755 "$built" "$out"
	echo "$out"
	exit
fi
triple=$(uname -m)-unknown-linux-gnu
static="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_RUSTFLAGS='-C target-feature=+crt-static'"
ps_in_root -C "$PS_TOP" "$cargo_env $static cargo build --locked --release --quiet -p plugsched --target $triple"
built=$PS_TOP/target/root/$triple/release/plugsched
cmp -s "$built" "$PS_TOOL" || install -D -m 755 "$built" "$PS_TOOL"
if [ "${1:-}" = "--build" ]; then
	echo "$PS_TOOL"
	exit
fi
args=$(printf '%q ' "$@")
ps_in_root "$PS_TOOL $args"
