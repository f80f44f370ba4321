#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Style of all Rust sources, checked with the toolchain root's rustfmt and
# the kernel's settings: rustfmt --check of the module crate and the host
# tools (--fix reformats).  The lints, `// SAFETY:` comments on unsafe
# blocks and `# Safety` sections on unsafe functions included, are clippy's:
# every module build runs it (scripts/build-module.sh, CLIPPY=1).
. "$(dirname "$0")/lib.sh"
cd "$PS_TOP"

# rustfmt follows `mod` items, so the crate roots cover every file.
roots="rust/plugsched_main.rs rust/plugsched_core/lib.rs tools/plugsched/src/main.rs"
if [ "${1:-}" = "--fix" ]; then
	ps_in_root -C "$PS_TOP" "rustfmt $roots"
	exit
fi
if ps_in_root -C "$PS_TOP" "rustfmt --check $roots"; then
	echo "style: 1 passed, 0 failed, 0 skipped"
else
	echo "rustfmt: the files above need formatting (run: make fmt)"
	echo "style: 0 passed, 1 failed, 0 skipped"
	exit 1
fi
