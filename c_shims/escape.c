// SPDX-License-Identifier: GPL-2.0
/*
 * What the module's scheduler code may have left in long-lived kernel
 * objects: the timers and works of every runqueue, task group and task,
 * queued balance callbacks, the lock class keys and names of the
 * scheduler's locks (lockdep keeps both: a key or name in module memory
 * is read after the module is gone), the IPI callbacks of every runqueue
 * and the remote tick's work.  The build makes all of them vmlinux's
 * (plugsched bind-data binds keys and names, callbacks are referenced by
 * their vmlinux names), so none is expected; this is the check after a
 * rollback that it is so (Documentation/live-update.rst, "Data"): one
 * walk over every CPU, task group and task, one check per object.
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

/*
 * A runqueue: its timers and works (and its root domain's), queued balance
 * callbacks, lock keys and names (its root domain's too) and IPI callbacks.
 */
static unsigned long rq_pointers(struct rq *rq)
{
	struct balance_callback *cb;
	unsigned long n = 0;

#ifdef CONFIG_SCHED_HRTICK
	n += in_module(rq->hrtick_timer.function);
#endif
	n += in_module(rq->fair_server.dl_timer.function);
	n += in_module(rq->fair_server.inactive_timer.function);
#ifdef CONFIG_SCHED_CLASS_EXT
	n += in_module(rq->ext_server.dl_timer.function);
	n += in_module(rq->ext_server.inactive_timer.function);
#endif
#ifdef HAVE_RT_PUSH_IPI
	if (rq->rd)
		n += in_module(rq->rd->rto_push_work.func);
#endif
	n += in_module(rq->active_balance_work.fn);
	n += in_module(rq->push_work.fn);
	for (cb = READ_ONCE(rq->balance_callback); cb; cb = READ_ONCE(cb->next)) {
		n += in_module(cb->func);
		if (cb->next == cb)
			break;
	}

	n += RAW_LOCK(&rq->__lock) + RAW_LOCK(&rq->cfs.removed.lock);
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

/* A task group: its bandwidth timers and lock keys and names. */
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
	n += in_module(tg->cfs_bandwidth.period_timer.function);
	n += in_module(tg->cfs_bandwidth.slack_timer.function);
	n += RAW_LOCK(&tg->cfs_bandwidth.lock);
#endif
	return n;
}

/*
 * A task: its deadline timers, NUMA and throttle works, and its pi_lock's
 * key and name (the stop tasks' pi_lock has its own class).
 */
static unsigned long task_pointers(struct task_struct *p)
{
	unsigned long n = 0;

	n += in_module(p->dl.dl_timer.function);
	n += in_module(p->dl.inactive_timer.function);
#ifdef CONFIG_NUMA_BALANCING
	n += in_module(p->numa_work.func);
#endif
#ifdef CONFIG_CFS_BANDWIDTH
	n += in_module(p->sched_throttle_work.func);
#endif
	return n + RAW_LOCK(&p->pi_lock);
}

/*
 * After a rollback: the number of pointers into this module left in the
 * scheduler's data that outlives it (every runqueue, task group and task,
 * and the remote tick's work).  The boundary keeps every stored function
 * pointer a vmlinux address and the build binds every lock key and name,
 * so this must be 0: the module memory is about to be freed.  Process
 * context.
 */
unsigned long plugsched_module_pointers(void)
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
		n += task_pointers(p);
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
