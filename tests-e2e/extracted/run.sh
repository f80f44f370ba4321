# SPDX-License-Identifier: GPL-2.0
# Scenario "extracted": the scheduler extracted from the running kernel by
# `plugsched init` (plugsched_sched.ko) loads: every one of the kernel
# symbols it uses is bound by the module loader through klp relocations.
# Nothing in it runs yet; the kernel keeps working and it unloads cleanly.
. /lib/plugsched/ktap.sh
ko=/lib/modules/plugsched_sched.ko

ktap_suite plugsched_extracted 5
ktap_case module_present test -s "$ko"
ktap_case insmod_binds_all_symbols insmod "$ko"
ktap_case listed grep -q '^plugsched_sched ' /proc/modules
ktap_case system_still_schedules sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 0.01 & done; wait; prio >/dev/null'
ktap_case rmmod rmmod plugsched_sched
ktap_end
