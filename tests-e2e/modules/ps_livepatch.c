// SPDX-License-Identifier: GPL-2.0
/*
 * ps_livepatch: a livepatch of a function the module scheduler replaces.
 * sched_get_priority_max(SCHED_FIFO) answers 77 instead of 99 while it is
 * enabled, so a test sees that it works; plugsched.ko must refuse to
 * upgrade while it is there (the livepatch would stop working).
 */
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <uapi/linux/sched.h>
#include <asm/syscall.h>

static long ps_sched_get_priority_max(const struct pt_regs *regs)
{
	unsigned long args[6];

	/* The system call's arguments, where the architecture's entry put them. */
	syscall_get_arguments(current, (struct pt_regs *)regs, args);
	switch (args[0]) {
	case SCHED_FIFO:
	case SCHED_RR:
		return 77;
	case SCHED_DEADLINE:
	case SCHED_NORMAL:
	case SCHED_BATCH:
	case SCHED_IDLE:
	case SCHED_EXT:
		return 0;
	}
	return -EINVAL;
}

static struct klp_func ps_funcs[] = {
	{
#ifdef CONFIG_ARM64
		.old_name = "__arm64_sys_sched_get_priority_max",
#else
		.old_name = "__x64_sys_sched_get_priority_max",
#endif
		.new_func = ps_sched_get_priority_max,
	},
	{}
};

static struct klp_object ps_objs[] = {
	{ .funcs = ps_funcs },	/* vmlinux */
	{}
};

static struct klp_patch ps_patch = {
	.mod = THIS_MODULE,
	.objs = ps_objs,
};

static int __init ps_livepatch_init(void)
{
	return klp_enable_patch(&ps_patch);
}

static void __exit ps_livepatch_exit(void)
{
}

module_init(ps_livepatch_init);
module_exit(ps_livepatch_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("plugsched-rs test: a livepatch of a scheduler function");
MODULE_INFO(livepatch, "Y");
