# SPDX-License-Identifier: GPL-2.0
# Scenario "demo": what `make demo` shows.  Loads plugsched.ko, shows its
# state, then has the live-update engine redirect two system calls of the
# running kernel to module code and back (its self-test), with a user
# program showing what the kernel answers, and unloads the module.
. /lib/plugsched/ktap.sh

say() { echo "demo: $*"; }
show() { say "\$ $*"; "$@" 2>&1 | sed 's/^/demo:   /'; }
st=/sys/kernel/plugsched/selftest

say "running kernel $(uname -r) on $(grep -c ^processor /proc/cpuinfo) CPUs"
show insmod /lib/modules/plugsched.ko
show ls /sys/kernel/plugsched
show cat /sys/kernel/plugsched/state
show cat /sys/kernel/plugsched/kernel
say "--- live redirection of vmlinux code (engine self-test) ---"
show prio
show sh -c "echo apply > $st"
dmesg | grep 'selftest: redirected' | tail -n 1 | sed 's/^.*plugsched: /demo:   kernel: /'
show prio
show sh -c "echo revert > $st"
show prio
show rmmod plugsched
say "after rmmod: /sys/kernel/plugsched $( [ -e /sys/kernel/plugsched ] && echo still present || echo removed)"

ktap_suite plugsched_demo 4
ktap_case unloaded sh -c '! [ -e /sys/kernel/plugsched ]'
ktap_case old_code_back sh -c '[ "$(prio)" = "max=99 min=1" ]'
ktap_case reload insmod /lib/modules/plugsched.ko
ktap_case unload_again rmmod plugsched
ktap_end
