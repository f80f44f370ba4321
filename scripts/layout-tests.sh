#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Negative build tests of the layout check (Documentation/boundary.rst,
# "Shared layouts").  Each tests-build/layout/NAME.patch alters a type the
# module shares with vmlinux.  It is applied on top of the scheduler
# sources the module build staged (scripts/build-module.sh test must have
# run: build/sched-stage/test.patched), and only the object NAME.expect
# names is compiled, by Kbuild with the module build's own flags (a single
# target; the whole module would take minutes).  `plugsched layout-check
# --partial` (one object does not define every listed type) must accept
# that object as the module build compiled it without the patch, and refuse
# it with the patch (exit 1, not a tool error), printing every `expect`
# line of NAME.expect.
# Prints "layout-negative-builds: N passed, N failed, N skipped".
. "$(dirname "$0")/lib.sh"

target=test
KDIR=$("$PS_TOP/scripts/kernel.sh" --kdir "$target")
stage=$PS_TOP/build/sched-stage/$target.patched
[ -e "$stage/Kbuild.sched" ] || ps_die "no staged scheduler in $stage (run scripts/build-module.sh $target first)"
extra=$(cat "$KDIR/plugsched.make-args" 2>/dev/null || true)
passed=0 failed=0

fail() {
	printf '    FAIL %s: %s\n' "$1" "$2"
	failed=$((failed + 1))
}

# check OBJECT: the layout check of one scheduler object.
check() {
	"$PS_TOP/scripts/host-tools.sh" layout-check --partial --config "$PS_TOP/boundary/linux-7.3.toml" \
		"$KDIR/vmlinux.unstripped" "$1"
}

# run_one PATCH: 0 if the check refuses the patched object as expected.
run_one() {
	local p=$1 name exp rel obj rc=0 line missing=0
	name=$(basename "$p" .patch)
	exp=${p%.patch}.expect
	rel=build/layout-tests/$name
	obj=$(sed -n 's/^object //p' "$exp" 2>/dev/null || true)
	[ -n "$obj" ] || { fail "$name" "no 'object' line in $(basename "$exp")"; return; }
	rm -rf "${PS_TOP:?}/$rel"
	mkdir -p "$PS_TOP/$rel"
	cp -a "$stage" "$PS_TOP/$rel/src"
	ps_in_root "patch -s -p1 --fuzz=0 --no-backup-if-mismatch -d $PS_TOP/$rel/src -i $p" ||
		{ fail "$name" "does not apply to the staged scheduler"; return; }
	ps_in_root -C "$PS_TOP" "make -C $KDIR M=$PS_TOP MO=$PS_TOP/$rel/out $extra PLUGSCHED_SCHED=$rel/src $rel/src/$obj" \
		>"$PS_TOP/$rel/build.log" 2>&1 || { tail -n 20 "$PS_TOP/$rel/build.log"; fail "$name" "$obj does not compile"; return; }
	check "$PS_TOP/build/$target/build/sched-src/$target/$obj" >"$PS_TOP/$rel/control.log" 2>&1 ||
		{ cat "$PS_TOP/$rel/control.log"; fail "$name" "the check refuses $obj even without the patch"; return; }
	check "$PS_TOP/$rel/out/$rel/src/$obj" >"$PS_TOP/$rel/check.log" 2>&1 || rc=$?
	sed 's/^/    | /' "$PS_TOP/$rel/check.log"
	[ "$rc" = 1 ] || { fail "$name" "layout-check exited with $rc, not 1 (refused)"; return; }
	while IFS= read -r line; do
		grep -qF -- "$line" "$PS_TOP/$rel/check.log" || { fail "$name" "not printed: $line"; missing=1; }
	done < <(sed -n 's/^expect //p' "$exp")
	[ "$missing" = 0 ] || return
	printf '    ok %s: refused, naming what differs\n' "$name"
	passed=$((passed + 1))
}

for p in "$PS_TOP"/tests-build/layout/*.patch; do
	ps_info "$(basename "$p")"
	run_one "$p"
done
echo "layout-negative-builds: $passed passed, $failed failed, 0 skipped"
[ "$failed" = 0 ]
