# SPDX-License-Identifier: GPL-2.0
# KTAP helpers for scenario scripts running in the guest (busybox sh).
# Installed as /lib/plugsched/ktap.sh; source it from a scenario's run.sh.
#
#   ktap_suite NAME N       start a suite of N test cases
#   ktap_case NAME CMD...   run CMD, report "ok"/"not ok" for case NAME
#   ktap_end                print the suite; returns 1 if a case failed
#
# A suite is printed whole by ktap_end, so KTAP that the kernel prints while
# the cases run (e.g. KUnit suites of a module a case loads) never lands in
# the middle of it.  Lines go to /dev/kmsg, ordered with the kernel's own
# messages (the kernel is booted with printk.devkmsg=on: no rate limit).

KTAP_BUF=/tmp/ktap.buf

# The prefix of system-call entry points on this machine's architecture.
case "$(uname -m)" in
aarch64) SYS=__arm64_sys_ ;;
*) SYS=__x64_sys_ ;;
esac

ktap_out() { echo "$*" >>"$KTAP_BUF"; }

ktap_suite() {
	KTAP_SUITE=$1
	KTAP_N=0
	KTAP_FAILED=0
	: >"$KTAP_BUF"
	ktap_out "KTAP version 1"
	ktap_out "1..1"
	ktap_out "    KTAP version 1"
	ktap_out "    # Subtest: $1"
	ktap_out "    1..$2"
}

ktap_case() {
	local name=$1 out rc
	shift
	KTAP_N=$((KTAP_N + 1))
	out=$("$@" 2>&1) && rc=0 || rc=$?
	if [ "$rc" = 0 ]; then
		ktap_out "    ok $KTAP_N $name"
	else
		echo "$out" | while IFS= read -r l; do ktap_out "    # $name: $l"; done
		ktap_out "    # $name: exit code $rc"
		ktap_out "    not ok $KTAP_N $name"
		KTAP_FAILED=$((KTAP_FAILED + 1))
	fi
}

ktap_end() {
	if [ "$KTAP_FAILED" = 0 ]; then
		ktap_out "ok 1 $KTAP_SUITE"
	else
		ktap_out "not ok 1 $KTAP_SUITE"
	fi
	while IFS= read -r l; do echo "$l" >/dev/kmsg; done <"$KTAP_BUF"
	rm -f "$KTAP_BUF"
	[ "$KTAP_FAILED" = 0 ]
}
