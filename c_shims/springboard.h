/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The __schedule split (Documentation/live-update.rst): the module's
 * __schedule runs the new code up to the context switch and then continues
 * in vmlinux's __schedule, on its "call __switch_to_asm", with the stack
 * shaped as vmlinux's __schedule has it there.  Sleeping tasks therefore
 * only ever have vmlinux __schedule frames, and the module can go away.
 *
 * `plugsched init` derives from the target vmlinux where that call is and
 * how deep below rbp the stack pointer is at it (springboard-vmlinux.h),
 * and fails if anything the tail of vmlinux's __schedule reads could differ
 * (a value of the top half live across the switch).  After the build,
 * `plugsched springboard-check` verifies that the module's __schedule has
 * the same prologue (pushes, stack-canary slot) and exactly this
 * springboard.  Both frames start with push rbp; mov rbp, rsp, and rbp is
 * the same in both (the caller's rsp), so rsp is set relative to rbp.
 *
 * The jump is direct (an indirect jump into the middle of a function
 * faults under IBT); its target, __plugsched_vmlinux___schedule + offset,
 * is bound to vmlinux's __schedule by klp-convert.  For objtool, which
 * would otherwise reject a sibling call from a frame it considers modified,
 * the jmp is annotated as leaving with a function-entry frame; the ORC data
 * of that one instruction is therefore not exact.  The jump never returns
 * here: the task resumes in vmlinux's __schedule.
 */
#ifndef _PLUGSCHED_SPRINGBOARD_H
#define _PLUGSCHED_SPRINGBOARD_H

#ifdef CONFIG_X86_64
#include <linux/objtool.h>
#include <asm/unwind_hints.h>

#include "springboard-vmlinux.h"

#define plugsched_switch_to(prev, next)						\
do {										\
	asm volatile("lea -%c[rsp](%%rbp), %%rsp\n\t"				\
		     UNWIND_HINT_FUNC "\n\t"					\
		     "jmp __plugsched_vmlinux___schedule + %c[off]\n\t"	\
		     : : "D"(prev), "S"(next),					\
		       [rsp] "i"(PLUGSCHED_SPRINGBOARD_RSP),			\
		       [off] "i"(PLUGSCHED_SPRINGBOARD_OFFSET)			\
		     : "memory", "rbx", "r12", "r13", "r14", "r15");		\
	__builtin_unreachable();						\
} while (0)
#else
#error "the __schedule split is implemented for x86_64 only"
#endif

#endif /* _PLUGSCHED_SPRINGBOARD_H */
