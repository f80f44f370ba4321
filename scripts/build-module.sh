#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build plugsched.ko for a target kernel (test or debian) into build/<target>/
# and print the path of the .ko.  Builds the target kernel tree first if it is
# not cached yet.  The module's scheduler is the extraction with the patches
# of sched-changes/ applied; with PLUGSCHED_SCHED_TREE=DIR, the development
# tree DIR of `plugsched dev` as it is.
. "$(dirname "$0")/lib.sh"

target=${1:-test}
KDIR=$("$PS_TOP/scripts/kernel.sh" "$target")
out=$PS_TOP/build/$target
mkdir -p "$out"
ps_phase "module[$target]: building plugsched.ko against $KDIR"
# Per-target make variables (e.g. Debian's compiler name and release), and
# the build ID of the target kernel (scripts/kernel.sh records it).
extra="$(cat "$KDIR/plugsched.make-args" 2>/dev/null || true) PLUGSCHED_BUILD_ID=$(cat "$KDIR/build-id")"
# The extracted scheduler goes into the module when the target tree has
# what the boundary analysis and the build-time checks read: a vmlinux with
# DWARF and machine code (our test kernel's vmlinux.unstripped; for
# Debian's stock kernel, the vmlinux of its -dbg package).
sched_args= sympos_args= vmlinux_dwarf=
for v in vmlinux.unstripped vmlinux.debug; do
	[ -e "$KDIR/$v" ] && vmlinux_dwarf=$KDIR/$v && break
done
[ -z "${PLUGSCHED_SCHED_TREE:-}" ] || [ -n "$vmlinux_dwarf" ] ||
	ps_die "the $target kernel tree has no vmlinux with DWARF: it cannot carry a scheduler change"
if [ -n "$vmlinux_dwarf" ]; then
	"$PS_TOP/scripts/host-tools.sh" --build >/dev/null
	if [ -n "${PLUGSCHED_SCHED_TREE:-}" ]; then
		# A development tree of `plugsched dev`, as it is (the user's edits;
		# `plugsched build` checked them against its extraction).
		src=$PLUGSCHED_SCHED_TREE
		ps_info "scheduler sources: the development tree $src"
	else
		stage=$("$PS_TOP/scripts/extract.sh" "$target")
		# The changes the module's scheduler carries (sched-changes/, one
		# patch per change, in order), applied to a fresh copy of the
		# extracted sources.
		src=$stage.patched
		rm -rf "$src"
		cp -a "$stage" "$src"
		for p in "$PS_TOP"/sched-changes/linux-7.3/*.patch; do
			[ -e "$p" ] || continue
			ps_in_root "patch -s -p1 --fuzz=0 --no-backup-if-mismatch -d $src -i $p" ||
				ps_die "scheduler change $(basename "$p") does not apply to the extracted sources"
			ps_info "scheduler change: $(basename "$p")"
		done
	fi
	# Only files that differ reach the build directory, so an unchanged
	# scheduler is not recompiled (nor, for a development tree, what it
	# has in common with the last build).
	rel=build/sched-src/$target
	(cd "$src" && find . -path ./.git -prune -o -type f ! -name plugsched.ko -print) | while read -r f; do
		cmp -s "$src/$f" "$PS_TOP/$rel/$f" && continue
		mkdir -p "$(dirname "$PS_TOP/$rel/$f")"
		cp "$src/$f" "$PS_TOP/$rel/$f"
	done
	sched_args="PLUGSCHED_SCHED=$rel PLUGSCHED_TOOL=$PS_TOOL"
	sympos_args="--sympos $PS_TOP/$rel/sympos"
fi
# (A module an earlier build rejected is stale now.)
rm -f "$out/plugsched.ko.rejected"
# modpost only warns about undefined symbols: klp-convert binds those that
# vmlinux defines without exporting, and fails naming any it cannot bind.
# The Rust code is compiled by clippy-driver (CLIPPY=1, as `make CLIPPY=1`
# does for the kernel's own crates), with the kernel's lint list: a clippy
# warning fails the build like a compiler warning.
# The module's BTF is split BTF against the target's vmlinux, as an in-tree
# module's: kbuild distills a base into out-of-tree modules (resolve_btfids
# --distill_base) so that their BTF can be relocated onto another kernel's
# at load, which this module never loads on (the build ID check).  The
# relocation was 0.14 s of the load (Documentation/live-update.rst).
btfids_flags=
grep -q '^CONFIG_WERROR=y' "$KDIR/.config" && btfids_flags=--fatal_warnings
build_ko() {
	ps_in_root -C "$PS_TOP" "make -C $KDIR M=$PS_TOP MO=$out $extra $sched_args CLIPPY=1 KBUILD_MODPOST_WARN=1 RESOLVE_BTFIDS_FLAGS=$btfids_flags modules" \
		>"$out/build.log" 2>&1 || {
		cat "$out/build.log" >&2
		ps_die "module build for $target failed"
	}
	grep -E '^ +((CLIPPY|RUSTC|CC|LD|BTF) \[M\]|BINDGEN )' "$out/build.log" | sed 's/^ */    /' >&2 || true
	# The module as linked, before klp-convert and strip change it in
	# place (below): what the safe-point analysis reads.  A build that did
	# not link it again left the copy of the last link.
	if has_dwarf "$out/plugsched.ko"; then
		cp "$out/plugsched.ko" "$out/plugsched.ko.linked"
	fi
}
# Whether a module still has its DWARF (just linked: not stripped yet).
has_dwarf() {
	ps_in_root "readelf -S $1" | grep '\.debug_info' >/dev/null
}
# The safe points of the module's own copies (Documentation/live-update.rst,
# "Safe points") are found in the module as linked and compiled into it
# (module-safepoints.c, offsets from each copy's start): a table that
# changed means a second build, whose analysis must give the same table.
sp=
if [ -n "$sched_args" ]; then
	sp=$PS_TOP/$rel/module-safepoints.c
	[ -e "$sp" ] || printf '%s\n' '/* No safe points yet: the first build. */' \
		'unsigned int plugsched_module_safepoint_count(void);' \
		'unsigned int plugsched_module_safepoint_count(void) { return 0; }' >"$sp"
fi
build_ko
if [ -n "$sp" ]; then
	spargs="--manifest $PS_TOP/$rel/manifest.json $out/plugsched.ko.linked $sp"
	rc=0
	"$PS_TOP/scripts/host-tools.sh" module-safepoints $spargs >"$out/safepoints.log" 2>&1 || rc=$?
	if [ "$rc" = 3 ]; then
		ps_info "$(tail -n 1 "$out/safepoints.log"); building again"
		build_ko
		rc=0
		"$PS_TOP/scripts/host-tools.sh" module-safepoints --check $spargs >"$out/safepoints.log" 2>&1 || rc=$?
	fi
	[ "$rc" = 0 ] || { cat "$out/safepoints.log" >&2; ps_die "safe points of the module's copies: analysis failed, or the table changed between builds"; }
	ps_info "$(tail -n 1 "$out/safepoints.log")"
fi
# (Printed when the scheduler's object was linked again.)
bound=$(grep -h '^bind-data: ' "$out/build.log" | tail -n 1 || true)
[ -z "$bound" ] || ps_info "$bound"
# Targets without CONFIG_WERROR (Debian's) would only warn: fail here too.
other=$( (grep -E 'WARNING: modpost:|warning: objtool:|^warning:' "$out/build.log" || true) |
	grep -vE "undefined!$|suppressed [0-9]+ unresolved symbol warnings" || true)
[ -z "$other" ] || { cat "$out/build.log" >&2; ps_die "compiler/modpost/objtool warnings (see above)"; }
[ -e "$out/plugsched.ko" ] || ps_die "no plugsched.ko produced"
if [ -n "$sched_args" ]; then
	# Types the module shares with vmlinux (struct rq, task_struct, ...)
	# must keep vmlinux's layout whatever sched-changes/ does: the DWARF of
	# the compiled scheduler objects against vmlinux's, before the module
	# is accepted (Documentation/boundary.rst, "Shared layouts").
	objs=$(sed -n 's/^plugsched-sched-parts := //p' "$PS_TOP/$rel/Kbuild.sched" |
		sed "s|\$(PLUGSCHED_SCHED)|$out/$rel|g")
	[ -n "$objs" ] || ps_die "no scheduler objects listed in $rel/Kbuild.sched"
	# The shims that mirror a scheduler type of a .c file (escape.c:
	# core.c's struct tick_work) are checked against vmlinux too.
	objs="$objs $out/c_shims/escape.o"
	"$PS_TOP/scripts/host-tools.sh" layout-check --config "$PS_TOP/boundary/linux-7.3.toml" \
		"$vmlinux_dwarf" $objs >"$out/layout.log" 2>&1 || {
		cat "$out/layout.log" >&2
		mv -f "$out/plugsched.ko" "$out/plugsched.ko.rejected"
		ps_die "the module's scheduler changes the layout of types it shares with vmlinux (module kept as plugsched.ko.rejected)"
	}
	ps_info "$(tail -n 1 "$out/layout.log")"
fi
"$PS_TOP/scripts/host-tools.sh" klp-convert --system-map "$KDIR/System.map" \
	--symvers "$KDIR/Module.symvers" $sympos_args "$out/plugsched.ko" >"$out/klp.log" 2>&1 ||
	{ cat "$out/klp.log" >&2; ps_die "plugsched.ko uses kernel symbols that cannot be bound (see above)"; }
ps_info "$(tail -n 1 "$out/klp.log")"
rm -f "$out/has-sched"
if [ -n "$sched_args" ]; then
	# The extracted scheduler is in, with every symbol local to it.
	ps_in_root "nm $out/plugsched.ko" >"$out/nm.txt"
	grep -qE ' t __cb_| T __plugsched_' "$out/nm.txt" || ps_die "plugsched.ko lacks the extracted scheduler"
	# Data shared with vmlinux must be vmlinux's: a module copy would be a
	# second, uninitialised scheduler state.
	copies=$(awk '$2 ~ /^[bBdDrR]$/ { n = $3; sub(/^__plugsched_/, "", n); print n }' "$out/nm.txt" |
		grep -Fxf "$PS_TOP/$rel/shared-vars" || true)
	[ -z "$copies" ] || ps_die "plugsched.ko defines variables it must share with vmlinux: $(echo $copies)"
	# The __schedule split: the module's __schedule must agree with
	# vmlinux's at the context switch, or the module is not built.
	"$PS_TOP/scripts/host-tools.sh" springboard-check "$vmlinux_dwarf" "$out/plugsched.ko" \
		>"$out/springboard.log" 2>&1 || { cat "$out/springboard.log" >&2; mv -f "$out/plugsched.ko" "$out/plugsched.ko.rejected"; ps_die "__schedule split check failed (module kept as plugsched.ko.rejected)"; }
	ps_info "$(tail -n 1 "$out/springboard.log")"
	touch "$out/has-sched"
fi
# The module loads without its DWARF, as distributions install modules
# (INSTALL_MOD_STRIP): the kernel reads, and with module signing hashes,
# the whole file; with DWARF it is 6 times larger (issue #12, the load
# time).  The DWARF stays in plugsched.ko.debug, for gdb and crash.  The
# assembler's local labels (.Ltmp*, about 170) go too: kallsyms never
# names an address after them, but scans them, and ftrace looks up each
# of the module's functions in its whole symbol table at load.  After a
# build that did not link the module again it is stripped already.
if has_dwarf "$out/plugsched.ko"; then
	# binutils' strip for the target (llvm-strip 19 refuses the klp
	# symbols' SHN_LIVEPATCH section index).
	strip=$(ps_arch "$target")-linux-gnu-strip
	cp "$out/plugsched.ko" "$out/plugsched.ko.debug"
	ps_in_root "$strip --strip-debug --discard-locals $out/plugsched.ko" ||
		ps_die "cannot strip the DWARF of plugsched.ko"
	# The names of the statics each assertion of the Rust KUnit macros
	# defines (rust/kernel/kunit.rs: FILE, LINE, CONDITION, LOCATION,
	# ASSERTION; read-only data the failure report reaches by address, 725
	# symbols on the test kernel, more than a fifth of the named ones)
	# go too: each costs every one of ftrace's look-ups at load.  Only a
	# KUnit kernel's module has them.  Relocations reach them through
	# their section; objcopy refuses (and fails) to drop a symbol that a
	# relocation names.
	ps_in_root "nm $out/plugsched.ko" |
		awk '$2 == "r" && $3 ~ /^_R.*[^0-9](4FILE|4LINE|9CONDITION|8LOCATION|9ASSERTION)$/ { print $3 }' \
		>"$out/kunit-statics.txt"
	if [ -s "$out/kunit-statics.txt" ]; then
		objcopy=$(ps_arch "$target")-linux-gnu-objcopy
		ps_in_root "$objcopy --strip-symbols=$out/kunit-statics.txt $out/plugsched.ko" ||
			ps_die "cannot drop the KUnit assertion statics' names from plugsched.ko"
	fi
fi
ps_info "$(ls -l "$out/plugsched.ko" | awk '{print $5}') bytes: $out/plugsched.ko (DWARF in plugsched.ko.debug)"
echo "$out/plugsched.ko"
