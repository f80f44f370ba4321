// SPDX-License-Identifier: GPL-2.0
/*
 * The tasks switched out on each CPU since a point in time: a probe on the
 * sched_switch tracepoint records each CPU's previous task (with a
 * reference) in a buffer allocated beforehand.  Between the stack check
 * before the rendezvous and the rendezvous, a task whose stack may have
 * changed ran, so it was switched out (inside stop_machine every CPU runs
 * its stopper): only the tasks logged here are walked again
 * (rust/engine/prescan.rs).  A full buffer marks the log overflowed and the
 * rendezvous walks every task.  One log at a time (the engine's switch
 * lock).
 */
#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/tracepoint.h>
#include <trace/events/sched.h>

#include "shims.h"

struct plugsched_switch_log {
	unsigned int n;
	unsigned int cap;
	bool overflow;
	struct task_struct **tasks;
	/* The tasks logged, as an open-addressing set of 2 * cap slots. */
	struct task_struct **set;
};

static struct plugsched_switch_log __percpu *plugsched_logs;

/* Whether @t is in @log's set; if not, add it there. */
static bool plugsched_log_seen(struct plugsched_switch_log *log, struct task_struct *t)
{
	unsigned int mask = 2 * log->cap - 1;
	unsigned int i = hash_ptr(t, ilog2(2 * log->cap));
	unsigned int probes;

	for (probes = 0; probes <= mask; probes++, i = (i + 1) & mask) {
		if (log->set[i] == t)
			return true;
		if (!log->set[i]) {
			log->set[i] = t;
			return false;
		}
	}
	return false;
}

static void plugsched_log_switch(void *data, bool preempt, struct task_struct *prev,
				 struct task_struct *next, unsigned int prev_state)
{
	struct plugsched_switch_log *log = this_cpu_ptr(plugsched_logs);

	/* Each task once per CPU, however often it switches. */
	if (log->overflow || plugsched_log_seen(log, prev))
		return;
	if (log->n == log->cap) {
		log->overflow = true;
		return;
	}
	get_task_struct(prev);
	log->tasks[log->n++] = prev;
}

static void plugsched_logs_free(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct plugsched_switch_log *log = per_cpu_ptr(plugsched_logs, cpu);

		while (log->n)
			put_task_struct(log->tasks[--log->n]);
		kfree(log->tasks);
		kfree(log->set);
	}
	free_percpu(plugsched_logs);
	plugsched_logs = NULL;
}

/* Start logging, @cap (a power of two) tasks per CPU.  Process context. */
int plugsched_switch_log_start(unsigned int cap)
{
	int cpu, ret;

	if (plugsched_logs)
		return -EBUSY;
	if (!cap || !is_power_of_2(cap))
		return -EINVAL;
	plugsched_logs = alloc_percpu(struct plugsched_switch_log);
	if (!plugsched_logs)
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		struct plugsched_switch_log *log = per_cpu_ptr(plugsched_logs, cpu);

		log->tasks = kcalloc(cap, sizeof(*log->tasks), GFP_KERNEL);
		log->set = kcalloc(2 * cap, sizeof(*log->set), GFP_KERNEL);
		if (!log->tasks || !log->set) {
			plugsched_logs_free();
			return -ENOMEM;
		}
		log->cap = cap;
	}
	ret = register_trace_sched_switch(plugsched_log_switch, NULL);
	if (ret)
		plugsched_logs_free();
	return ret;
}

/*
 * Stop logging and drop the references.  Process context, without
 * text_mutex (unregistering patches the tracepoint's static key).
 */
void plugsched_switch_log_stop(void)
{
	if (!plugsched_logs)
		return;
	unregister_trace_sched_switch(plugsched_log_switch, NULL);
	tracepoint_synchronize_unregister();
	plugsched_logs_free();
}

/*
 * Inside stop_machine: the tasks logged for @cpu (each with a reference
 * until plugsched_switch_log_stop()), and whether its log overflowed.
 */
struct task_struct *const *plugsched_switch_log_get(unsigned int cpu, unsigned int *n,
						    bool *overflow)
{
	struct plugsched_switch_log *log = per_cpu_ptr(plugsched_logs, cpu);

	*n = log->n;
	*overflow = log->overflow;
	return log->tasks;
}
