# SPDX-License-Identifier: GPL-2.0
# Scenario "demo": what `make demo` shows.  With a workload running
# (message-passing threads, a CPU hog, 1000 sleeping threads), loading
# plugsched.ko (`plugsched load`, the user's command) makes the module's scheduler live in one stop_machine (the
# downtime breakdown is printed), /proc/<pid>/sched shows the module's
# visible change, and unloading the module rolls back to the vmlinux
# scheduler.  The workload keeps running throughout.
. /lib/plugsched/ktap.sh

say() { echo "demo: $*"; }
show() { say "\$ $*"; "$@" 2>&1 | sed 's/^/demo:   /'; }
ko=/lib/modules/plugsched.ko
# The module's KUnit suites run at every load on a KUnit kernel; scenario
# "basic" runs them.
kf=/sys/module/kunit/parameters/filter_glob
[ -e $kf ] && echo not-in-the-demo >$kf

count() { cat "$1" 2>/dev/null || echo 0; }

say "running kernel $(uname -r) on $(grep -c ^processor /proc/cpuinfo) CPUs"
say "--- a workload: message passing, a CPU hog, 1000 sleeping threads ---"
mkdir -p /tmp/w
msgpass /tmp/w 2 4 5000 >/tmp/w/msgpass.out &
mp=$!
hog /tmp/w/hog >/tmp/w/hog.out &
hg=$!
threads 1000 >/tmp/w/threads.out &
th=$!
for i in $(seq 100); do
	[ -s /tmp/w/msgpass ] && [ -s /tmp/w/hog ] && grep -q ready /tmp/w/threads.out && break
	sleep 0.2
done
say "$(ls /proc | grep -c '^[0-9]') processes, $(cat /proc/loadavg | cut -d' ' -f4) runnable/total tasks"

say "--- upgrade: load the module ---"
show sh -c "grep plugsched /proc/self/sched || echo '(no plugsched line: vmlinux scheduler)'"
m0=$(count /tmp/w/msgpass)
show plugsched load $ko
dmesg | grep 'plugsched: upgrade:' | tail -n 2 | sed 's/^.*plugsched: /demo:   kernel: /'
say "--- the module's scheduler runs: its visible change ---"
show sh -c "grep plugsched /proc/self/sched"
sleep 2
m1=$(count /tmp/w/msgpass)
say "msgpass exchanged $((m1 - m0)) messages meanwhile; hog at $(count /tmp/w/hog)"

say "--- rollback: unload the module ---"
show plugsched unload
show plugsched status
dmesg | grep 'plugsched: rollback:' | tail -n 2 | sed 's/^.*plugsched: /demo:   kernel: /'
show sh -c "grep plugsched /proc/self/sched || echo '(no plugsched line: vmlinux scheduler)'"
sleep 1
m2=$(count /tmp/w/msgpass)

say "--- summary ---"
say "upgrade and rollback each in one stop_machine; the workload never stopped:"
say "  msgpass $m0 -> $m1 -> $m2 messages, $(ls /proc/$th/task | wc -l) tasks in the threads process"

ktap_suite plugsched_demo 5
ktap_case visible_change_gone sh -c '! grep -q plugsched /proc/self/sched'
ktap_case module_unloaded sh -c '! [ -e /sys/kernel/plugsched ]'
ktap_case workload_progressed sh -c "[ $m1 -gt $m0 ] && [ $m2 -gt $m1 ]"
ktap_case workload_alive sh -c "kill -0 $mp && kill -0 $hg && kill -0 $th"
ktap_case threads_kept sh -c "[ \$(ls /proc/$th/task | wc -l) = 1001 ]"
ktap_end
rc=$?
kill $mp $hg $th 2>/dev/null
wait 2>/dev/null
exit $rc
