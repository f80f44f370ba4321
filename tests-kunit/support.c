// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of the KUnit suites (linked only into KUnit builds): kernel
 * threads parked inside known functions, and indirect calls.
 */
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kprobes.h>
#include <linux/kthread.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "../c_shims/shims.h"

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
 * all of them are inside.
 */
int plugsched_test_threads_start(unsigned int n, unsigned int in_target)
{
	unsigned int i;

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
	return atomic_read(&parked) == n ? 0 : -ETIMEDOUT;
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
	struct pt_regs regs = { .di = arg };

	return f(&regs);
}

static struct kprobe test_kp;

/* Put a kprobe on the function at @addr (through ftrace when it can). */
int plugsched_test_kprobe_arm(unsigned long addr)
{
	memset(&test_kp, 0, sizeof(test_kp));
	test_kp.addr = (kprobe_opcode_t *)addr;
	return register_kprobe(&test_kp);
}

void plugsched_test_kprobe_disarm(void)
{
	unregister_kprobe(&test_kp);
}
