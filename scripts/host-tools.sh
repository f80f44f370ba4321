#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the host tools (tools/plugsched) with the toolchain root's cargo and
# run `plugsched ARGS...` inside the root.  With --test, run the host tests.
. "$(dirname "$0")/lib.sh"

cargo_env="CARGO_HOME=$PLUGSCHED_CACHE/cargo CARGO_TARGET_DIR=$PS_TOP/target/root"
if [ "${1:-}" = "--test" ]; then
	shift
	ps_in_root -C "$PS_TOP" "$cargo_env RUSTFLAGS='-D warnings' cargo test --locked --workspace $*"
	exit
fi
ps_in_root -C "$PS_TOP" "$cargo_env cargo build --locked --release --quiet -p plugsched"
args=$(printf '%q ' "$@")
ps_in_root "$PS_TOP/target/root/release/plugsched $args"
