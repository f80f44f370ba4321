# SPDX-License-Identifier: GPL-2.0
# Scenario "safety": the switch under the conditions that used to break it
# (Documentation/live-update.rst, "Safety"), each checked from user space.
#
#  - plan_not_frozen_at_load: loaded with enable=0 while a patch site is
#    traced, the upgrade is refused; once the tracer is off it succeeds,
#    and the rollback restores the untouched text.
#  - kprobe_on_internal_function_refused: a kprobe on a function the module
#    makes unreachable (internal, not a patch site) refuses the upgrade,
#    naming the function.
#  - livepatch_refused: a livepatch of a redirected function (it makes
#    sched_get_priority_max(SCHED_FIFO) answer 77) refuses the upgrade,
#    naming it; once it is disabled and unloaded the upgrade goes through.
#  - kprobe_race: kprobe events are added, enabled and removed on two
#    redirected functions (try_to_wake_up, called from every wake-up, and
#    the fair class's pick_task_fair) in a loop while another loop writes
#    enable, until both did their share (RACE_ROUNDS writes,
#    RACE_PROBE_ROUNDS probe rounds); no splat (the console check), and a
#    truthful state at the end.  (__schedule is notrace: kprobe events
#    refuse it; KUnit puts kernel kprobes on it.)
#  - fifo_order_kept: two equal-priority SCHED_FIFO spinners pinned to one
#    CPU; the one that runs before each switch still runs after it, the
#    other never does.
#  - churn_no_refusals: detached threads created and exiting on every CPU
#    during CHURN_SWITCHES switches: every switch goes through, none is
#    refused by the runqueue clear.
#  - fair_lag_kept: CPU hogs in the root group and in two cgroups of
#    different cpu.weight, one with a CFS bandwidth limit (their tasks'
#    weights are shares of the group's load, recomputed as the rebuild
#    refills the queue; throttling grows lags beyond the limit a dequeue
#    keeps); over LAG_CYCLES
#    upgrade + rollback cycles, every switch gives each fair task back its
#    lag to within LAG_TOLERANCE_NS (the figure each switch logs: weighted
#    lag, in ns of a nice-0 task), and task-group tasks were among them.
. /lib/plugsched/ktap.sh

RACE_ROUNDS=200		# enable writes of kprobe_race, at least
RACE_PROBE_ROUNDS=20	# kprobe rounds meanwhile, at least
FIFO_CYCLES=10		# upgrade + rollback cycles of fifo_order_kept
CHURN_SWITCHES=50	# switches of churn_no_refusals
LAG_CYCLES=8		# upgrade + rollback cycles of fair_lag_kept
LAG_TOLERANCE_NS=100	# integer rounding of the placements, at most
TRACED=${SYS}sched_get_priority_max	# a redirected, traceable function
WAKE=try_to_wake_up			# a redirected function, every wake-up
FAIR=pick_task_fair			# a redirected fair-class method
INTERNAL=place_entity			# internal: not redirected, unreachable

ko=/lib/modules/plugsched.ko
d=/sys/kernel/plugsched
tr=/sys/kernel/tracing
W=/tmp/safety
rm -rf $W
mkdir -p $W
mount -t tracefs nodev $tr 2>/dev/null
# The module's KUnit suites expect the vmlinux scheduler live at load;
# scenario "basic" runs them.
kf=/sys/module/kunit/parameters/filter_glob
[ -e $kf ] && echo not-in-this-scenario >$kf

say() { echo "safety: $*"; }
state() { cat $d/state; }

# switch_to 1|0 [N]: write enable, retrying (1 s apart, N times, default
# 10) while busy.  TRIES = attempts.
switch_to() {
	TRIES=0
	while :; do
		TRIES=$((TRIES + 1))
		echo "$1" >$d/enable 2>/dev/null && return 0
		[ $TRIES -lt "${2:-10}" ] || return 1
		sleep 1
	done
}

kprobe_add() { echo "p:$1 $2" >>$tr/kprobe_events && echo 1 >$tr/events/kprobes/$1/enable; }
kprobe_del() { echo 0 >$tr/events/kprobes/$1/enable; echo "-:$1" >>$tr/kprobe_events; }

plan_not_frozen() {
	local h0 h1
	echo "$TRACED" >$tr/set_ftrace_filter && echo function >$tr/current_tracer || return 1
	insmod $ko enable=0 || { echo "insmod enable=0 failed while traced"; return 1; }
	if echo 1 >$d/enable 2>/dev/null; then
		echo "upgrade accepted while $TRACED is traced"
		return 1
	fi
	[ "$(state)" = off ] || { echo "state '$(state)' after a refused upgrade"; return 1; }
	echo nop >$tr/current_tracer && echo >$tr/set_ftrace_filter
	h0=$(cat $d/text_hash)
	switch_to 1 || { echo "upgrade refused once the tracer is off"; dmesg | tail -n 5; return 1; }
	[ "$(state)" = live ] || { echo "state '$(state)' after the upgrade"; return 1; }
	switch_to 0 || { echo "rollback refused"; return 1; }
	h1=$(cat $d/text_hash)
	echo "text_hash untraced $h0, after the rollback $h1"
	[ "$h0" = "$h1" ] && [ "$(state)" = off ]
}

internal_refused() {
	kprobe_add ps_internal $INTERNAL || { echo "cannot put a kprobe on $INTERNAL"; return 1; }
	dmesg -c >/dev/null
	if echo 1 >$d/enable 2>/dev/null; then
		echo "upgrade accepted with a kprobe on $INTERNAL"
		kprobe_del ps_internal
		switch_to 0
		return 1
	fi
	kprobe_del ps_internal
	dmesg | grep 'upgrade refused' | head -n 2
	dmesg | grep -q "upgrade refused: a \"kprobe\" .* in \"$INTERNAL\"" || return 1
	switch_to 1 && switch_to 0 && [ "$(state)" = off ]
}

# lp_wait: until the test livepatch finished its transition (up to 60 s).
lp_wait() {
	local i=0 t
	while [ $i -lt 600 ]; do
		t=$(cat /sys/kernel/livepatch/ps_livepatch/transition 2>/dev/null) || return 0
		[ "$t" = 0 ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "livepatch transition not done after 60 s"
	return 1
}

livepatch_refused() {
	local lp=/sys/kernel/livepatch/ps_livepatch p
	insmod /lib/modules/ps_livepatch.ko || { echo "cannot load the test livepatch"; return 1; }
	lp_wait || return 1
	p=$(prio)
	[ "$p" = "max=77 min=1" ] || { echo "livepatch not in effect: $p"; return 1; }
	dmesg -c >/dev/null
	if echo 1 >$d/enable 2>/dev/null; then
		echo "upgrade accepted while a livepatch covers $TRACED"
		switch_to 0
		return 1
	fi
	dmesg | grep 'upgrade refused' | head -n 2
	dmesg | grep -q "upgrade refused: a \"livepatch\" .* in \"$TRACED\"" || return 1
	echo 0 >$lp/enabled && lp_wait && rmmod ps_livepatch || { echo "cannot remove the test livepatch"; return 1; }
	[ "$(prio)" = "max=99 min=1" ] || { echo "livepatch still in effect: $(prio)"; return 1; }
	switch_to 1 && switch_to 0 && [ "$(state)" = off ]
}

# race_probes: until the enable loop is done, kprobes on WAKE and FAIR
# added, enabled, disabled and removed; W/probes.rounds counts the rounds.
race_probes() {
	local i=0
	while [ ! -e $W/toggles.done ]; do
		kprobe_add ps_wake $WAKE 2>/dev/null
		kprobe_add ps_fair $FAIR 2>/dev/null
		kprobe_del ps_fair 2>/dev/null
		kprobe_del ps_wake 2>/dev/null
		i=$((i + 1))
		echo $i >$W/probes.rounds
	done
}

kprobe_race() {
	local h0 i=0 ok=0 v rounds=0
	h0=$(cat $d/text_hash)
	echo 0 >$W/probes.rounds
	race_probes &
	while [ $i -lt $RACE_ROUNDS ] || [ "$rounds" -lt $RACE_PROBE_ROUNDS ]; do
		echo $((i % 2 == 0)) >$d/enable 2>/dev/null && ok=$((ok + 1))
		i=$((i + 1))
		rounds=$(cat $W/probes.rounds)
	done
	touch $W/toggles.done
	wait
	echo >$tr/kprobe_events
	echo "$i enable writes, $ok switched; $(cat $W/probes.rounds) rounds of kprobes"
	if [ "$(state)" = live ]; then
		switch_to 0 || { echo "final rollback refused"; return 1; }
	fi
	v=$(cat $d/enable)
	[ "$(state)" = off ] && [ "$v" = 0 ] || { echo "state '$(state)', enable '$v'"; return 1; }
	[ "$(cat $d/text_hash)" = "$h0" ] || { echo "text_hash $(cat $d/text_hash), not $h0"; return 1; }
	[ $ok -gt 0 ] || { echo "no switch went through"; return 1; }
	# The module still switches, both ways.
	switch_to 1 && switch_to 0
}

# fifo_running WHEN: over 0.5 s the second spinner ran and the first did not.
fifo_running() {
	local f0 s0 f1 s1
	f0=$(cat $W/first) s0=$(cat $W/second)
	sleep 0.5
	f1=$(cat $W/first) s1=$(cat $W/second)
	[ "$s1" -gt "$s0" ] && [ "$f1" = "$f0" ] && return 0
	echo "$1: first $f0 -> $f1, second $s0 -> $s1"
	return 1
}

fifo_order() {
	local c=1 pid bad=0 l
	fifopair $W 1 50 >$W/fifopair.out &
	pid=$!
	while ! grep -q ready $W/fifopair.out 2>/dev/null; do sleep 0.1; done
	sleep 0.3
	fifo_running "before any switch" || bad=1
	while [ $c -le $FIFO_CYCLES ] && [ $bad = 0 ]; do
		switch_to 1 || { echo "cycle $c: upgrade refused"; bad=1; }
		fifo_running "cycle $c, upgraded" || bad=1
		switch_to 0 || { echo "cycle $c: rollback refused"; bad=1; }
		fifo_running "cycle $c, rolled back" || bad=1
		c=$((c + 1))
	done
	read -r l <$W/fifopair.out
	kill -9 $pid ${l#ready }
	wait $pid 2>/dev/null
	echo "$((c - 1)) cycles, first $(cat $W/first), second $(cat $W/second)"
	[ $bad = 0 ]
}

churn_switches() {
	local pid n=0 tries=0 refused c0 c1
	dmesg -c >/dev/null
	churn $W/churn "$(nproc)" >$W/churn.out &
	pid=$!
	while ! grep -q ready $W/churn.out 2>/dev/null; do sleep 0.1; done
	sleep 0.5
	c0=$(cat $W/churn)
	while [ $n -lt $CHURN_SWITCHES ]; do
		# Tasks preempted inside the module's fork path refuse a rollback
		# now and then (the stack check; not what this case is about).
		switch_to $(((n + 1) % 2)) 30 || { echo "switch $n refused 30 times"; break; }
		tries=$((tries + TRIES))
		n=$((n + 1))
	done
	c1=$(cat $W/churn)
	killall -9 churn 2>/dev/null
	wait $pid 2>/dev/null
	[ "$(state)" = off ] || switch_to 0
	refused=$(dmesg | grep -c 'error .* in phase 1')
	echo "$n switches in $tries writes; $((c1 - c0)) threads created meanwhile; $refused refused by the runqueue clear"
	[ $n = $CHURN_SWITCHES ] && [ "$refused" = 0 ] && [ "$c1" -gt "$c0" ]
}

# lag_hog GROUP NAME: a CPU hog in cgroup GROUP (/ = the root group).
lag_hog() {
	sh -c "echo \$\$ >/sys/fs/cgroup$1/cgroup.procs && exec hog $W/$2" >/dev/null &
}

# lag_lines: the fair-state line of every switch since the last dmesg -c.
lag_lines() { dmesg | grep -o '[0-9]* fair tasks rebuilt.*lag moved by at most [0-9]* ns'; }

fair_lag() {
	local cg=/sys/fs/cgroup c=1 bad=0 n max grouped=0 l
	mount -t cgroup2 none $cg 2>/dev/null
	echo +cpu >$cg/cgroup.subtree_control
	mkdir -p $cg/lag1 $cg/lag2
	echo 100 >$cg/lag1/cpu.weight && echo 300 >$cg/lag2/cpu.weight || return 1
	# (Throttled now and then: lags grow beyond what a dequeue keeps.)
	echo "20000 100000" >$cg/lag1/cpu.max || return 1
	for n in 1 2 3; do lag_hog /lag1 l1h$n; done
	for n in 1 2; do lag_hog /lag2 l2h$n; lag_hog "" r$n; done
	sleep 1
	dmesg -c >/dev/null
	while [ $c -le $LAG_CYCLES ] && [ $bad = 0 ]; do
		switch_to 1 && switch_to 0 || { echo "cycle $c refused"; bad=1; }
		c=$((c + 1))
	done
	killall -9 hog 2>/dev/null
	wait
	rmdir $cg/lag1 $cg/lag2
	lag_lines | head -n 4
	n=$(lag_lines | wc -l)
	max=$(lag_lines | sed 's/.*most \([0-9]*\) ns/\1/' | sort -n | tail -n 1)
	for l in $(lag_lines | sed 's/.*(\([0-9]*\) in task groups.*/\1/'); do
		grouped=$((grouped + l))
	done
	echo "$n switches; largest lag change ${max:-none} ns; $grouped task-group tasks rebuilt"
	[ $bad = 0 ] && [ "$n" = $((2 * LAG_CYCLES)) ] && [ $grouped -gt 0 ] &&
		[ "${max:-$((LAG_TOLERANCE_NS + 1))}" -le $LAG_TOLERANCE_NS ]
}

ktap_suite plugsched_safety 8
ktap_case plan_not_frozen_at_load plan_not_frozen
ktap_case kprobe_on_internal_function_refused internal_refused
ktap_case livepatch_refused livepatch_refused
ktap_case kprobe_race kprobe_race
ktap_case fifo_order_kept fifo_order
ktap_case churn_no_refusals churn_switches
ktap_case fair_lag_kept fair_lag
ktap_case rmmod rmmod plugsched
ktap_end
