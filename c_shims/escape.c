// SPDX-License-Identifier: GPL-2.0
/*
 * What the module's scheduler code may have left in long-lived kernel
 * objects besides the timers and works that plugsched_module_pointers()
 * (rq.c) scans: the lock class keys and names of the scheduler's locks
 * (lockdep keeps both: a key or name in module memory is read after the
 * module is gone), the IPI callbacks of every runqueue and the remote
 * tick's work.  The build
 * makes all of them vmlinux's (plugsched bind-data binds keys and names,
 * callbacks are referenced by their vmlinux names), so none is expected;
 * this is the check after a rollback that it is so
 * (Documentation/live-update.rst, "Data").
 *
 * Needs the scheduler's private types, hence kernel/sched/ on the include
 * path, as rq.c.
 */
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>

#include "sched.h"

#include "shims.h"

static unsigned long in_module(const void *p)
{
	return p && within_module((unsigned long)p, THIS_MODULE);
}

#ifdef CONFIG_LOCKDEP
static unsigned long map_pointers(const struct lockdep_map *map)
{
	return in_module(map->key) + in_module(map->name);
}
#endif
#ifdef CONFIG_DEBUG_LOCK_ALLOC
#define RAW_LOCK(l) map_pointers(&(l)->dep_map)
#else
#define RAW_LOCK(l) 0UL
#endif

#ifdef CONFIG_NO_HZ_FULL
/*
 * The remote tick of nohz_full CPUs (core.c's type: build-module.sh runs
 * the layout check on this object too, so it is vmlinux's layout).  Set
 * up by sched_tick_start() when a CPU comes online, and requeued every
 * second for as long as the CPU is online.
 */
struct tick_work {
	int			cpu;
	atomic_t		state;
	struct delayed_work	work;
};
extern struct tick_work __percpu *tick_work_cpu;

static unsigned long tick_work_pointers(void)
{
	unsigned long n = 0;
	int cpu;

	if (!tick_work_cpu)
		return 0;
	for_each_possible_cpu(cpu) {
		struct delayed_work *w = &per_cpu_ptr(tick_work_cpu, cpu)->work;

		n += in_module(w->work.func) + in_module(w->timer.function);
#ifdef CONFIG_LOCKDEP
		n += map_pointers(&w->work.lockdep_map) + map_pointers(&w->timer.lockdep_map);
#endif
	}
	return n;
}
#else
static unsigned long tick_work_pointers(void)
{
	return 0;
}
#endif

static unsigned long rq_pointers(struct rq *rq)
{
	unsigned long n = RAW_LOCK(&rq->__lock) + RAW_LOCK(&rq->cfs.removed.lock);

	if (rq->rd)
		n += RAW_LOCK(&rq->rd->rto_lock) + RAW_LOCK(&rq->rd->dl_bw.lock) +
		     RAW_LOCK(&rq->rd->cpudl.lock);
#ifdef CONFIG_NO_HZ_COMMON
	n += in_module(rq->nohz_csd.func);
#endif
#ifdef CONFIG_SCHED_HRTICK
	n += in_module(rq->hrtick_csd.func);
#endif
#ifdef CONFIG_CFS_BANDWIDTH
	n += in_module(rq->cfsb_csd.func);
#endif
	return n;
}

static unsigned long task_group_pointers(struct task_group *tg)
{
	unsigned long n = 0;
#ifdef CONFIG_FAIR_GROUP_SCHED
	int cpu;

	if (tg->cfs_rq)
		for_each_possible_cpu(cpu)
			n += RAW_LOCK(&tg_cfs_rq(tg, cpu)->removed.lock);
#endif
#ifdef CONFIG_CFS_BANDWIDTH
	n += RAW_LOCK(&tg->cfs_bandwidth.lock);
#endif
	return n;
}

/*
 * Pointers into this module among the lock keys and names of every
 * runqueue, root domain, task group and task (the stop tasks' pi_lock has
 * its own class), the runqueues' IPI callbacks and the remote tick's
 * work.  Process context.
 */
unsigned long plugsched_module_lock_pointers(void)
{
	struct task_struct *g, *p;
	struct task_group *tg;
	unsigned long n = 0;
	int cpu;

	rcu_read_lock();
	for_each_possible_cpu(cpu)
		n += rq_pointers(cpu_rq(cpu));
	list_for_each_entry_rcu(tg, &task_groups, list)
		n += task_group_pointers(tg);
	for_each_process_thread(g, p)
		n += RAW_LOCK(&p->pi_lock);
	rcu_read_unlock();
	return n + tick_work_pointers();
}

/*
 * Module exit, after the rollback: every RCU callback queued so far has
 * run.  The build leaves none that points into the module, but one that
 * did would run on freed memory.
 */
void plugsched_rcu_barrier(void)
{
	rcu_barrier();
}
