/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The __schedule split (Documentation/live-update.rst): the module's
 * __schedule runs the new code up to the context switch and then continues
 * in vmlinux's __schedule, on its "call __switch_to_asm" (arm64: its
 * "bl __switch_to"), with the stack
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
#elif defined(CONFIG_ARM64)
#include <linux/stringify.h>

#include "springboard-vmlinux.h"

/*
 * arm64: both __schedule frames keep their frame record at the same
 * distance below the entry sp and the callee-saved registers at the same
 * x29 offsets (springboard-check), so sp is set relative to x29; the
 * return address stays signed by the module's PACIASP against the same
 * entry sp, which vmlinux's AUTIASP accepts.  The callee-saved registers
 * that vmlinux's tail reads after `bl __switch_to` (prev, next, current,
 * ...) are set as vmlinux's top half would have them
 * (PLUGSCHED_SPRINGBOARD_LIVE_IN).  Then the call itself, as vmlinux's
 * __schedule makes it: x30 = the instruction after its `bl __switch_to`,
 * x0/x1 = prev/next, and a B to __switch_to.  __switch_to's entry is a
 * BTI landing pad, so this holds wherever the module lies: beyond the
 * +-128 MiB of a B, the loader's veneer reaches it with BR X16, which a
 * branch into the middle of __schedule would not survive.  __switch_to
 * returns into vmlinux's __schedule as if called from there.
 */
#define PLUGSCHED_SPRINGBOARD_RET \
	"__plugsched_vmlinux___schedule + " __stringify(PLUGSCHED_SPRINGBOARD_OFFSET) " + 4"
#define plugsched_switch_to(prev, next)						\
do {										\
	register struct task_struct *__sb_prev asm("x0") = (prev);		\
	register struct task_struct *__sb_next asm("x1") = (next);		\
	asm volatile("sub sp, x29, #" __stringify(PLUGSCHED_SPRINGBOARD_SP) "\n\t" \
		     PLUGSCHED_SPRINGBOARD_LIVE_IN "\n\t"			\
		     "adrp x30, " PLUGSCHED_SPRINGBOARD_RET "\n\t"		\
		     "add x30, x30, :lo12:" PLUGSCHED_SPRINGBOARD_RET "\n\t"	\
		     "b __plugsched_vmlinux___switch_to\n\t"			\
		     : : "r"(__sb_prev), "r"(__sb_next)				\
		     : "memory", "x19", "x20", "x21", "x22", "x23", "x24",	\
		       "x25", "x26", "x27", "x28", "x30");			\
	__builtin_unreachable();						\
} while (0)
#else
#error "the __schedule split is implemented for x86_64 and arm64 only"
#endif

#endif /* _PLUGSCHED_SPRINGBOARD_H */
