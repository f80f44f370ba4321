# SPDX-License-Identifier: GPL-2.0
# Scenario "harness-must-fail": a self-test of the harness.  One case passes,
# one fails; `make test` requires scripts/qemu-run.sh to reject this run.
. /lib/plugsched/ktap.sh

ktap_suite plugsched_harness_selftest 2
ktap_case passes true
ktap_case fails_on_purpose false
ktap_end
