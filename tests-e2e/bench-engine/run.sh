# SPDX-License-Identifier: GPL-2.0
# Scenario "bench-engine": time the engine's switches with 100, 1000,
# 10000 and 30000 extra sleeping threads.  For each count, the module's self-test
# applies and reverts its redirections once with parallel and once with
# serial stack inspection and logs what each stop_machine measured; this
# script prints those lines prefixed with "bench: threads=N".  Where the
# module carries the extracted scheduler, the whole-scheduler upgrade and
# rollback are timed too, CYCLES times ("live: threads=N ..."), and an empty
# stop_machine on all CPUs, the floor of any switch ("floor: threads=N
# ...").  A benchmark,
# not a test: the only checks are that every step ran.
. /lib/plugsched/ktap.sh
st=/sys/kernel/plugsched/selftest
CYCLES=5
echo 100000 >/proc/sys/kernel/threads-max

run_bench() {
	n=$1
	rm -f /tmp/ready
	threads "$n" >/tmp/ready &
	pid=$!
	i=0
	while ! grep -q ready /tmp/ready 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 600 ] || return 1
		sleep 0.1
	done
	dmesg -c >/dev/null
	echo bench >$st || return 1
	dmesg | grep 'bench:' | sed "s/.*bench:/bench: threads=$n/" >/tmp/bench.$n
	dmesg | grep 'floor:' | sed "s/.*floor:/floor: threads=$n/" >>/tmp/bench.$n
	# The whole-scheduler update, where the module carries the scheduler:
	# CYCLES upgrades and rollbacks (the report takes their medians).
	if [ "$(cat /sys/kernel/plugsched/text_hash)" != none ]; then
		for dir in $(seq "$CYCLES" | sed 's/.*/1 0/'); do
			echo $dir >/sys/kernel/plugsched/enable || return 1
			echo "live: threads=$n dir=$( [ $dir = 1 ] && echo upgrade || echo rollback)" \
				"tasks=$(cat /sys/kernel/plugsched/last_tasks)" \
				"unchanged=$(cat /sys/kernel/plugsched/last_unchanged_tasks)" \
				"prescan_ns=$(cat /sys/kernel/plugsched/last_prescan_ns)" \
				"link_ns=$(cat /sys/kernel/plugsched/last_link_ns)" \
				"rebuilt=$(cat /sys/kernel/plugsched/last_rebuilt_tasks)" \
				"stop_machine_ns=$(cat /sys/kernel/plugsched/last_stop_machine_ns)" \
				"enter_ns=$(cat /sys/kernel/plugsched/last_enter_ns)" \
				"leave_ns=$(cat /sys/kernel/plugsched/last_leave_ns)" \
				"stack_check_ns=$(cat /sys/kernel/plugsched/last_stack_check_ns)" \
				"clear_ns=$(cat /sys/kernel/plugsched/last_clear_ns)" \
				"redirect_ns=$(cat /sys/kernel/plugsched/last_redirect_ns)" \
				"rebuild_ns=$(cat /sys/kernel/plugsched/last_rebuild_ns)" >>/tmp/bench.$n
		done
	fi
	kill "$pid"
	wait "$pid" 2>/dev/null
	[ "$(grep -c '^bench:' /tmp/bench.$n)" = 4 ]
}

# The load time and its parts (KUnit suites, which the test kernel runs
# at every load, are left out): insmod as a whole, the plan the module
# prepares (kallsyms look-ups, symbol sizes, sites), and the rest (the
# module loader: reading and laying out the module, klp relocations).
kf=/sys/module/kunit/parameters/filter_glob
[ -e $kf ] && echo not-in-the-benchmark >$kf
dmesg -c >/dev/null
timeit insmod insmod /lib/modules/plugsched.ko enable=0 >/tmp/load.time
plan=$(dmesg | sed -n 's/.*plan: prepared in \([0-9]*\) ns.*/\1/p' | tail -n 1)
total=$(sed -n 's/.*ns=\([0-9]*\).*/\1/p' /tmp/load.time)
echo "load: insmod_ns=$total plan_ns=${plan:-0} loader_ns=$((total - ${plan:-0}))" >/tmp/bench.load
# The loader's steps, from a second load under the kernel's function
# graph tracer restricted to them (a few traced calls, not the module's
# code): reading the file, load_module as a whole, its klp relocations,
# all its relocations (klp ones included), the look-ups of its exported
# symbols, the architecture's finalisation (alternatives, return and call
# thunks, ORC table), ftrace's records of the module's functions (ftrace
# itself is not traced: its kallsyms look-up of each record's function and
# its NOP write are), its kallsyms, sysfs, page protections, the module
# notifiers that patch the module's static calls and jump labels and read
# its BTF, and the module's init (the plan).
rmmod plugsched
tr=/sys/kernel/tracing
[ -e $tr/trace ] || mount -t tracefs none $tr
steps="kernel_read_file load_module klp_apply_section_relocs apply_relocate_add resolve_symbol module_finalize kallsyms_lookup text_poke_early add_kallsyms mod_sysfs_setup module_enable_rodata_ro module_enable_text_rox static_call_module_notify jump_label_module_notify btf_module_notify unwind_module_init do_init_module"
for f in $steps; do echo $f >>$tr/set_ftrace_filter; done
echo 1 >$tr/options/funcgraph-tail
echo function_graph >$tr/current_tracer
echo 1 >$tr/tracing_on
insmod /lib/modules/plugsched.ko enable=0
echo 0 >$tr/tracing_on
# "1) * 11977.40 us |  klp_apply_section_relocs();" or "} /* load_module */"
awk -v steps="$steps" '
	/ us / && /[|]/ {
		for (i = 1; i < NF; i++) if ($(i + 1) == "us") d = $i
		name = $0
		sub(/.*[|] */, "", name)
		sub(/^[}] [\/][*] /, "", name)
		sub(/[ ();*\/]+$/, "", name)
		ns[name] += d * 1000
	}
	END {
		n = split(steps, s, " ")
		printf "loadparts:"
		for (i = 1; i <= n; i++) printf " %s_ns=%.0f", s[i], ns[s[i]]
		printf "\n"
	}' $tr/trace >>/tmp/bench.load
# (Another tracer, or none, empties the trace.)
echo nop >$tr/current_tracer
echo >$tr/set_ftrace_filter
ktap_suite plugsched_bench 4
for n in 100 1000 10000 30000; do
	ktap_case "threads_$n" run_bench "$n"
done
ktap_end
rc=$?
cat /tmp/bench.* 2>/dev/null
rmmod plugsched
exit $rc
