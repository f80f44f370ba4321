# SPDX-License-Identifier: GPL-2.0
# Scenario "getthrough": whole-scheduler switches under load (issue #12,
# "getting through").  200 threads call sched_yield() in a loop and 200
# threads (100 pairs) wake each other through pipes, at nice 19, on the
# 2-vCPU guest; then K upgrade/rollback cycles through
# /sys/kernel/plugsched/enable (K: GETTHROUGH_CYCLES on the kernel command
# line; 4 in `make test`, 20 in `make bench`).  The module retries a switch
# refused for busy tasks itself (10 attempts, 20 ms apart) and publishes
# the attempts it made in last_attempts; a write failing with EBUSY is
# written again here, so the cycles go on.  A switch succeeds at the first
# attempt when its first write succeeded with last_attempts 1.  Prints
#   getthrough: upgrade first-attempt U/K, rollback R/K, most attempts A; safe points S in vmlinux, M in the module's copies
# and the functions the refused attempts found tasks in, into the kernel
# log (the console log of the run).  Checks that
# every switch succeeds, that every rollback restores the text (text_hash)
# and leaves no pointer into the module, that the load survives, and that
# rmmod under the load (tasks may still be at safe points of the module's
# copies: the unload waits until none is) returns.  No rate is asserted
# unless GETTHROUGH_MIN_PCT is given (a percentage).
. /lib/plugsched/ktap.sh

ko=/lib/modules/plugsched.ko
d=/sys/kernel/plugsched
K=${GETTHROUGH_CYCLES:-4}
N=${GETTHROUGH_THREADS:-200}	# yielders, and ping-pong threads
MIN_PCT=${GETTHROUGH_MIN_PCT:-}
TRIES=50	# writes per switch before giving up

# switch_to V: write V to enable until it succeeds; prints the attempts the
# module made in all (10 per failed write); fails after TRIES writes.
switch_to() {
	local w=0
	while :; do
		w=$((w + 1))
		if echo "$1" >$d/enable 2>/dev/null; then
			echo $(((w - 1) * 10 + $(cat $d/last_attempts)))
			return 0
		fi
		[ $w -lt $TRIES ] || return 1
		sleep 0.1
	done
}

# log MSG: MSG in the kernel log (progress, with the kernel's timestamps).
log() {
	echo "getthrough: $*" >/dev/kmsg
}

threads_alive() {
	[ "$(ls /proc/$(cat /tmp/yielder.pid)/task | wc -l)" -gt $N ] &&
		[ "$(ls /proc/$(cat /tmp/pingpong.pid)/task | wc -l)" -gt $N ]
}

cycles() {
	local k a up=0 down=0 most=0 h0
	h0=$(cat $d/text_hash)
	for k in $(seq 1 $K); do
		log "cycle $k"
		a=$(switch_to 1) || { echo "upgrade $k: no success after $TRIES writes"; return 1; }
		[ "$a" = 1 ] && up=$((up + 1))
		[ "$a" -gt "$most" ] && most=$a
		[ "$(cat $d/state)" = live ] || { echo "upgrade $k: state $(cat $d/state)"; return 1; }
		a=$(switch_to 0) || { echo "rollback $k: no success after $TRIES writes"; return 1; }
		[ "$a" = 1 ] && down=$((down + 1))
		[ "$a" -gt "$most" ] && most=$a
		[ "$(cat $d/text_hash)" = "$h0" ] || { echo "rollback $k: text_hash $(cat $d/text_hash), untouched $h0"; return 1; }
		[ "$(cat $d/module_pointers)" = 0 ] || { echo "rollback $k: module_pointers $(cat $d/module_pointers)"; return 1; }
		threads_alive || { echo "cycle $k: load threads gone"; return 1; }
	done
	echo "$up $down" >/tmp/firsts
	{
		echo "upgrade first-attempt $up/$K, rollback $down/$K, most attempts $most; safe points $(cat $d/safe_points) in vmlinux, $(cat $d/module_safe_points) in the module's copies"
		echo "busy frames found by refused attempts (count, function, command):"
		dmesg | sed -n 's/.*plugsched: task [0-9]* (\([^)]*\)) is in "\([^"]*\)" at.*/\2 \1/p' |
			sort | uniq -c | sort -rn | head -n 10
		dmesg | grep -c 'stack cannot be walked reliably' | sed 's/^/unreliable stacks: /'
	} | while IFS= read -r l; do log "$l"; done
}

# With GETTHROUGH_MIN_PCT: both first-attempt rates at least that.
rates() {
	[ -n "$MIN_PCT" ] || { echo "no rate asserted"; return 0; }
	set -- $(cat /tmp/firsts)
	[ $(($1 * 100)) -ge $((MIN_PCT * K)) ] && [ $(($2 * 100)) -ge $((MIN_PCT * K)) ]
}

# The load runs at nice 19 (its stacks are what matters): the shell that
# drives the switches gets the CPU when it needs it, even under TCG.
load() {
	local i
	yielder $N 19 >/tmp/yielder.out 2>&1 &
	echo $! >/tmp/yielder.pid
	pingpong $N 19 >/tmp/pingpong.out 2>&1 &
	echo $! >/tmp/pingpong.pid
	log "load started"
	# (Under TCG, creating 400 nice-19 threads among the running ones
	# takes seconds: wait until both programs say all their threads run.)
	for i in $(seq 1 240); do
		grep -q threads /tmp/yielder.out && grep -q threads /tmp/pingpong.out && break
		sleep 0.5
	done
	cat /tmp/yielder.out /tmp/pingpong.out
	log "load running"
	threads_alive
}

# rmmod under the load; the unload waits while tasks may return into the
# module's code (a rollback let them stay at its safe points).
unload() {
	local t0 t1
	t0=$(date +%s)
	rmmod plugsched || return 1
	t1=$(date +%s)
	log "rmmod under load: $((t1 - t0)) s"
	dmesg | grep -E 'plugsched: unload' | tail -n 3
	[ ! -e $d ]
}

ktap_suite plugsched_getthrough 8
# The KUnit suites are not this scenario's.
echo not-in-this-scenario >/sys/module/kunit/parameters/filter_glob 2>/dev/null || true
ktap_case insmod insmod "$ko" enable=0
ktap_case load_running load
ktap_case all_switches_succeed cycles
ktap_case first_attempt_rates rates
ktap_case rmmod_under_load unload
ktap_case load_survived threads_alive
ktap_case stop_load sh -c "kill \$(cat /tmp/yielder.pid) \$(cat /tmp/pingpong.pid)"
ktap_case no_module_left sh -c "! grep -q '^plugsched ' /proc/modules"
ktap_end
