#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The boundary of TARGET's kernel as its module build found it
# (build/TARGET/init.log, written by scripts/build-module.sh) must have the
# class counts recorded in boundary/linux-7.3.TARGET-counts: a change of the
# kernel, its config or the analysis shows up here (update that file and
# Documentation/boundary.rst with it).
. "$(dirname "$0")/lib.sh"

target=${1:?usage: scripts/check-counts.sh TARGET}
log=$PS_TOP/build/$target/init.log
want=$PS_TOP/boundary/linux-7.3.$target-counts
[ -s "$log" ] || ps_die "no $log: build the module for $target first"
have=$(awk '/^(internal|interface|callback|external) /{print $1, $2} /^data-/{print $1, $2}' "$log")
if diff <(echo "$have") "$want"; then
	echo "counts[$target]: 1 passed, 0 failed, 0 skipped"
else
	echo "counts[$target]: boundary counts differ from $want (above: < found, > recorded)"
	echo "counts[$target]: 0 passed, 1 failed, 0 skipped"
	exit 1
fi
