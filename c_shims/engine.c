// SPDX-License-Identifier: GPL-2.0
/*
 * Thin C layer of the live-update engine: what Rust cannot reach because it
 * is a macro or an inline function (for_each_process_thread,
 * try_get_task_stack, ...) or is not exported from vmlinux (stop_machine's
 * cpuslocked variant, idle_task, the reliable stack walker,
 * ...).  Non-exported symbols are bound at load through klp relocations.
 * Writing kernel text is per architecture: text_x86.c, text_arm64.c.
 *
 * No logic lives here: every decision is made by the Rust side
 * (rust/engine.rs, rust/plugsched_core/).
 */
#include <linux/bsearch.h>
#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/ftrace.h>
#include <linux/jump_label.h>
#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/livepatch.h>
#include <linux/memory.h>
#include <linux/module.h>
#include <linux/module_symbol.h>
#include <linux/nmi.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/sched/signal.h>
#include <linux/sched/task_stack.h>
#include <linux/stacktrace.h>
#include <linux/static_call.h>
#include <linux/stop_machine.h>
#include <linux/string.h>
#include <asm/text-patching.h>

#include "manifest.h"
#include "shims.h"

/* Not declared in any header the module can include. */
struct task_struct *idle_task(int cpu);
extern struct mutex ftrace_lock;
int ftrace_ops_test(struct ftrace_ops *ops, unsigned long ip, void *regs);
#ifdef CONFIG_KPROBES
extern struct mutex kprobe_mutex;
extern struct hlist_head kprobe_table[];
#endif
#ifdef CONFIG_LIVEPATCH
extern struct mutex klp_mutex;
extern struct list_head klp_patches;
#endif

void plugsched_cpus_read_lock(void)
{
	cpus_read_lock();
}

void plugsched_cpus_read_unlock(void)
{
	cpus_read_unlock();
}

void plugsched_text_mutex_lock(void)
{
	mutex_lock(&text_mutex);
}

void plugsched_text_mutex_unlock(void)
{
	mutex_unlock(&text_mutex);
}

/* Caller holds cpus_read_lock(): the online mask cannot change. */
int plugsched_stop_machine_cpuslocked(int (*fn)(void *), void *data)
{
	return stop_machine_cpuslocked(fn, data, cpu_online_mask);
}

/* Next online CPU after @cpu (-1 to start); >= nr_cpu_ids at the end. */
unsigned int plugsched_next_online_cpu(int cpu)
{
	return cpumask_next(cpu, cpu_online_mask);
}

u64 plugsched_local_clock(void)
{
	return local_clock();
}

void plugsched_touch_nmi_watchdog(void)
{
	touch_nmi_watchdog();
}

/*
 * Visit every thread of every process, in list order: inside stop_machine
 * (the list is stable), or in process context (tasks may come and go; each
 * is valid during its visit).
 */
void plugsched_for_each_task(void (*fn)(void *, struct task_struct *, unsigned long),
			     void *data)
{
	struct task_struct *g, *t;
	unsigned long i = 0;

	rcu_read_lock();
	for_each_process_thread(g, t)
		fn(data, t, i++);
	rcu_read_unlock();
}

/* NULL for a CPU that never came up. */
struct task_struct *plugsched_idle_task(unsigned int cpu)
{
	return idle_task(cpu);
}

/* Whether @t is on a CPU right now (inside stop_machine: a stopper). */
bool plugsched_task_on_cpu(struct task_struct *t)
{
	return READ_ONCE(t->on_cpu) || t == current;
}

/* Whether @t is a CPU's idle task. */
bool plugsched_task_is_idle(struct task_struct *t)
{
	return is_idle_task(t);
}

void plugsched_task_info(struct task_struct *t, int *pid, char *comm, size_t len)
{
	*pid = t->pid;
	strscpy(comm, t->comm, len);
}

/*
 * Walk the kernel stack of the inactive task @t with the reliable unwinder,
 * calling @consume for every return address until it returns false.
 * Returns 0 when the whole stack was walked, -EINVAL when the unwinder
 * could not walk it reliably (or @consume stopped it), -ESRCH when the
 * task's stack is already gone (the task has exited for good).
 */
int plugsched_walk_stack(struct task_struct *t,
			 bool (*consume)(void *, unsigned long), void *cookie)
{
	int ret;

	if (!try_get_task_stack(t))
		return -ESRCH;
	ret = arch_stack_walk_reliable(consume, cookie, t);
	put_task_stack(t);
	return ret;
}

/*
 * The return addresses of the inactive task @t as the unwinder finds them
 * without the reliability checks (up to @n; their number): for the log of
 * a stack the reliable unwinder gave up on.  Inside stop_machine too.
 */
unsigned int plugsched_stack_trace(struct task_struct *t, unsigned long *entries,
				   unsigned int n)
{
	return stack_trace_save_tsk(t, entries, n, 0);
}

/* Log @n return addresses, one a line. */
void plugsched_log_trace(const unsigned long *entries, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		pr_err("plugsched:     %pS\n", (void *)entries[i]);
}

/* @t's context-switch count and start time (see pcore::taskmap::Mark). */
void plugsched_task_mark(struct task_struct *t, struct plugsched_task_mark *mark)
{
	mark->switches = READ_ONCE(t->nvcsw) + READ_ONCE(t->nivcsw);
	mark->start = t->start_time;
}

struct plugsched_held_walk {
	bool (*consume)(void *, unsigned long);
	void *cookie;
	struct plugsched_task_mark *mark;
};

static int plugsched_walk_held(struct task_struct *t, void *arg)
{
	struct plugsched_held_walk *w = arg;

	if (READ_ONCE(t->on_cpu))
		return -EBUSY;
	plugsched_task_mark(t, w->mark);
	return plugsched_walk_stack(t, w->consume, w->cookie);
}

/*
 * Process context (the check before the rendezvous): walk @t's stack as
 * plugsched_walk_stack() does, while task_call_func() holds @t off CPU (its
 * pi_lock, and its runqueue's lock if it is queued: it can neither be woken
 * nor run), as livepatch checks a task's stack; @mark gets its mark, read
 * under the same locks.  -EBUSY if @t is running.
 */
int plugsched_walk_stack_held(struct task_struct *t,
			      bool (*consume)(void *, unsigned long), void *cookie,
			      struct plugsched_task_mark *mark)
{
	struct plugsched_held_walk w = {
		.consume = consume,
		.cookie = cookie,
		.mark = mark,
	};

	return task_call_func(t, plugsched_walk_held, &w);
}

/* Size of the kernel symbol containing @addr, and @addr's offset in it. */
bool plugsched_ksym_size_offset(unsigned long addr, unsigned long *size,
				unsigned long *offset)
{
	return kallsyms_lookup_size_offset(addr, size, offset);
}

int plugsched_for_each_ksym(int (*fn)(void *, const char *, unsigned long), void *data)
{
	return kallsyms_on_each_symbol(fn, data);
}

struct plugsched_module_symbol_visit {
	void (*fn)(void *, unsigned long);
	void *data;
};

static int plugsched_module_symbol_visit(void *data, const char *name, unsigned long addr)
{
	struct plugsched_module_symbol_visit *v = data;

	/* What find_kallsyms_symbol() weighs besides defined symbols. */
	if (*name && !is_mapping_symbol(name))
		v->fn(v->data, addr);
	return 0;
}

/*
 * Call @fn(@data, addr) for every symbol of this module that kallsyms
 * weighs when it names an address of the module (defined, named, not a
 * mapping symbol), under module_mutex.  One pass gives the sizes
 * kallsyms_lookup_size_offset() would give for many addresses; it scans
 * the whole table for each.
 */
void plugsched_for_each_module_symbol(void (*fn)(void *, unsigned long), void *data)
{
	struct plugsched_module_symbol_visit v = { .fn = fn, .data = data };

	module_kallsyms_on_each_symbol(THIS_MODULE->name, plugsched_module_symbol_visit, &v);
}

bool plugsched_core_kernel_text(unsigned long addr)
{
	return core_kernel_text(addr);
}

/*
 * Why [@addr, @addr + @len) must not be patched: the name of the mechanism
 * that owns some of its bytes, or NULL.
 */
const char *plugsched_text_reserved(unsigned long addr, size_t len)
{
	void *start = (void *)addr, *end = (void *)(addr + len - 1);
	size_t i;

	if (jump_label_text_reserved(start, end))
		return "jump label (static key) site";
	if (static_call_text_reserved(start, end))
		return "static call site";
	for (i = 0; i < len; i++)
		if (get_kprobe((void *)(addr + i)))
			return "kprobe";
	return NULL;
}

/*
 * The manifest of the extracted scheduler.  A module built without it (for
 * a target whose vmlinux the boundary analysis cannot read) has an empty
 * one; the generated manifest.c and pieces.c override these.
 */
__weak unsigned int plugsched_manifest_len(void)
{
	return 0;
}

__weak const struct plugsched_fn *plugsched_manifest_get(unsigned int i)
{
	return NULL;
}

__weak unsigned int plugsched_piece_count(void)
{
	return 0;
}

__weak const struct plugsched_piece *plugsched_piece_get(unsigned int i)
{
	return NULL;
}

/* No safe points either (nor in a manifest.c from before them). */
__weak unsigned int plugsched_safepoint_count(void)
{
	return 0;
}

__weak const struct plugsched_safepoint *plugsched_safepoint_get(unsigned int i)
{
	return NULL;
}

/* No safe points of the module's copies (a build without the table). */
__weak unsigned int plugsched_module_safepoint_count(void)
{
	return 0;
}

__weak const struct plugsched_safepoint *plugsched_module_safepoint_get(unsigned int i)
{
	return NULL;
}

/* Address of the @pos-th (1-based; 0: the only) vmlinux symbol @name. */
struct ksym_pos {
	unsigned long pos, seen, addr;
};

static int ksym_pos_cb(void *data, unsigned long addr)
{
	struct ksym_pos *k = data;

	k->seen++;
	if (k->pos == 0 || k->seen == k->pos)
		k->addr = addr;
	return k->pos && k->seen == k->pos;
}

unsigned long plugsched_ksym_lookup_pos(const char *name, unsigned long pos)
{
	struct ksym_pos k = { .pos = pos };

	kallsyms_on_each_match_symbol(ksym_pos_cb, name, &k);
	if (pos == 0 && k.seen != 1)
		return 0;	/* missing or ambiguous */
	return k.addr;
}

/*
 * The other patchers of kernel text, excluded from the site checks to the
 * end of a switch, outermost first as the kernel takes them: livepatch
 * (klp_mutex, then ftrace), kprobes (kprobe_mutex, then ftrace_lock for
 * probes on ftrace sites, or cpus_read_lock and text_mutex; a kprobe copies
 * the probed instruction and arms it in two text_mutex sections, both under
 * kprobe_mutex), ftrace (ftrace_lock).  The caller then takes
 * cpus_read_lock() and text_mutex.  Jump labels and static calls need no
 * lock here: their sites in core kernel text are fixed at build time.
 *
 * ftrace and the redirected functions: a redirected function's fentry
 * site holds our jmp instead of ftrace's NOP, so ftrace must leave it
 * alone: its record is marked FTRACE_FL_DISABLED (as ftrace does for code
 * it must not touch) while the redirection is in place.
 */
void plugsched_patchers_lock(void)
{
#ifdef CONFIG_LIVEPATCH
	mutex_lock(&klp_mutex);
#endif
#ifdef CONFIG_KPROBES
	mutex_lock(&kprobe_mutex);
#endif
	mutex_lock(&ftrace_lock);
}

void plugsched_patchers_unlock(void)
{
	mutex_unlock(&ftrace_lock);
#ifdef CONFIG_KPROBES
	mutex_unlock(&kprobe_mutex);
#endif
#ifdef CONFIG_LIVEPATCH
	mutex_unlock(&klp_mutex);
#endif
}

/* Whether @ip is an ftrace location (the site of a traceable function). */
bool plugsched_ftrace_location(unsigned long ip)
{
	return ftrace_location(ip) == ip;
}

#ifdef CONFIG_KPROBES
static unsigned long plugsched_kprobe_in(bool (*covered)(void *, unsigned long), void *cookie)
{
	unsigned long size, off, i;
	struct kprobe *p;

	/* The table's size is private to kprobes.c: ask kallsyms. */
	if (!kallsyms_lookup_size_offset((unsigned long)kprobe_table, &size, &off) || off)
		return 0;
	for (i = 0; i < size / sizeof(*kprobe_table); i++)
		hlist_for_each_entry(p, &kprobe_table[i], hlist)
			if (covered(cookie, (unsigned long)p->addr))
				return (unsigned long)p->addr;
	return 0;
}
#endif

#ifdef CONFIG_LIVEPATCH
static unsigned long plugsched_livepatch_in(bool (*covered)(void *, unsigned long), void *cookie)
{
	struct klp_patch *patch;
	struct klp_object *obj;
	struct klp_func *func;

	list_for_each_entry(patch, &klp_patches, list)
		klp_for_each_object(patch, obj)
			klp_for_each_func(obj, func)
				if (func->old_func && covered(cookie, (unsigned long)func->old_func))
					return (unsigned long)func->old_func;
	return 0;
}
#endif

static unsigned long plugsched_ftrace_direct_in(bool (*covered)(void *, unsigned long),
						void *cookie)
{
	struct ftrace_rec_iter *iter;
	struct dyn_ftrace *rec;

	for (iter = ftrace_rec_iter_start(); iter; iter = ftrace_rec_iter_next(iter)) {
		rec = ftrace_rec_iter_record(iter);
		if (rec->flags & (FTRACE_FL_DIRECT | FTRACE_FL_IPMODIFY) && covered(cookie, rec->ip))
			return rec->ip;
	}
	return 0;
}

/*
 * Caller holds the patchers' locks: the address of the first kprobe,
 * livepatched function, or ftrace user that changes what a function does
 * (a direct call, such as a BPF trampoline, or a modified IP) at an address
 * for which @covered returns true, and in *@what, what it is; 0 if none.
 */
unsigned long plugsched_probed_in(bool (*covered)(void *, unsigned long), void *cookie,
				  const char **what)
{
	unsigned long addr;

#ifdef CONFIG_KPROBES
	*what = "kprobe";
	addr = plugsched_kprobe_in(covered, cookie);
	if (addr)
		return addr;
#endif
#ifdef CONFIG_LIVEPATCH
	*what = "livepatch";
	addr = plugsched_livepatch_in(covered, cookie);
	if (addr)
		return addr;
#endif
	*what = "ftrace direct call or IP-modifying ftrace user (BPF trampoline, livepatch)";
	return plugsched_ftrace_direct_in(covered, cookie);
}

/*
 * Set (@disable) or clear FTRACE_FL_DISABLED on the ftrace records at the
 * @n addresses @ips (sorted).  Returns the number of records changed, or
 * -EBUSY (nothing changed) if one of them is in use by a tracer.  Caller
 * holds the patchers' locks.
 */
long plugsched_ftrace_mark(const unsigned long *ips, size_t n, bool disable)
{
	struct ftrace_rec_iter *iter;
	struct dyn_ftrace *rec;
	long changed = 0;
	int pass;

	/* Pass 0 checks, pass 1 changes: all or nothing. */
	for (pass = 0; pass < 2; pass++) {
		for (iter = ftrace_rec_iter_start(); iter; iter = ftrace_rec_iter_next(iter)) {
			rec = ftrace_rec_iter_record(iter);
			if (!bsearch(&rec->ip, ips, n, sizeof(*ips), plugsched_cmp_ulong))
				continue;
			if (pass == 0) {
				/* In use, or disabled by ftrace itself. */
				if (disable && (ftrace_rec_count(rec) ||
						rec->flags & (FTRACE_FL_ENABLED |
							      FTRACE_FL_DISABLED)))
					return -EBUSY;
				continue;
			}
			if (disable)
				rec->flags |= FTRACE_FL_DISABLED;
			else
				rec->flags &= ~FTRACE_FL_DISABLED;
			changed++;
		}
	}
	return changed;
}

/*
 * Before a rollback: the first of the @n addresses @ips that an enabled
 * ftrace user (function tracer, kprobe, BPF, livepatch, ...) covers, or 0.
 * Such a user registered while the site was ours (FTRACE_FL_DISABLED), so
 * ftrace never counted it on that record; handing the record back would
 * leave ftrace's accounting wrong (and ftrace would shut itself down when
 * that user goes).  Caller holds the patchers' locks.
 */
unsigned long plugsched_ftrace_user(const unsigned long *ips, size_t n)
{
	/* ftrace_ops_test() only looks at whether regs is NULL. */
	static struct pt_regs regs;
	struct ftrace_ops *op;
	unsigned long found = 0;
	size_t i;

	preempt_disable();	/* the hashes are freed after an RCU grace period */
	do_for_each_ftrace_op(op, ftrace_ops_list) {
		if (op == &ftrace_list_end || !(op->flags & FTRACE_OPS_FL_ENABLED))
			continue;
		for (i = 0; i < n && !found; i++)
			if (ftrace_ops_test(op, ips[i], &regs))
				found = ips[i];
	} while_for_each_ftrace_op(op);
	preempt_enable();
	return found;
}
