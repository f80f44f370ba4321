# SPDX-License-Identifier: GPL-2.0
# Scenario "bench-steady": the steady-state cost of the module's scheduler.
# In one boot, Debian's hackbench (rt-tests) runs alternately under
# vmlinux's scheduler and under the module's (plugsched.ko loaded once with
# enable=0, then /sys/kernel/plugsched/enable switched 1/0 between runs).
# Each round runs both sides, in ABBA order (odd rounds vmlinux first, even
# rounds module first) so that drift and order effects fall on both.  Prints
# one line per run ("steady-run: ...") and the summary ("steady: ...").  A
# benchmark, not a test: KTAP only checks that every run completed, under
# the scheduler it was meant for.
. /lib/plugsched/ktap.sh
ps=/sys/kernel/plugsched
# ROUNDS and LOOPS may come from the kernel command line (unknown
# parameters reach /init's environment; scripts/bench-steady.sh sets them).
ROUNDS=${ROUNDS:-12}
LOOPS=${LOOPS:-50}
# hackbench's messaging workload: 2 groups of 20 senders and 20 receivers
# over UNIX sockets (80 tasks on 2 vCPUs), LOOPS messages per sender.
HB="hackbench -g 2 -l $LOOPS"
: >/tmp/runs
: >/tmp/runlines

# side NAME: make NAME's scheduler the live one and check that it is.
side() {
	case "$1" in
	vmlinux) v=0 ;;
	module) v=1 ;;
	esac
	[ "$(cat $ps/enable)" = $v ] || echo $v >$ps/enable || return 1
	# The module's scheduler names itself in /proc/<pid>/sched
	# (sched-changes/linux-7.3/0001-...); vmlinux's does not.
	if grep -q '^plugsched.scheduler' /proc/self/sched; then l=1; else l=0; fi
	[ $l = $v ] || { echo "$1 is not the live scheduler"; return 1; }
}

# run ROUND NAME: one hackbench run under NAME's scheduler.
run() {
	side "$2" || return 1
	t=$($HB | sed -n 's/^Time: *//p')
	[ -n "$t" ] || { echo "hackbench printed no time"; return 1; }
	# (ktap_case keeps a case's output only if it fails: printed at the end.)
	echo "steady-run: round=$1 side=$2 time_s=$t" >>/tmp/runlines
	# Round 0 is the warm-up: printed, not counted.
	[ "$1" = 0 ] || echo "$2 $t" >>/tmp/runs
}

round() {
	if [ $(($1 % 2)) = 1 ]; then
		run "$1" vmlinux && run "$1" module
	else
		run "$1" module && run "$1" vmlinux
	fi
}

ktap_suite plugsched_steady $((ROUNDS + 3))
ktap_case load sh -c "insmod /lib/modules/plugsched.ko enable=0 && [ \"\$(cat $ps/text_hash)\" != none ]"
# One discarded run per side first (caches and slabs warm).
ktap_case warmup round 0
for r in $(seq 1 "$ROUNDS"); do
	ktap_case "round_$r" round "$r"
done
ktap_case rollback side vmlinux
ktap_end
rc=$?
cat /tmp/runlines
# (Busybox awk has no math library: square root by Newton's method.)
awk '
function root(x,  r, i) {
	if (x <= 0) return 0
	r = x > 1 ? x : 1
	for (i = 0; i < 100; i++) r = (r + x / r) / 2
	return r
}
function t(df) {	# two-sided 95% Student t quantile
	if (df >= 60) return 2.000; if (df >= 40) return 2.021; if (df >= 30) return 2.042
	if (df >= 24) return 2.064; if (df >= 20) return 2.086; if (df >= 16) return 2.120
	if (df >= 12) return 2.179; if (df >= 8) return 2.306; if (df >= 4) return 2.776
	return 12.706
}
{ n[$1]++; s[$1] += $2; q[$1] += $2 * $2 }
END {
	if (!n["vmlinux"] || !n["module"]) { print "steady: no runs"; exit }
	for (k in n) {
		m[k] = s[k] / n[k]
		v[k] = n[k] > 1 ? (q[k] - n[k] * m[k] * m[k]) / (n[k] - 1) : 0
		if (v[k] < 0) v[k] = 0
		sd[k] = root(v[k])
	}
	r = m["module"] / m["vmlinux"]
	# Relative standard error of the ratio of the means (delta method).
	se = root(v["module"] / n["module"] / (m["module"] * m["module"]) + \
		v["vmlinux"] / n["vmlinux"] / (m["vmlinux"] * m["vmlinux"]))
	printf "steady: messaging vmlinux mean=%.4f sd=%.4f n=%d; module mean=%.4f sd=%.4f n=%d; ratio=%.4f (module/vmlinux), diff=%+.2f%% spread(95%% CI of the ratio)=%.2f%%\n", \
		m["vmlinux"], sd["vmlinux"], n["vmlinux"], m["module"], sd["module"], n["module"], r, (r - 1) * 100, \
		t(n["vmlinux"] + n["module"] - 2) * se * r * 100
}' /tmp/runs
rmmod plugsched 2>/dev/null
exit $rc
