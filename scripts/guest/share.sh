# SPDX-License-Identifier: GPL-2.0
# Helpers for scenarios that measure CPU shares with /bin/share (busybox
# sh).  Installed as /lib/plugsched/share.sh; source it from a run.sh that
# defines say().
#
#   share_start ARGS...   start `share -i ARGS...` (hogs pinned to a CPU that
#                         keep running; one window measured per `window`)
#   window NAME           measure one window; its line goes into $NAME
#   share_stop            end the hogs; their exit code goes into $sp_rc
#   val LINE KEY          the value of KEY=... in a line of `share`
#   lt A B                A < B, decimals; false if either is missing
#   between X LO HI       LO < X < HI

share_out=/tmp/share.out

val() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
lt() {
	[ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'
}
between() { lt "$2" "$1" && lt "$1" "$3"; }

share_start() {
	mkfifo /tmp/share.ctl
	share -i "$@" </tmp/share.ctl >$share_out 2>&1 &
	sp=$!
	exec 3>/tmp/share.ctl
	for i in $(seq 100); do
		grep -q '^share started' $share_out && break
		sleep 0.1
	done
	say "$(cat $share_out)"
}

window() {
	local n line
	n=$(($(grep -c '^share a_pct' $share_out) + 1))
	echo go >&3
	for i in $(seq 300); do
		[ "$(grep -c '^share a_pct' $share_out)" -ge $n ] && break
		sleep 0.1
	done
	line=$(grep '^share a_pct' $share_out | sed -n "${n}p")
	say "$1: $line"
	eval "$1=\"\$line\""
}

share_stop() {
	exec 3>&-
	wait $sp
	sp_rc=$?
}
