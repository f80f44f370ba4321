# SPDX-License-Identifier: GPL-2.0
# Scenario "demo": what `make demo` shows.  Loads plugsched.ko, shows its
# state, unloads it.  The checks are the same as in "basic"; this script
# prints them for a human as it goes.
. /lib/plugsched/ktap.sh

say() { echo "demo: $*"; }
show() { say "\$ $*"; "$@" 2>&1 | sed 's/^/demo:   /'; }

say "running kernel $(uname -r) on $(grep -c ^processor /proc/cpuinfo) CPUs"
show insmod /lib/modules/plugsched.ko
show ls /sys/kernel/plugsched
show cat /sys/kernel/plugsched/state
show cat /sys/kernel/plugsched/kernel
show grep plugsched /proc/modules
show rmmod plugsched
say "after rmmod: /sys/kernel/plugsched $( [ -e /sys/kernel/plugsched ] && echo still present || echo removed)"

ktap_suite plugsched_demo 3
ktap_case state_was_idle_and_unloaded sh -c '! [ -e /sys/kernel/plugsched ]'
ktap_case reload insmod /lib/modules/plugsched.ko
ktap_case unload_again rmmod plugsched
ktap_end
