# SPDX-License-Identifier: GPL-2.0
# Scenario "live": live update of the whole scheduler under load.  A mixed
# workload runs throughout: hackbench-like message passing between threads
# (msgpass), two CPU hogs in a cgroup v2 capped at 20% of a CPU by CFS
# bandwidth control (hog), a periodic SCHED_FIFO task (fifo), 1000
# sleeping threads (threads) and a task that forks all the time (forker).
# The module's scheduler is made live and rolled back CYCLES times, odd
# cycles through /sys/kernel/plugsched/enable (module stays loaded), even
# cycles by insmod (upgrades at load) and rmmod (rolls back, unloads).
# Every switch must succeed and be visible in /proc/PID/sched, every
# rollback must restore the kernel text at the patch sites (text_hash) and
# leave no pointer into the module (module_pointers); every workload task
# must survive and keep progressing, keep its policy and its cgroup, and
# the bandwidth limit must still hold.  The module is unloaded at the end.
# One KTAP case per kind of check, over all cycles; a line per cycle and
# the downtime breakdown of the last upgrade and rollback go to the console
# ("live: ...").
. /lib/plugsched/ktap.sh

# Upgrade + rollback cycles (debug kernel under TCG: ~45 s each on x86_64,
# ~2 min on arm64); a CYCLES=N kernel argument (in /init's environment)
# sets another number.
CYCLES=${CYCLES:-12}
SETTLE=1		# seconds the workload runs between two checks
RETRIES=5		# attempts of a switch refused with EBUSY, 1 s apart
READY_WAIT=600		# tenths of a second the workload gets to start
FIFO_PRIO=10		# SCHED_FIFO priority of the fifo task
MSG_PAUSE_US=5000	# msgpass senders' pause per round: bounded load under TCG
BW_MAX_PCT=30		# hogs' CPU share that fails the 20% limit (TCG slack)

ko=/lib/modules/plugsched.ko
d=/sys/kernel/plugsched
cgroot=/sys/fs/cgroup
cg=$cgroot/hogs
W=/tmp/live
PROGRESS="msgpass hog1 hog2 fifo forker"	# publish a progress counter
ALL="$PROGRESS threads"
STATS="stop_machine_ns stack_check_ns clear_ns redirect_ns rebuild_ns functions rebuilt_tasks tasks cpus"
NCPU=$(nproc)
rm -rf "$W"
mkdir -p "$W"

say() { echo "live: $*"; }

# fail KIND MSG: record a failed check of KIND (reported by "report KIND").
fail() {
	local kind=$1
	shift
	echo "$*" >>"$W/fail.$kind"
	say "check failed ($kind): $*"
}

# report KIND: a KTAP case: passes if no failure of KIND was recorded.
report() {
	local f="$W/fail.$1" n
	[ -s "$f" ] || return 0
	head -n 10 "$f"
	n=$(wc -l <"$f")
	[ "$n" -le 10 ] || echo "... $n failures in all"
	return 1
}

# get VAR FILE: the first line of FILE into VAR, empty if unreadable.
get() {
	eval "$1="
	read -r "$1" 2>/dev/null <"$2"
	return 0
}

is_num() { case $1 in '' | *[!0-9]*) return 1 ;; esac; }
is_int() { is_num "${1#-}"; }
is_hex() { case $1 in '' | *[!0-9a-fA-F]*) return 1 ;; esac; }

# now_cs: uptime in hundredths of a second into NOW.
now_cs() {
	local up
	read -r up _ </proc/uptime
	NOW=${up%.*}${up#*.}
}
secs() { printf '%d.%02d' $(($1 / 100)) $(($1 % 100)); }

loaded() { [ -e "$d/state" ]; }

# settle: wait (up to 10 s) while the state is a transition; STATE = state.
settle() {
	local i=0
	while :; do
		get STATE "$d/state"
		case $STATE in
		upgrading | rolling-back) ;;
		*) return 0 ;;
		esac
		i=$((i + 1))
		[ $i -lt 100 ] || return 1
		sleep 0.1
	done
}

set_enable() { echo "$1" >"$d/enable"; }

# retry CMD...: run CMD until it succeeds; while it fails with EBUSY (a
# switch is refused while tasks are busy), RETRIES times at most, 1 s
# apart.  TRIES = attempts, ERR = output of the last one.
retry() {
	TRIES=0
	while :; do
		TRIES=$((TRIES + 1))
		ERR=$("$@" 2>&1) && return 0
		case $ERR in *[Bb]usy*) ;; *) return 1 ;; esac
		[ $TRIES -lt $RETRIES ] || return 1
		sleep 1
	done
}

# alive PID: the process exists and is not a zombie.
alive() {
	local s
	get s "/proc/$1/stat"
	s=${s##*) }
	case $s in '' | Z* | X*) return 1 ;; esac
}

# has_mark PID: 0 if /proc/PID/sched has a line starting with "plugsched"
# (the module's scheduler is live), 1 if not, 2 if it cannot be read.
has_mark() {
	local l f="/proc/$1/sched"
	[ -r "$f" ] || return 2
	while IFS= read -r l; do
		case $l in plugsched*) return 0 ;; esac
	done <"$f"
	return 1
}

# check_mark WHEN 1|0: the visible change is present (1) or absent (0) for
# this shell, msgpass and the fifo task.
check_mark() {
	local p rc
	for p in $$ $pid_msgpass $pid_fifo; do
		has_mark "$p" && rc=0 || rc=$?
		if [ $rc = 2 ]; then
			fail visible "$1: cannot read /proc/$p/sched"
		elif [ "$2" = 1 ] && [ $rc != 0 ]; then
			fail visible "$1: no 'plugsched' line in /proc/$p/sched"
		elif [ "$2" = 0 ] && [ $rc = 0 ]; then
			fail visible "$1: 'plugsched' line in /proc/$p/sched"
		fi
	done
}

# check_workload WHEN: every workload process is alive and every progress
# counter grew since the last call; the fifo task is still SCHED_FIFO.
check_workload() {
	local n pid v old s
	for n in $ALL; do
		eval "pid=\$pid_$n"
		if ! alive "$pid"; then
			fail progress "$1: $n (pid $pid) is gone"
			continue
		fi
		case " $PROGRESS " in *" $n "*) ;; *) continue ;; esac
		get v "$W/$n"
		eval "old=\$prog_$n"
		if ! is_num "$v"; then
			fail progress "$1: $n progress reads '$v'"
			continue
		fi
		[ "$v" -gt "$old" ] || fail progress "$1: $n made no progress ($old -> $v)"
		eval "prog_$n=\$v"
	done
	# /proc/PID/stat after "(comm) ", behind WHEN: field 40 (rt_priority)
	# is ${39}, field 41 (policy) ${40}.
	get s "/proc/$pid_fifo/stat"
	s=${s##*) }
	set -- "$1" $s
	[ "${40}" = 1 ] && [ "${39}" = "$FIFO_PRIO" ] ||
		fail fifo "$1: fifo task has policy '${40}' priority '${39}', not 1 (SCHED_FIFO) $FIFO_PRIO"
}

# read_stats P: the last_* files into P_result, P_stop_machine_ns, ...;
# BAD lists the ones that are not numbers.
read_stats() {
	local s v
	BAD=
	for s in result $STATS; do
		get v "$d/last_$s"
		eval "$1_$s=\$v"
		if [ $s = result ]; then is_int "$v"; else is_num "$v"; fi ||
			BAD="$BAD last_$s='$v'"
	done
	[ -z "$BAD" ]
}

# breakdown P: the downtime breakdown read by "read_stats P", into BREAKDOWN.
breakdown() {
	eval "BREAKDOWN=\"stop_machine \$$1_stop_machine_ns ns (stack_check \$$1_stack_check_ns, \
clear \$$1_clear_ns, redirect \$$1_redirect_ns, rebuild \$$1_rebuild_ns ns), \
functions \$$1_functions, rebuilt_tasks \$$1_rebuilt_tasks, tasks \$$1_tasks, cpus \$$1_cpus\""
}

# check_gone WHEN: the module is not loaded.
check_gone() {
	if loaded || grep -q '^plugsched ' /proc/modules; then
		fail rollback "$1: module still loaded"
		return 1
	fi
}

# check_hash WHEN: with the vmlinux scheduler live, text_hash is
# ORIG_HASH, the hash of the untouched text (read right after the first
# load, before any upgrade).
check_hash() {
	local h
	get h "$d/text_hash"
	if ! is_hex "$h"; then
		fail text_hash "$1: text_hash '$h' is not a hex number"
	elif [ "$h" != "$ORIG_HASH" ]; then
		fail text_hash "$1: text_hash $h, with the untouched text $ORIG_HASH"
	fi
}

# load_off WHEN: insmod enable=0; the vmlinux scheduler stays live and
# the text at the patch sites is as at the start.
load_off() {
	if ! retry insmod "$ko" enable=0; then
		fail upgrade "$1: insmod enable=0 failed (attempts: $TRIES): $ERR"
		return 1
	fi
	settle
	[ "$STATE" = off ] || fail rollback "$1: loaded with enable=0, state is '$STATE'"
	check_hash "$1" 1
	check_mark "$1" 0
}

# unload WHEN: rmmod (rolls back if live); the module is gone.
unload() {
	if ! retry rmmod plugsched; then
		fail rollback "$1: rmmod failed (attempts: $TRIES): $ERR"
		return 1
	fi
	check_gone "$1"
}

# start_state WHEN MODE: bring the module to a cycle's starting state:
# loaded with the vmlinux scheduler live (MODE enable) or not loaded
# (MODE module).
start_state() {
	if [ "$2" = enable ]; then
		if ! loaded; then
			load_off "$1 (after rmmod)"
			return
		fi
		settle
		[ "$STATE" = off ] && return 0
		fail rollback "$1: state is '$STATE', not off"
		retry set_enable 0 && settle && [ "$STATE" = off ]
	elif loaded; then
		settle
		[ "$STATE" = off ] || fail rollback "$1: state is '$STATE', not off"
		unload "$1"
	fi
}

# check_state KIND WHEN STATE ENABLE GEN: after a switch of KIND (upgrade
# or rollback), state, enable and generation read STATE, ENABLE and GEN.
check_state() {
	local v
	settle || fail "$1" "$2: still '$STATE' after 10 s"
	[ "$STATE" = "$3" ] || fail "$1" "$2: state is '$STATE', not $3"
	get v "$d/enable"
	[ "$v" = "$4" ] || fail "$1" "$2: enable reads '$v', not $4"
	get v "$d/generation"
	[ "$v" = "$5" ] || fail "$1" "$2: generation is '$v', not $5"
}

# check_upgraded WHEN GEN: the module's scheduler is live, upgrade number GEN.
check_upgraded() {
	local h
	check_state upgrade "$1" live 1 "$2"
	if read_stats up; then
		[ "$up_result" = 0 ] || fail upgrade "$1: last_result $up_result"
		[ "$up_cpus" = "$NCPU" ] || fail upgrade "$1: last_cpus $up_cpus, $NCPU CPUs online"
		[ "$up_functions" -gt 0 ] || fail upgrade "$1: last_functions 0"
		[ "$up_stop_machine_ns" -gt 0 ] || fail upgrade "$1: last_stop_machine_ns 0"
		# The threads program alone has 1001 tasks.
		[ "$up_tasks" -gt 1000 ] || fail upgrade "$1: last_tasks $up_tasks, fewer than the tasks alive"
	else
		fail upgrade "$1: not numbers:$BAD"
	fi
	get h "$d/text_hash"
	if ! is_hex "$h"; then
		fail text_hash "$1: text_hash '$h' while live is not a hex number"
	elif [ "$h" = "$ORIG_HASH" ]; then
		fail text_hash "$1: text_hash $h while live, the same as with the vmlinux scheduler"
	fi
	check_mark "$1" 1
}

# check_rolled_back WHEN GEN: the vmlinux scheduler is live again after
# "echo 0 >enable"; the module is still loaded.
check_rolled_back() {
	local v
	check_state rollback "$1" off 0 "$2"
	if read_stats down; then
		[ "$down_result" = 0 ] || fail rollback "$1: last_result $down_result"
	else
		fail rollback "$1: not numbers:$BAD"
	fi
	check_hash "$1"
	get v "$d/module_pointers"
	[ "$v" = 0 ] || fail pointers "$1: module_pointers '$v'"
	check_mark "$1" 0
}

# cycle C: one upgrade and one rollback, by enable (odd C) or by insmod
# and rmmod (even C), with the workload checked after each.
cycle() {
	local c=$1 mode how gen=0 t0 up_t down_t line
	if [ $((c % 2)) = 1 ]; then
		mode=enable
		how="echo 1/0 >enable"
	else
		mode=module
		how="insmod/rmmod"
	fi
	start_state "before cycle $c" $mode || return 0

	now_cs
	t0=$NOW
	if [ $mode = enable ]; then
		get gen "$d/generation"
		is_num "$gen" || gen=-1
		retry set_enable 1
	else
		retry insmod "$ko"
	fi || {
		fail upgrade "cycle $c ($how): upgrade failed (attempts: $TRIES): $ERR"
		return 0
	}
	now_cs
	up_t=$((NOW - t0))
	line="cycle $c ($how): upgrade $(secs $up_t) s"
	[ $TRIES = 1 ] || line="$line (attempts: $TRIES)"
	check_upgraded "cycle $c, upgraded ($how)" $((gen + 1))
	line="$line, stop_machine $up_stop_machine_ns ns"
	breakdown up
	LAST_UP="cycle $c ($how): $BREAKDOWN"
	sleep $SETTLE
	check_workload "cycle $c, live"

	now_cs
	t0=$NOW
	if [ $mode = enable ]; then
		if ! retry set_enable 0; then
			fail rollback "cycle $c ($how): echo 0 >enable failed (attempts: $TRIES): $ERR"
			# What is wrong (state, text, pointers), then the next cycle.
			check_rolled_back "cycle $c, failed rollback" $((gen + 1))
			return 0
		fi
		now_cs
		down_t=$((NOW - t0))
		check_rolled_back "cycle $c, rolled back ($how)" $((gen + 1))
		line="$line; rollback $(secs $down_t) s, stop_machine $down_stop_machine_ns ns"
		breakdown down
		LAST_DOWN="cycle $c ($how): $BREAKDOWN"
	else
		unload "cycle $c, rolled back ($how)" || return 0
		now_cs
		down_t=$((NOW - t0))
		line="$line; rollback+unload $(secs $down_t) s"
		check_mark "cycle $c, rolled back ($how)" 0
	fi
	[ $TRIES = 1 ] || line="$line (attempts: $TRIES)"
	sleep $SETTLE
	check_workload "cycle $c, rolled back"
	say "$line; msgpass $prog_msgpass messages"
}

# start_workload: cgroup, then the programs; waits for all to be ready.
start_workload() {
	local n i l pid pending waiting
	[ -e "$cgroot/cgroup.controllers" ] || mount -t cgroup2 none "$cgroot" ||
		fail start "cannot mount cgroup2 on $cgroot"
	echo +cpu >"$cgroot/cgroup.subtree_control" ||
		fail start "cannot enable the cpu controller (controllers: $(cat "$cgroot/cgroup.controllers"))"
	mkdir -p "$cg" && echo "20000 100000" >"$cg/cpu.max" ||
		fail start "cannot create $cg with cpu.max 20000 100000"

	msgpass "$W" 2 4 $MSG_PAUSE_US >"$W/msgpass.out" &
	pid_msgpass=$!
	for n in hog1 hog2; do
		# The hog joins the cgroup before it runs: its pid is the shell's.
		sh -c "echo \$\$ >$cg/cgroup.procs && exec hog $W/$n" >"$W/$n.out" &
		eval "pid_$n=\$!"
	done
	fifo "$W/fifo" $FIFO_PRIO >"$W/fifo.out" &
	pid_fifo=$!
	threads 1000 >"$W/threads.out" &
	pid_threads=$!
	forker "$W/forker" >"$W/forker.out" &
	pid_forker=$!

	i=0
	pending=$ALL
	while [ -n "$pending" ] && [ $i -lt $READY_WAIT ]; do
		waiting=$pending
		pending=
		for n in $waiting; do
			get l "$W/$n.out"
			case $l in ready*) ;; *) pending="$pending $n" ;; esac
		done
		[ -z "$pending" ] && break
		i=$((i + 1))
		sleep 0.1
	done
	[ -z "$pending" ] || fail start "not ready after $((READY_WAIT / 10)) s:$pending"
	for n in $ALL; do
		eval "pid=\$pid_$n"
		eval "prog_$n=-1"
		alive "$pid" || fail start "$n (pid $pid) is gone"
	done
	check_workload "start"
	NTHREADS=$(ls "/proc/$pid_threads/task" | wc -l)
	[ "$NTHREADS" = 1001 ] || fail start "threads has $NTHREADS tasks, not 1001"
	NHOGS=$(wc -l <"$cg/cgroup.procs")
	[ "$NHOGS" = 2 ] || fail start "$NHOGS processes in $cg, not 2"
	cpu_stat nr_throttled
	THROTTLED0=$VAL
	say "workload: msgpass $pid_msgpass, hogs $pid_hog1 $pid_hog2 (in $cg, cpu.max $(cat "$cg/cpu.max")), fifo $pid_fifo, threads $pid_threads, forker $pid_forker"
}

# cpu_stat KEY: the value of KEY in the hogs' cpu.stat into VAL.
cpu_stat() {
	local k v
	VAL=
	[ -r "$cg/cpu.stat" ] || return 0
	while read -r k v; do
		[ "$k" = "$1" ] && VAL=$v
	done <"$cg/cpu.stat"
}

# reference: load the module with the vmlinux scheduler live; its text_hash
# of the untouched patch sites is ORIG_HASH.
reference() {
	local v
	ORIG_HASH=
	if ! insmod "$ko" enable=0; then
		fail ref "insmod enable=0 failed"
		return
	fi
	settle
	[ "$STATE" = off ] || fail ref "state is '$STATE', not off"
	get v "$d/enable"
	[ "$v" = 0 ] || fail ref "enable reads '$v', not 0"
	get v "$d/generation"
	[ "$v" = 0 ] || fail ref "generation is '$v', not 0"
	get v "$d/text_hash"
	if is_hex "$v"; then
		ORIG_HASH=$v
	else
		fail ref "text_hash '$v' is not a hex number"
	fi
	check_mark "reference" 0
	[ ! -s "$W/fail.visible" ] || fail ref "the visible change is there before any upgrade"
	say "module loaded with enable=0: state $STATE, text_hash $v"
}

# measure_bandwidth: the hogs' CPU use over 2 s, in % of one CPU.
measure_bandwidth() {
	local u0 u1 t0
	cpu_stat usage_usec
	u0=$VAL
	now_cs
	t0=$NOW
	sleep 2
	cpu_stat usage_usec
	u1=$VAL
	now_cs
	BW_WALL=$(((NOW - t0) * 10000))
	if is_num "$u0" && is_num "$u1"; then
		BW_USED=$((u1 - u0))
	else
		BW_USED=
	fi
	cpu_stat nr_throttled
	THROTTLED1=$VAL
	say "hogs cgroup: ${BW_USED:-?} us of CPU in $BW_WALL us ($((${BW_USED:-0} * 100 / (BW_WALL + 1)))% of one CPU, limit 20%), nr_throttled $THROTTLED0 -> $THROTTLED1"
}

check_bandwidth() {
	echo "hogs used '$BW_USED' us of CPU in $BW_WALL us, at most $BW_MAX_PCT% allowed"
	is_num "$BW_USED" && [ "$BW_USED" -gt 0 ] && [ $((BW_USED * 100)) -le $((BW_WALL * BW_MAX_PCT)) ]
}

check_throttled() {
	echo "nr_throttled '$THROTTLED0' at the start, '$THROTTLED1' at the end"
	is_num "$THROTTLED0" && is_num "$THROTTLED1" && [ "$THROTTLED1" -gt "$THROTTLED0" ]
}

check_threads() {
	local t m
	t=$(ls "/proc/$pid_threads/task" | wc -l)
	m=$(ls "/proc/$pid_msgpass/task" | wc -l)
	echo "threads has $t tasks (1001 expected), msgpass $m (17 expected)"
	[ "$t" = 1001 ] && [ "$m" = 17 ]
}

check_cgroup_tasks() {
	local n
	n=$(wc -l <"$cg/cgroup.procs")
	echo "$n processes in $cg ($NHOGS at the start): $(cat "$cg/cgroup.procs" | tr '\n' ' ')"
	[ "$n" = "$NHOGS" ] && grep -qx "$pid_hog1" "$cg/cgroup.procs" &&
		grep -qx "$pid_hog2" "$cg/cgroup.procs"
}

check_kernel_log() {
	local up down
	up=$(dmesg | grep -c 'plugsched: upgrade: ')
	down=$(dmesg | grep -c 'plugsched: rollback: ')
	echo "kernel log: $up 'plugsched: upgrade:' lines, $down 'plugsched: rollback:' lines, $CYCLES of each expected"
	[ "$up" -ge "$CYCLES" ] && [ "$down" -ge "$CYCLES" ]
}

# check_workload_final: the workload survived the final rmmod.
check_workload_final() {
	rm -f "$W/fail.progress" "$W/fail.fifo"
	sleep $SETTLE
	check_workload "after the final rmmod" >/dev/null
	report progress && report fifo
}

final_unload() {
	local rc
	retry rmmod plugsched || {
		echo "rmmod failed (attempts: $TRIES): $ERR"
		return 1
	}
	if loaded || grep -q '^plugsched ' /proc/modules; then
		echo "module still loaded after rmmod"
		return 1
	fi
	has_mark $$ && rc=0 || rc=$?
	[ $rc = 1 ] || {
		echo "/proc/$$/sched: visible change present or unreadable ($rc)"
		return 1
	}
}

# On a KUnit kernel the module's KUnit suites run at every load; scenario
# "basic" runs them, here they would only add time: filter them all out.
kf=/sys/module/kunit/parameters/filter_glob
[ -e $kf ] && echo not-in-the-live-scenario >$kf
dmesg -c >/dev/null
say "$CYCLES cycles on $NCPU CPUs, kernel $(uname -r)"
start_workload
reference
c=1
while [ $c -le "$CYCLES" ]; do
	cycle $c
	c=$((c + 1))
done
# End with the module loaded and the vmlinux scheduler live: checks the
# text after the last rmmod; final_unload unloads it.
start_state "after the last cycle" enable
say "last upgrade, ${LAST_UP:-none}"
say "last rollback, ${LAST_DOWN:-none}"
measure_bandwidth
check_workload "after the cycles"

ktap_suite plugsched_live 16
ktap_case workload_started report start
ktap_case reference_hash report ref
ktap_case upgrade_all_cycles report upgrade
ktap_case visible_change_all_cycles report visible
ktap_case progress_all_cycles report progress
ktap_case fifo_policy_all_cycles report fifo
ktap_case rollback_all_cycles report rollback
ktap_case text_hash_all_cycles report text_hash
ktap_case no_module_pointers report pointers
ktap_case kernel_log check_kernel_log
ktap_case threads_count check_threads
ktap_case cgroup_tasks check_cgroup_tasks
ktap_case bandwidth_limit check_bandwidth
ktap_case throttled check_throttled
ktap_case final_unload final_unload
ktap_case workload_after_unload check_workload_final
ktap_end
rc=$?

for n in $ALL; do
	eval "kill -9 \$pid_$n" 2>/dev/null
done
wait
exit $rc
