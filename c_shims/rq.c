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
 * every other CPU in the rendezvous: nothing here sleeps or allocates (the
 * per-CPU task buffers are allocated before, plugsched_rq_bufs_alloc()).
 */
#ifdef CONFIG_RT_GROUP_SCHED
#error "the rebuild takes every RT entity for a task: RT_GROUP_SCHED is not supported"
#endif
#include <linux/mm.h>
#include <linux/sched/deadline.h>
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
 * Per CPU, the tasks the clear dequeued, in the order of their queues, for
 * the rebuild to enqueue again in that order.  Allocated before the
 * rendezvous (plugsched_rq_bufs_alloc()), used by the owning CPU only.
 */
struct plugsched_rq_entry {
	struct task_struct *p;
	s64 lag;			/* fair: lag before, weighted (lag_i) */
	u64 clamped;			/* fair: what its dequeue clamped */
	unsigned long util, load;	/* fair: PELT averages, before */
};

struct plugsched_rq_buf {
	struct plugsched_rq_entry *tasks;
	unsigned int cap, len;
};
static DEFINE_PER_CPU(struct plugsched_rq_buf, plugsched_rq_buf);

void plugsched_rq_bufs_free(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct plugsched_rq_buf *buf = per_cpu_ptr(&plugsched_rq_buf, cpu);

		kvfree(buf->tasks);
		*buf = (struct plugsched_rq_buf){};
	}
}

/*
 * Room for every task queued on each online CPU, with slack for the tasks
 * woken before the rendezvous; a clear that runs out of room changes
 * nothing and fails with -ENOSPC (the switch is retried).  Process
 * context, cpus_read_lock() held.
 */
int plugsched_rq_bufs_alloc(void)
{
	int cpu;

	for_each_online_cpu(cpu) {
		struct plugsched_rq_buf *buf = per_cpu_ptr(&plugsched_rq_buf, cpu);
		unsigned int cap = 2 * READ_ONCE(cpu_rq(cpu)->nr_running) + 64;

		buf->tasks = kvmalloc_array(cap, sizeof(*buf->tasks), GFP_KERNEL);
		if (!buf->tasks) {
			plugsched_rq_bufs_free();
			return -ENOMEM;
		}
		buf->cap = cap;
		buf->len = 0;
	}
	return 0;
}

static int plugsched_rq_add(struct plugsched_rq_buf *buf, struct task_struct *p)
{
	if (buf->len == buf->cap)
		return -ENOSPC;
	buf->tasks[buf->len++] = (struct plugsched_rq_entry){ .p = p };
	return 0;
}

/*
 * Record, without changing anything, every task queued in @rq's class
 * queues, each class in the order of its queue: deadline tasks by
 * deadline (servers are not tasks and stay queued), RT tasks by priority
 * and, within one, from head to tail, fair tasks in the order of the
 * timeline.  Tasks queued for the core but in no class queue stay as they
 * are: throttled fair tasks on their cfs_rq's limbo list, throttled
 * deadline tasks waiting for their replenishment timer; both are already
 * outside nr_running.  Fails (-EAGAIN) if the queues do not account for
 * rq->nr_running, the stopper being the one task not in them.
 */
static int plugsched_rq_collect(struct rq *rq, struct plugsched_rq_buf *buf)
{
	struct sched_rt_entity *rt_se;
	struct rb_node *node;
	int prio, ret;

	buf->len = 0;
	for (node = rb_first_cached(&rq->dl.root); node; node = rb_next(node)) {
		struct sched_dl_entity *dl_se = rb_entry(node, struct sched_dl_entity, rb_node);

		if (dl_server(dl_se))
			continue;
		ret = plugsched_rq_add(buf, dl_task_of(dl_se));
		if (ret)
			return ret;
	}
	for (prio = 0; prio < MAX_RT_PRIO; prio++) {
		list_for_each_entry(rt_se, &rq->rt.active.queue[prio], run_list) {
			ret = plugsched_rq_add(buf, container_of(rt_se, struct task_struct, rt));
			if (ret)
				return ret;
		}
	}
	for (node = rb_first_cached(&rq->cfs.tasks_timeline); node; node = rb_next(node)) {
		struct sched_entity *se = rb_entry(node, struct sched_entity, run_node);

		if (!entity_is_task(se))
			return -EINVAL;
		ret = plugsched_rq_add(buf, container_of(se, struct task_struct, se));
		if (ret)
			return ret;
	}
	return buf->len + 1 == rq->nr_running ? 0 : -EAGAIN;
}

static bool plugsched_is_fair(struct task_struct *p)
{
	return p->sched_class == &fair_sched_class;
}

static u64 plugsched_abs_diff(s64 a, s64 b)
{
	return a > b ? a - b : b - a;
}

/*
 * Finish every delayed dequeue among the recorded tasks (those tasks are
 * asleep: they become ordinary blocked tasks, as on their next pick) and
 * drop them from the buffer.  First, so that the fair tasks' lags saved by
 * the dequeues after are relative to the queue without them.
 */
static void plugsched_rq_finish_delayed(struct rq *rq, struct plugsched_rq_buf *buf,
					struct plugsched_rq_stats *st)
{
	unsigned int i, kept = 0;

	for (i = 0; i < buf->len; i++) {
		struct task_struct *p = buf->tasks[i].p;

		if (p->se.sched_delayed) {
			dequeue_task(rq, p, DEQUEUE_SLEEP | DEQUEUE_DELAYED | DEQUEUE_NOCLOCK);
			st->finished_delayed++;
			continue;
		}
		buf->tasks[kept++] = buf->tasks[i];
	}
	buf->len = kept;
}

/*
 * A fair entity's weight in the queue's average, as a u64 (se->h_load: in
 * 7.3's flattened EEVDF, a task of a task group weighs its share of the
 * group's load on this CPU).
 */
static u64 plugsched_fair_weight(struct sched_entity *se)
{
	return se->h_load.weight;
}

/*
 * Dequeue every recorded task with DEQUEUE_SAVE | DEQUEUE_MOVE, in order,
 * noting for each fair task what the rebuild should give back: its lag
 * lag_i = w_i * (V - v_i) against the whole queue before the first
 * dequeue, and its PELT averages as its dequeue left them.  The sum of
 * the lags of a queue is zero, whatever the weights, so the whole queue
 * can have them all back.  Not less what a dequeue clamps (the limit a
 * task leaving the queue gets): every task comes back, and a lag clamped
 * away would go to the other tasks through the average.
 */
static void plugsched_rq_dequeue_all(struct rq *rq, struct plugsched_rq_buf *buf,
				     struct plugsched_rq_stats *st)
{
	u64 avg = avg_vruntime(&rq->cfs);
	unsigned int i;
	s64 lag;

	for (i = 0; i < buf->len; i++) {
		struct plugsched_rq_entry *e = &buf->tasks[i];

		if (plugsched_is_fair(e->p))
			e->lag = (s64)(avg - e->p->se.vruntime);
	}
	for (i = 0; i < buf->len; i++) {
		struct plugsched_rq_entry *e = &buf->tasks[i];
		struct sched_entity *se = &e->p->se;

		lag = (s64)(avg_vruntime(&rq->cfs) - se->vruntime);
		dequeue_task(rq, e->p, DEQUEUE_SAVE | DEQUEUE_MOVE | DEQUEUE_NOCLOCK);
		e->util = se->avg.util_avg;
		e->load = se->avg.load_avg;
		if (!plugsched_is_fair(e->p))
			continue;
		e->clamped = plugsched_abs_diff(lag, se->vlag);
		e->lag *= (s64)plugsched_fair_weight(se);
	}
}

/*
 * Empty this CPU's runqueue with the live (old) code: finish the delayed
 * dequeues, then dequeue every other queued task with DEQUEUE_SAVE |
 * DEQUEUE_MOVE, which keeps p->on_rq set.  The tasks come from the
 * runqueue itself, not from the task list, so a task that has left the
 * task list (exiting) is handled like any other.  Returns 0; -ENOSPC,
 * -EAGAIN or -EINVAL with nothing changed (see plugsched_rq_collect()); or
 * -EBUSY when something is still queued afterwards.  Either way the caller
 * must run plugsched_rq_rebuild() on this CPU.
 */
int plugsched_rq_clear(struct plugsched_rq_stats *st)
{
	struct plugsched_rq_buf *buf = this_cpu_ptr(&plugsched_rq_buf);
	struct rq *rq = this_rq();
	struct rq_flags rf;
	int ret;

	rq_lock(rq, &rf);
	update_rq_clock(rq);
	st->nr_running_before = rq->nr_running;
	ret = plugsched_rq_collect(rq, buf);
	if (ret) {
		buf->len = 0;
		goto out;
	}
	plugsched_rq_finish_delayed(rq, buf, st);
	plugsched_rq_dequeue_all(rq, buf, st);
	st->dequeued = buf->len;
	/* Only the stopper is left. */
	if (rq->nr_running != 1 || rq->cfs.h_nr_queued || rq->rt.rt_nr_running)
		ret = -EBUSY;
out:
	rq_unlock(rq, &rf);
	return ret;
}

/*
 * After the rebuild: how far each fair task's lag and PELT averages moved,
 * the largest and the sum (Documentation/live-update.rst, "What a switch
 * keeps").  Lags are compared weighted, lag_i = w_i * (V - v_i), and
 * reported in ns of a nice-0 task: a weight change keeps lag_i and
 * rescales V - v_i, as in reweight_eevdf().
 */
static void plugsched_rq_fair_drift(struct rq *rq, struct plugsched_rq_buf *buf,
				    struct plugsched_rq_stats *st)
{
	u64 avg = avg_vruntime(&rq->cfs), d;
	unsigned int i;
	s64 lag;

	for (i = 0; i < buf->len; i++) {
		struct plugsched_rq_entry *e = &buf->tasks[i];
		struct sched_entity *se = &e->p->se;

		if (!plugsched_is_fair(e->p))
			continue;
		st->fair++;
		st->lag_clamp_max = max(st->lag_clamp_max, e->clamped);
#ifdef CONFIG_FAIR_GROUP_SCHED
		st->grouped += !!se->parent;
#endif
		lag = (s64)(avg - se->vruntime) * (s64)plugsched_fair_weight(se);
		d = div64_u64(plugsched_abs_diff(lag, e->lag), NICE_0_LOAD);
		st->lag_drift_sum += d;
		st->lag_drift_max = max(st->lag_drift_max, d);
		d = plugsched_abs_diff(se->avg.util_avg, e->util);
		st->util_drift_max = max(st->util_drift_max, d);
		d = plugsched_abs_diff(se->avg.load_avg, e->load);
		st->load_drift_max = max(st->load_drift_max, d);
	}
}

/*
 * Where the queue's fair tasks are going, while the rebuild puts them back
 * one by one (last out, first in): the sum of their lags lag_j and of
 * their weights w_j.  Were each at its lag, v_j = V0 - lag_j / w_j for one
 * V0, the queue's average would be V0 - lag_sum / weight_sum.
 */
struct plugsched_fair_refill {
	s64 lag_sum;
	u64 weight_sum;
};

/*
 * Enqueue fair task @e->p so that it gets its lag back: each enqueue
 * computes the task's weight anew (a task of a task group weighs its share
 * of the group's load, which grows as the group's tasks come back), and
 * place_entity() gives a task its saved V - v_i against the queue it
 * joins.  With an unchanged weight and nothing clamped by its dequeue the
 * saved V - v_i is right; otherwise the task is placed again, once its new
 * weight w is known, at
 *
 *   V - v_i = lag_i / w - lag_sum / weight_sum
 *
 * (sums over the tasks back so far, itself included): every task then
 * sits at v_j = V0 - lag_j / w_j for the same V0, so every lag is kept
 * once the queue is whole.  The dequeue/enqueue of the second placement
 * gives the same weight again: nothing else changed in between.
 */
static void plugsched_rq_enqueue_fair(struct rq *rq, struct plugsched_rq_entry *e,
				      struct plugsched_fair_refill *r,
				      struct plugsched_rq_stats *st)
{
	const int flags = ENQUEUE_RESTORE | ENQUEUE_MOVE | ENQUEUE_NOCLOCK;
	struct sched_entity *se = &e->p->se;
	s64 want, now;
	u64 w;

	enqueue_task(rq, e->p, flags);
	/* (Not queued: parked by CFS bandwidth, out of the average.) */
	if (!se->on_rq)
		return;
	w = plugsched_fair_weight(se);
	r->lag_sum += e->lag;
	r->weight_sum += w;
	want = div64_s64(e->lag, w) - div64_s64(r->lag_sum, r->weight_sum);
	now = (s64)(avg_vruntime(&rq->cfs) - se->vruntime);
	if (plugsched_abs_diff(want, now) <= 1 || rq->cfs.curr)
		return;
	dequeue_task(rq, e->p, DEQUEUE_SAVE | DEQUEUE_MOVE | DEQUEUE_NOCLOCK);
	se->vlag = want;
	enqueue_task(rq, e->p, flags);
	r->weight_sum += plugsched_fair_weight(se) - w;
	st->replaced++;
}

/*
 * Refill this CPU's runqueue with the live (new) code: every task the clear
 * dequeued is enqueued again with ENQUEUE_RESTORE | ENQUEUE_MOVE.  Deadline
 * and RT tasks in the order the clear found them, each to the tail of its
 * queue, so every RT priority list and every set of equal deadlines keeps
 * its order.  Fair tasks in the reverse order, each with its lag
 * (plugsched_rq_enqueue_fair()), and with the weight its enqueue gave it,
 * as after any enqueue (the next tick or pick of a task of a task group
 * brings its share up to date, keeping its lag).  Tasks waiting on a wake
 * list are not queued yet (p->on_rq == 0); the new code's wake-up path
 * queues them after the rendezvous.
 */
void plugsched_rq_rebuild(struct plugsched_rq_stats *st)
{
	struct plugsched_rq_buf *buf = this_cpu_ptr(&plugsched_rq_buf);
	const int flags = ENQUEUE_RESTORE | ENQUEUE_MOVE | ENQUEUE_NOCLOCK;
	struct plugsched_fair_refill refill = {};
	struct rq *rq = this_rq();
	struct rq_flags rf;
	unsigned int i;

	rq_lock(rq, &rf);
	/*
	 * The clock the clear read: for the tasks the rendezvous is one
	 * instant, so their accounting (PELT, runtimes, deadlines) continues
	 * where the clear left it, and the next clock update accounts the
	 * rendezvous as time they spent queued, as they would have without
	 * the switch.  (Reading the clock here would account it as time they
	 * spent dequeued.)
	 */
	rq->clock_update_flags |= RQCF_UPDATED;
	for (i = 0; i < buf->len; i++) {
		if (!plugsched_is_fair(buf->tasks[i].p)) {
			enqueue_task(rq, buf->tasks[i].p, flags);
			st->enqueued++;
		}
	}
	for (i = buf->len; i-- > 0;) {
		if (plugsched_is_fair(buf->tasks[i].p)) {
			plugsched_rq_enqueue_fair(rq, &buf->tasks[i], &refill, st);
			st->enqueued++;
		}
	}
	plugsched_rq_fair_drift(rq, buf, st);
	buf->len = 0;
	st->nr_running_after = rq->nr_running;
	/* Let the new code pick again on this CPU once the stopper is done. */
	resched_curr(rq);
	rq_unlock(rq, &rf);
}

/* This module's core text: [*base, *base + *size). */
void plugsched_module_text(unsigned long *base, unsigned long *size)
{
	*base = (unsigned long)THIS_MODULE->mem[MOD_TEXT].base;
	*size = THIS_MODULE->mem[MOD_TEXT].size;
}

/* A reference nobody drops: the module can no longer be unloaded. */
void plugsched_pin_module(void)
{
	__module_get(THIS_MODULE);
}
