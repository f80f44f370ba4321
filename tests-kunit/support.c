// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of the KUnit suites (linked only into KUnit builds): cleanup
 * and skipping through KUnit, kernel threads parked inside known
 * functions, indirect calls, and a check of every sleeping task's stack.
 */
#include <kunit/resource.h>
#include <kunit/test.h>
#include <kunit/test-bug.h>
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/ftrace.h>
#include <linux/kprobes.h>
#include <linux/kthread.h>
#include <linux/ptrace.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task_stack.h>
#include <linux/stacktrace.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <asm/syscall.h>
#ifdef CONFIG_X86_64
#include <linux/kdebug.h>
#include <asm/text-patching.h>
#include <asm/trapnr.h>
#endif

#include "../c_shims/shims.h"

/*
 * Run @action(@ctx) when the running KUnit test ends, however it ends: a
 * failed Rust assertion ends the test thread without running destructors.
 * Stores the test in @test.  If the action cannot be deferred (not in a
 * KUnit test, no memory), it runs now and an error is returned.
 */
int plugsched_test_defer(struct kunit **test, kunit_action_t *action, void *ctx)
{
	*test = kunit_get_current_test();
	if (!*test) {
		action(ctx);
		return -ESRCH;
	}
	return kunit_add_action_or_reset(*test, action, ctx);
}

/* Run the action deferred by plugsched_test_defer() now, and only now. */
void plugsched_test_release(struct kunit *test, kunit_action_t *action, void *ctx)
{
	kunit_release_action(test, action, ctx);
}

/*
 * Run @fn(@ctx) as a KUnit test of its own, nested in the running one, and
 * end it as KUnit ends a test: the actions deferred in it run.  For tests
 * of the cleanup itself; @fn must not fail a KUnit assertion.
 */
int plugsched_test_run_nested(void (*fn)(void *), void *ctx)
{
	struct kunit *outer = current->kunit_test;
	struct kunit *inner = kzalloc(sizeof(*inner), GFP_KERNEL);

	if (!inner)
		return -ENOMEM;
	kunit_init_test(inner, "plugsched_nested", NULL);
	current->kunit_test = inner;
	fn(ctx);
	kunit_cleanup(inner);
	current->kunit_test = outer;
	kfree(inner);
	return 0;
}

/*
 * Mark the running KUnit test skipped, @reason its status comment; the test
 * goes on until it returns.  Outside a KUnit test, nothing happens.
 */
void plugsched_test_skip(const char *reason)
{
	struct kunit *test = kunit_get_current_test();

	if (test)
		kunit_mark_skipped(test, "%s", reason);
}

static DECLARE_COMPLETION(go);
static atomic_t parked = ATOMIC_INIT(0);
static struct task_struct **threads;
static unsigned int nthreads;

/* Threads "inside a target function" sleep here. */
noinline void plugsched_test_park(void)
{
	atomic_inc(&parked);
	wait_for_completion(&go);
	barrier();
}

/* All other test threads sleep here. */
noinline void plugsched_test_wait(void)
{
	atomic_inc(&parked);
	wait_for_completion(&go);
	barrier();
}

static int thread_fn(void *in_target)
{
	if (in_target)
		plugsched_test_park();
	else
		plugsched_test_wait();
	while (!kthread_should_stop()) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop())
			break;
		schedule();
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

/*
 * Start @n kernel threads, the first @in_target of which sleep inside
 * plugsched_test_park(), the rest inside plugsched_test_wait(); return once
 * all of them are inside.  On failure no thread is left.  One set at a time:
 * -EBUSY while one is running.
 */
int plugsched_test_threads_start(unsigned int n, unsigned int in_target)
{
	unsigned int i;

	if (threads)
		return -EBUSY;
	reinit_completion(&go);
	atomic_set(&parked, 0);
	threads = kcalloc(n, sizeof(*threads), GFP_KERNEL);
	if (!threads)
		return -ENOMEM;
	for (nthreads = 0; nthreads < n; nthreads++) {
		struct task_struct *t;

		t = kthread_run(thread_fn, (void *)(unsigned long)(nthreads < in_target),
				"plugsched-t/%u", nthreads);
		if (IS_ERR(t)) {
			plugsched_test_threads_stop();
			return PTR_ERR(t);
		}
		get_task_struct(t);
		threads[nthreads] = t;
	}
	for (i = 0; atomic_read(&parked) < n && i < 10000; i++)
		msleep(1);
	if (atomic_read(&parked) == n)
		return 0;
	plugsched_test_threads_stop();
	return -ETIMEDOUT;
}

/* Release every test thread and wait until all have exited. */
void plugsched_test_threads_stop(void)
{
	unsigned int i;

	complete_all(&go);
	for (i = 0; i < nthreads; i++) {
		kthread_stop(threads[i]);
		put_task_struct(threads[i]);
	}
	kfree(threads);
	threads = NULL;
	nthreads = 0;
}

/* Call the syscall function at @fn through a pointer, first argument @arg. */
long plugsched_test_call_syscall(unsigned long fn, unsigned long arg)
{
	long (*f)(const struct pt_regs *) = (void *)fn;
	unsigned long args[6] = { arg };
	struct pt_regs regs = {};

	/* Where the architecture's entry passes them (arm64: also orig_x0). */
	syscall_set_arguments(current, &regs, args);
	return f(&regs);
}

/*
 * What the kernel's die notifiers make of an INT3 met at @addr by kernel
 * code (a breakpoint none of the INT3 handlers before them took): where
 * the CPU would resume, or 0 if none of them took it (it would oops).
 */
unsigned long plugsched_test_int3_at(unsigned long addr)
{
#ifdef CONFIG_X86_64
	struct pt_regs regs = { .ip = addr + INT3_INSN_SIZE, .cs = __KERNEL_CS };

	if (notify_die(DIE_INT3, "int3", &regs, 0, X86_TRAP_BP, SIGTRAP) == NOTIFY_STOP)
		return regs.ip;
#endif
	return 0;
}

static struct kprobe test_kp;
static bool test_kp_armed;

/*
 * Put a kprobe on the function at @addr (through ftrace when it can).  One
 * at a time: -EBUSY while it is armed.
 */
int plugsched_test_kprobe_arm(unsigned long addr)
{
	int ret;

	if (test_kp_armed)
		return -EBUSY;
	memset(&test_kp, 0, sizeof(test_kp));
	test_kp.addr = (kprobe_opcode_t *)addr;
	ret = register_kprobe(&test_kp);
	test_kp_armed = !ret;
	return ret;
}

void plugsched_test_kprobe_disarm(void)
{
	if (!test_kp_armed)
		return;
	unregister_kprobe(&test_kp);
	test_kp_armed = false;
}

struct plugsched_sleeper_check {
	unsigned long hits, unreliable, checked;
	bool hit;
};

static bool sleeper_consume(void *cookie, unsigned long addr)
{
	struct plugsched_sleeper_check *c = cookie;

	if (within_module(addr, THIS_MODULE))
		c->hit = true;
	return !c->hit;
}

/* Called with @t pinned off-CPU (or running, then skipped). */
static int sleeper_check_one(struct task_struct *t, void *arg)
{
	struct plugsched_sleeper_check *c = arg;

	if (task_curr(t))
		return 0;
	c->hit = false;
	c->checked++;
	if (arch_stack_walk_reliable(sleeper_consume, c, t) && !c->hit)
		c->unreliable++;
	c->hits += c->hit;
	return 0;
}

/*
 * Walk the stack of every task that is not running, with the reliable
 * unwinder, each pinned off-CPU by task_call_func() as livepatch does.
 * Counts the tasks with a return address inside this module and those whose
 * stack cannot be walked reliably.  Returns the number of tasks checked.
 */
unsigned long plugsched_test_sleeper_stacks(unsigned long *hits, unsigned long *unreliable)
{
	struct plugsched_sleeper_check c = {};
	struct task_struct *g, *t;

	rcu_read_lock();
	for_each_process_thread(g, t) {
		if (t == current || !try_get_task_stack(t))
			continue;
		task_call_func(t, sleeper_check_one, &c);
		put_task_stack(t);
	}
	rcu_read_unlock();
	*hits = c.hits;
	*unreliable = c.unreliable;
	return c.checked;
}

/* An ftrace user (like a function tracer) on one function. */
static void plugsched_test_ftrace_func(unsigned long ip, unsigned long parent_ip,
				       struct ftrace_ops *op, struct ftrace_regs *fregs)
{
}

static struct ftrace_ops plugsched_test_ftrace_ops = {
	.func = plugsched_test_ftrace_func,
};
static unsigned long plugsched_test_ftrace_ip;

/* One at a time: -EBUSY while it is registered. */
int plugsched_test_ftrace_arm(unsigned long addr)
{
	int ret;

	if (plugsched_test_ftrace_ip)
		return -EBUSY;
	ret = ftrace_set_filter_ip(&plugsched_test_ftrace_ops, addr, 0, 0);
	if (ret)
		return ret;
	ret = register_ftrace_function(&plugsched_test_ftrace_ops);
	if (ret)
		ftrace_set_filter_ip(&plugsched_test_ftrace_ops, addr, 1, 0);
	else
		plugsched_test_ftrace_ip = addr;
	return ret;
}

void plugsched_test_ftrace_disarm(void)
{
	if (!plugsched_test_ftrace_ip)
		return;
	unregister_ftrace_function(&plugsched_test_ftrace_ops);
	ftrace_set_filter_ip(&plugsched_test_ftrace_ops, plugsched_test_ftrace_ip, 1, 0);
	plugsched_test_ftrace_ip = 0;
}
