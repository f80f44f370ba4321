# SPDX-License-Identifier: GPL-2.0
# Scenario "natural": what a user does on the KUnit test kernel, with no
# KUnit filter set.  A plain `insmod plugsched.ko` upgrades at load
# (enable defaults to 1), then the module's KUnit suites run against the
# live module scheduler: the tests that need the vmlinux scheduler skip,
# naming why, the others run, none fails.  `rmmod` rolls back and must
# return (a watchdog fails the case instead of hanging the run), the
# module is gone, and a fresh load finds the text at the patch sites as
# the rollback restored it.
. /lib/plugsched/ktap.sh

ko=/lib/modules/plugsched.ko
d=/sys/kernel/plugsched
RMMOD_WAIT=120	# seconds rmmod may take (rollback retries included)
SKIPPED='# SKIP the module scheduler is live'

# kunit_result TEST: the KTAP result line of the KUnit test TEST (dmesg).
kunit_result() {
	dmesg | sed 's/^\[[^]]*\] *//' | grep -E "^(not )?ok [0-9]+ $1( #|\$)" | tail -n 1
}

# skipped_live TEST...: each TEST was skipped because the module's
# scheduler is live.
skipped_live() {
	local t r rc=0
	for t in "$@"; do
		r=$(kunit_result "$t")
		echo "$t: ${r:-no result}"
		case $r in "ok "*" $t $SKIPPED"*) ;; *) rc=1 ;; esac
	done
	return $rc
}

# passed TEST...: each TEST ran and passed (not skipped).
passed() {
	local t r rc=0
	for t in "$@"; do
		r=$(kunit_result "$t")
		echo "$t: ${r:-no result}"
		case $r in "ok "*" $t") ;; *) rc=1 ;; esac
	done
	return $rc
}

# rmmod_returns: rmmod plugsched, in the background: after RMMOD_WAIT
# seconds without an answer the case fails (rmmod would wait in the kernel
# for ever if the rollback stayed refused).
rmmod_returns() {
	local pid i=0
	rmmod plugsched >/tmp/rmmod.out 2>&1 &
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt $((RMMOD_WAIT * 10)) ]; then
			echo "rmmod has not returned after $RMMOD_WAIT s"
			dmesg | grep 'plugsched' | tail -n 5
			return 1
		fi
		sleep 0.1
	done
	cat /tmp/rmmod.out
	wait $pid
}

# restored_hash: the text hash the last rollback restored (kernel log).
restored_hash() {
	dmesg | sed -n 's/.*rollback: vmlinux scheduler live, text restored (hash \([0-9a-f]*\)).*/\1/p' |
		tail -n 1
}

# fresh_load_sees_restored_text: loaded again (enable=0, KUnit filtered
# out: the suites ran above), text_hash is the hash the rollback restored,
# which the module checked against the untouched text of the first load.
fresh_load_sees_restored_text() {
	local want h
	want=$(restored_hash)
	echo not-in-this-scenario >/sys/module/kunit/parameters/filter_glob
	insmod "$ko" enable=0 || return 1
	h=$(cat $d/text_hash)
	rmmod plugsched || return 1
	echo "rollback restored '$want', a fresh load finds '$h'"
	[ -n "$want" ] && [ "$h" = "$want" ]
}

ktap_suite plugsched_natural 8
ktap_case insmod_without_parameters insmod "$ko"
ktap_case module_scheduler_live sh -c "[ \"\$(cat $d/state)\" = live ] && [ \"\$(cat $d/enable)\" = 1 ]"
# Tests that switch schedulers or patch the sites the live scheduler owns.
ktap_case kunit_skips_name_the_reason skipped_live upgrade_then_rollback \
	failures_after_the_clear_rebuild_with_the_old_code kprobed_function_is_refused \
	redirect_and_revert_syscalls
# Tests that hold in either state.
ktap_case kunit_checks_ran_while_live passed patch_site_is_after_landing_pad \
	state_node_shows_the_state build_id_is_checked non_exported_function_is_callable
ktap_case rmmod_returns rmmod_returns
ktap_case module_gone sh -c "! [ -e $d ] && ! grep -q '^plugsched ' /proc/modules"
ktap_case rollback_restored_text sh -c "dmesg | grep 'plugsched: rollback: vmlinux scheduler live, text restored'"
ktap_case fresh_load_sees_restored_text fresh_load_sees_restored_text
ktap_end
