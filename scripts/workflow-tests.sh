#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The scheduler developer's workflow, as a user runs it, for one target:
#
#   1. `plugsched dev` makes a development tree (extraction + the project's
#      sched-changes/ as commits); `plugsched export` gives those patches
#      back unchanged;
#   2. edits that cannot take effect are refused by `plugsched build`
#      naming the function, variable or type (one edit at a time, on the
#      real extracted sources; nothing is compiled);
#   3. every example of examples/ (a patch series and a scenario) is
#      applied with `git am`, built with `plugsched build`, and its
#      scenario run in QEMU with that module: load, the new behaviour,
#      unload, the old behaviour.
#
#   scripts/workflow-tests.sh [TARGET] [EXAMPLE...]
#
# Prints "LABEL: N passed, N failed, N skipped" lines (scripts/test.sh).
. "$(dirname "$0")/lib.sh"

target=${1:-test}
shift || true
tool=$("$PS_TOP/scripts/host-tools.sh" --build)
tree=$PS_TOP/build/examples/$target-tree
rm -rf "$tree"
mkdir -p "$(dirname "$tree")"
ps_phase "workflow[$target]: plugsched dev"
"$tool" dev --target "$target" --project "$PS_TOP" "$tree" >&2 ||
	{ echo "workflow-dev: 0 passed, 1 failed, 0 skipped"; exit 1; }
head=$(git -C "$tree" rev-parse HEAD)

# --- 1. export gives back the project's patches ---------------------------------
exported=$(mktemp -d)
trap 'rm -rf "$exported"' EXIT
"$tool" export --output "$exported" "$tree" >/dev/null
mapfile -t mine < <(ls "$PS_TOP"/sched-changes/linux-7.3/*.patch)
mapfile -t back < <(ls "$exported"/*.patch 2>/dev/null)
ok=1
[ ${#mine[@]} = ${#back[@]} ] || ok=0
# (The same changes: the diff lines agree; headers and context may not.)
changed_lines() { grep -E '^[-+]([^-+]|$)' "$1"; }
for i in "${!mine[@]}"; do
	if [ -z "${back[$i]:-}" ] || ! diff <(changed_lines "${mine[$i]}") <(changed_lines "${back[$i]}") >/dev/null; then
		ps_info "export: $(basename "${mine[$i]}") did not come back unchanged"
		ok=0
	fi
done
echo "workflow-dev-export: $ok passed, $((1 - ok)) failed, 0 skipped"
rc=$((1 - ok))

# --- 2. refused edits ------------------------------------------------------------
# refuse LABEL FILE EXPECTED SED-SCRIPT: the edit must be refused with an
# error naming EXPECTED (`FILE: what`).
passed=0 failed=0
refuse() {
	local label=$1 file=$2 expect=$3 script=$4 out rc=0
	git -C "$tree" reset -q --hard "$head"
	sed -i "$script" "$tree/$file"
	if git -C "$tree" diff --quiet; then
		ps_info "refused edit $label: the edit did not apply to $file"
		failed=$((failed + 1))
		return
	fi
	out=$("$tool" build --check-only "$tree" 2>&1) || rc=$?
	if [ "$rc" = 1 ] && grep -qF "error: $tree/$file: $expect:" <<<"$out"; then
		passed=$((passed + 1))
	else
		ps_info "refused edit $label: exit $rc, expected an error for $file: $expect; got:"
		echo "$out" | sed 's/^/      /' >&2
		failed=$((failed + 1))
	fi
}
ps_phase "workflow[$target]: edits that cannot take effect"
refuse external kernel/sched/fair.c "function entity_eligible" \
	's|^int entity_eligible(struct cfs_rq \*cfs_rq, struct sched_entity \*se);.*$|int entity_eligible(struct cfs_rq *cfs_rq, struct sched_entity *se)\n{\n\treturn 1;\n}|'
refuse shared-variable kernel/sched/fair.c "variable sysctl_sched_base_slice" \
	's|^extern unsigned int sysctl_sched_base_slice;.*$|unsigned int sysctl_sched_base_slice = 3000000;|'
refuse shared-struct kernel/sched/sched.h "struct rq" \
	'/^struct rq {$/a\\tunsigned long plugsched_extra;'
refuse interface-signature kernel/sched/syscalls.c "function set_user_nice" \
	's|^void set_user_nice(struct task_struct \*p, long nice)$|void set_user_nice(struct task_struct *p, int nice)|'
refuse generated-file boundary.json "file" 's|"internal"|"external"|'
git -C "$tree" reset -q --hard "$head"
# And the unmodified tree is accepted.
if "$tool" build --check-only "$tree" >/dev/null 2>&1; then
	passed=$((passed + 1))
else
	ps_info "the unmodified development tree was refused"
	failed=$((failed + 1))
fi
echo "workflow-refused-edits: $passed passed, $failed failed, 0 skipped"
[ "$failed" = 0 ] || rc=1

# --- 3. the examples ---------------------------------------------------------------
examples=("$@")
[ ${#examples[@]} -gt 0 ] || examples=($(cd "$PS_TOP/examples" && ls -d */ | tr -d /))
for name in "${examples[@]}"; do
	ex=$PS_TOP/examples/$name
	ko=$PS_TOP/build/$target/examples/$name.ko
	mkdir -p "$(dirname "$ko")"
	rm -f "$ko"
	ps_phase "workflow[$target]: example $name: git am, plugsched build"
	git -C "$tree" reset -q --hard "$head"
	if ! git -C "$tree" am -q "$ex"/*.patch >&2 || ! "$tool" build --output "$ko" "$tree" >&2; then
		git -C "$tree" am --abort 2>/dev/null || true
		echo "example-$name-build: 0 passed, 1 failed, 0 skipped"
		rc=1
		continue
	fi
	echo "example-$name-build: 1 passed, 0 failed, 0 skipped"
	"$PS_TOP/scripts/qemu-run.sh" --target "$target" --module "$ko" --timeout 900 "$ex" || rc=1
done
exit $rc
