#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Style rules for all Rust sources, checked with the toolchain root's rustfmt:
#   - rustfmt --check (module crate and host tools; --fix reformats)
#   - every `unsafe {` block is preceded by a `// SAFETY:` comment
#   - every `unsafe fn` has a `/// # Safety` section
. "$(dirname "$0")/lib.sh"
cd "$PS_TOP"

files=$(git ls-files '*.rs' 2>/dev/null || find rust tests-kunit tools -name '*.rs')
# rustfmt follows `mod` items, so the crate roots cover every file.
roots="rust/plugsched_main.rs rust/plugsched_core/lib.rs tools/plugsched/src/main.rs"
pass=0 fail=0
if [ "${1:-}" = "--fix" ]; then
	ps_in_root -C "$PS_TOP" "rustfmt $roots"
	exit
fi
if ps_in_root -C "$PS_TOP" "rustfmt --check $roots"; then
	pass=$((pass + 1))
else
	echo "rustfmt: the files above need formatting (run: make fmt)"
	fail=$((fail + 1))
fi

# An unsafe block needs "// SAFETY:" in the comment lines right above it (or
# on the same line); an unsafe fn needs "# Safety" in its doc comment.
bad=$(awk '
	FNR == 1 { n = 0 }
	{
		line[FNR] = $0
		if ($0 ~ /(^|[^_[:alnum:]])unsafe[[:space:]]*\{/ && $0 !~ /^[[:space:]]*\/\//) {
			ok = ($0 ~ /SAFETY:/)
			for (i = FNR - 1; i > 0 && !ok && line[i] ~ /^[[:space:]]*(\/\/|let |[^;{}]*=[[:space:]]*$|$)/; i--)
				if (line[i] ~ /\/\/ SAFETY:/) ok = 1
			if (!ok) printf "%s:%d: unsafe block without // SAFETY: comment\n", FILENAME, FNR
		}
		if ($0 ~ /unsafe (extern "C" )?fn / && $0 !~ /^[[:space:]]*\/\//) {
			ok = 0
			for (i = FNR - 1; i > 0 && line[i] ~ /^[[:space:]]*(\/\/\/|#\[)/; i--)
				if (line[i] ~ /# Safety/) ok = 1
			if (!ok) printf "%s:%d: unsafe fn without /// # Safety section\n", FILENAME, FNR
		}
	}' $files)
if [ -n "$bad" ]; then
	echo "$bad"
	fail=$((fail + 1))
else
	pass=$((pass + 1))
fi
echo "style: $pass passed, $fail failed, 0 skipped"
[ "$fail" = 0 ]
