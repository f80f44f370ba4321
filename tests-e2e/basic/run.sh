# SPDX-License-Identifier: GPL-2.0
# Scenario "basic": load plugsched.ko (its KUnit suites run at load on a
# KUnit kernel), check its sysfs interface from user space, unload it, and
# check that nothing is left behind.  Runs on every target.
. /lib/plugsched/ktap.sh

running=$(uname -r)
taint_before=$(cat /proc/sys/kernel/tainted)

ktap_suite plugsched_basic 8
ktap_case insmod insmod /lib/modules/plugsched.ko enable=0
ktap_case module_listed grep -q '^plugsched ' /proc/modules
ktap_case sysfs_state_off sh -c '[ "$(cat /sys/kernel/plugsched/state)" = off ] && [ "$(cat /sys/kernel/plugsched/enable)" = 0 ]'
ktap_case sysfs_kernel_release sh -c "[ \"\$(cat /sys/kernel/plugsched/built_for_release)\" = '$running' ] &&
	[ \"\$(cat /sys/kernel/plugsched/running_release)\" = '$running' ] &&
	[ \$(wc -l </sys/kernel/plugsched/built_for_build_id) = 1 ]"
# The kernel took the module's BTF (split BTF against this vmlinux's).
ktap_case btf_accepted sh -c '[ ! -e /sys/kernel/btf/vmlinux ] || [ -e /sys/kernel/btf/plugsched ]'
ktap_case rmmod rmmod plugsched
ktap_case sysfs_removed sh -c '! [ -e /sys/kernel/plugsched ] && ! grep -q "^plugsched " /proc/modules'
# Loading an out-of-tree module sets taint O (bit 12) and nothing else
# beyond what the boot already had, except E (bit 13, unsigned module) and
# N (bit 18, KUnit tests ran) where they apply.
ktap_case taint_only_expected sh -c "t=\$(cat /proc/sys/kernel/tainted); \
	extra=\$(( t & ~$taint_before & ~((1<<12)|(1<<13)|(1<<18)) )); \
	echo tainted before=$taint_before after=\$t; [ \$((t & (1<<12))) != 0 ] && [ \$extra = 0 ]"
ktap_end
