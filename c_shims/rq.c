// SPDX-License-Identifier: GPL-2.0
/*
 * Thin C layer of the runqueue rebuild: what a whole-scheduler update does
 * to each CPU's runqueue inside the stop_machine rendezvous
 * (Documentation/live-update.rst).  It needs the scheduler's private types
 * (struct rq, rq_lock(), the enqueue/dequeue flags), hence its own object
 * built with kernel/sched/ on the include path.
 *
 * Every call goes through a vmlinux symbol or a sched_class method, so it
 * runs whichever code is live: the clear runs the code being replaced (its
 * entries are not redirected yet, or are about to be restored), and the
 * rebuild, which runs after the patch phase and sync_core(), the code that
 * replaces it.  dequeue_task()/enqueue_task() stay in vmlinux (they are not
 * in the boundary's border) and call the class methods, which are
 * redirected.
 *
 * Called on every CPU, each for its own runqueue, with interrupts off and
 * every other CPU in the rendezvous: nothing here sleeps or allocates.
 */
#include <linux/sched/signal.h>

#include "sched.h"

#include "shims.h"

/*
 * Whether a sched_ext (BPF) scheduler is loaded, or being loaded (the key's
 * count is -1 while it is being enabled): its tasks live in queues that
 * only it knows, so no generic rebuild is possible.
 */
bool plugsched_scx_enabled(void)
{
#ifdef CONFIG_SCHED_CLASS_EXT
	return scx_enabled() || atomic_read(&__scx_enabled.key.enabled) != 0;
#else
	return false;
#endif
}

/* Tasks a rebuild handles: queued on @rq, other than the running stopper. */
static bool plugsched_rebuilt(struct rq *rq, struct task_struct *p)
{
	return task_cpu(p) == cpu_of(rq) && p != rq->curr && task_on_rq_queued(p);
}

/*
 * Before anything changes: this CPU's runqueue can be cleared and rebuilt.
 * Balance callbacks are queued and run within one rq-lock section; one
 * pending now (or hotplug's balance_push) would be run by the wrong code.
 */
int plugsched_rq_check(void)
{
	struct rq *rq = this_rq();

	if (rq->curr != current)
		return -EINVAL;
	if (rq->balance_callback)
		return -EBUSY;
	/* Checked before, but the key may have been enabled since. */
	if (plugsched_scx_enabled())
		return -EBUSY;
	return 0;
}

/*
 * Empty this CPU's runqueue with the live (old) code: finish every delayed
 * dequeue (those tasks are asleep; they become ordinary blocked tasks) and
 * dequeue every other queued task with DEQUEUE_SAVE | DEQUEUE_MOVE, which
 * keeps p->on_rq set, so the rebuild finds the same tasks.  Returns 0, or
 * -EBUSY when something is still queued afterwards: a task that is no
 * longer on the task list (exiting) but still runnable.  Either way the
 * caller must run plugsched_rq_rebuild() on this CPU.
 */
int plugsched_rq_clear(struct plugsched_rq_stats *st)
{
	struct rq *rq = this_rq();
	struct task_struct *g, *p;
	struct rq_flags rf;
	int ret = 0;

	rq_lock(rq, &rf);
	update_rq_clock(rq);
	st->nr_running_before = rq->nr_running;
	rcu_read_lock();
	for_each_process_thread(g, p) {
		if (!plugsched_rebuilt(rq, p))
			continue;
		if (p->se.sched_delayed) {
			dequeue_task(rq, p, DEQUEUE_SLEEP | DEQUEUE_DELAYED | DEQUEUE_NOCLOCK);
			st->finished_delayed++;
			continue;
		}
		dequeue_task(rq, p, DEQUEUE_SAVE | DEQUEUE_MOVE | DEQUEUE_NOCLOCK);
		st->dequeued++;
	}
	rcu_read_unlock();
	/* Only the stopper is left. */
	if (rq->nr_running != 1 || rq->cfs.h_nr_queued || rq->rt.rt_nr_running)
		ret = -EBUSY;
	rq_unlock(rq, &rf);
	return ret;
}

/*
 * Refill this CPU's runqueue with the live (new) code: every task the clear
 * dequeued is enqueued again with ENQUEUE_RESTORE | ENQUEUE_MOVE.  Tasks
 * waiting on a wake list are not queued yet (p->on_rq == 0); the new code's
 * wake-up path queues them after the rendezvous.
 */
void plugsched_rq_rebuild(struct plugsched_rq_stats *st)
{
	struct rq *rq = this_rq();
	struct task_struct *g, *p;
	struct rq_flags rf;

	rq_lock(rq, &rf);
	update_rq_clock(rq);
	rcu_read_lock();
	for_each_process_thread(g, p) {
		if (!plugsched_rebuilt(rq, p))
			continue;
		enqueue_task(rq, p, ENQUEUE_RESTORE | ENQUEUE_MOVE | ENQUEUE_NOCLOCK);
		st->enqueued++;
	}
	rcu_read_unlock();
	st->nr_running_after = rq->nr_running;
	/* Let the new code pick again on this CPU once the stopper is done. */
	resched_curr(rq);
	rq_unlock(rq, &rf);
}

static bool plugsched_in_module(const void *p)
{
	return p && within_module((unsigned long)p, THIS_MODULE);
}

/* This module's core text: [*base, *base + *size). */
void plugsched_module_text(unsigned long *base, unsigned long *size)
{
	*base = (unsigned long)THIS_MODULE->mem[MOD_TEXT].base;
	*size = THIS_MODULE->mem[MOD_TEXT].size;
}

struct task_struct *plugsched_current(void)
{
	return current;
}

/* A reference nobody drops: the module can no longer be unloaded. */
void plugsched_pin_module(void)
{
	__module_get(THIS_MODULE);
}

/*
 * After a rollback: the number of pointers into this module left in the
 * scheduler's data that outlives it (timers and works of every runqueue and
 * its root domain, bandwidth timers of every task group, deadline timers,
 * NUMA and throttle works of every task, queued balance callbacks).  The boundary keeps every
 * stored function pointer a vmlinux address, so this must be 0: the module
 * memory is about to be freed.  Process context.
 */
unsigned long plugsched_module_pointers(void)
{
	struct task_struct *g, *p;
	struct balance_callback *cb;
	struct task_group *tg;
	unsigned long n = 0;
	int cpu;

	rcu_read_lock();
	for_each_possible_cpu(cpu) {
		struct rq *rq = cpu_rq(cpu);

#ifdef CONFIG_SCHED_HRTICK
		n += plugsched_in_module(rq->hrtick_timer.function);
#endif
		n += plugsched_in_module(rq->fair_server.dl_timer.function);
		n += plugsched_in_module(rq->fair_server.inactive_timer.function);
#ifdef CONFIG_SCHED_CLASS_EXT
		n += plugsched_in_module(rq->ext_server.dl_timer.function);
		n += plugsched_in_module(rq->ext_server.inactive_timer.function);
#endif
#ifdef HAVE_RT_PUSH_IPI
		if (rq->rd)
			n += plugsched_in_module(rq->rd->rto_push_work.func);
#endif
		n += plugsched_in_module(rq->active_balance_work.fn);
		n += plugsched_in_module(rq->push_work.fn);
		for (cb = READ_ONCE(rq->balance_callback); cb; cb = READ_ONCE(cb->next)) {
			n += plugsched_in_module(cb->func);
			if (cb->next == cb)
				break;
		}
	}
#ifdef CONFIG_CFS_BANDWIDTH
	list_for_each_entry_rcu(tg, &task_groups, list) {
		n += plugsched_in_module(tg->cfs_bandwidth.period_timer.function);
		n += plugsched_in_module(tg->cfs_bandwidth.slack_timer.function);
	}
#endif
	for_each_process_thread(g, p) {
		n += plugsched_in_module(p->dl.dl_timer.function);
		n += plugsched_in_module(p->dl.inactive_timer.function);
#ifdef CONFIG_NUMA_BALANCING
		n += plugsched_in_module(p->numa_work.func);
#endif
#ifdef CONFIG_CFS_BANDWIDTH
		n += plugsched_in_module(p->sched_throttle_work.func);
#endif
	}
	rcu_read_unlock();
	return n;
}
