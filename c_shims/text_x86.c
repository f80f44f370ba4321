// SPDX-License-Identifier: GPL-2.0
/*
 * Writing kernel text on x86_64: inside the switch's stop_machine (see
 * rust/engine/pokes.rs for the protocol around these calls), and the hops
 * and their sites around it (rust/engine/hops.rs).
 */
#include <linux/bsearch.h>
#include <linux/execmem.h>
#include <linux/kdebug.h>
#include <linux/kprobes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/memory.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/set_memory.h>
#include <linux/string.h>
#include <asm/sync_core.h>
#include <asm/text-patching.h>

#include "shims.h"

/* Serialise this CPU's instruction stream after another CPU wrote code. */
void plugsched_sync_core(void)
{
	sync_core();
}

/*
 * The kernel's text poking core (arch/x86/kernel/alternative.c, static, so
 * bound by klp-convert like the other non-exported symbols): maps the one
 * or two pages of @addr..@addr+@len into the poking mm and calls @func with
 * the mapped address.  text_poke_kgdb() is this with memcpy.
 */
typedef void plugsched_text_poke_f(void *dst, const void *src, size_t len);
void *__text_poke(plugsched_text_poke_f *func, void *addr, const void *src, size_t len);

/* Write a window's sites at their offsets from the mapped start. */
static void plugsched_poke_sites(void *dst, const void *src, size_t len)
{
	const struct plugsched_poke_window *w = src;
	unsigned int i;

	for (i = 0; i < w->nr_sites; i++)
		memcpy(dst + w->sites[i].offset, w->sites[i].bytes, w->sites[i].len);
}

/*
 * Write the sites of @w with one mapping of its pages (at most two).  Only
 * inside stop_machine, with every other CPU spinning in the rendezvous and
 * text_mutex held by the task that started it: the situation
 * text_poke_kgdb() is made for (text_poke() would assert that the stopper
 * thread itself owns text_mutex).  Only core kernel text: for anything else
 * __text_poke() takes a sleeping lock.  Only the sites' bytes are written
 * (a write to code makes QEMU's TCG discard its translations of the bytes
 * written); the caller checks them after.
 */
void plugsched_text_poke_window(const struct plugsched_poke_window *w)
{
	__text_poke(plugsched_poke_sites, (void *)w->start, w, w->len);
}


/*
 * Hops (rust/engine/hops.rs): code of the module's own, in the module area,
 * through which the sites of traceable functions reach their old or their
 * new function during a switch, as a byte of module data says.  The code
 * is executable memory of its own, as ftrace's and BPF's trampolines are:
 * read-only and executable, written through the text poking; the byte is
 * in writable module data within the reach of a rel32 from it.
 */
void *plugsched_hops_alloc(size_t size)
{
	void *text = execmem_alloc(EXECMEM_MODULE_TEXT, size);

	if (!text)
		return NULL;
	/* Without the ROX cache the memory comes writable, not executable. */
	if (!execmem_is_rox(EXECMEM_MODULE_TEXT)) {
		memset(text, INT3_INSN_OPCODE, size);
		if (set_memory_rox((unsigned long)text, PAGE_ALIGN(size) >> PAGE_SHIFT)) {
			execmem_free(text);
			return NULL;
		}
	}
	return text;
}

/* Write the hops' code; whether it reads back as written.  May sleep. */
bool plugsched_hops_write(void *text, const void *code, size_t len)
{
	text_poke_copy(text, code, len);
	return !memcmp(text, code, len);
}

/* The byte the hops test, 0 (the old functions). */
void *plugsched_hop_flag_alloc(void)
{
	u8 *flag = execmem_alloc(EXECMEM_MODULE_DATA, PAGE_SIZE);

	if (flag)
		WRITE_ONCE(*flag, 0);
	return flag;
}

/*
 * Free the hops once no site leads to them any more.  A task interrupted
 * on a hop still resumes there: every task passes a voluntary context
 * switch, or user mode, before the memory goes, as for ftrace's trampolines.
 */
void plugsched_hops_free(void *text, void *flag)
{
	synchronize_rcu_tasks();
	execmem_free(text);
	execmem_free(flag);
}

/*
 * Write patch sites on the running kernel, as ftrace does: one batch of the
 * kernel's INT3-based text poking (every CPU serialised after each step;
 * a CPU reaching a site meanwhile emulates the new instruction).  Each
 * site's bytes are one instruction (a jmp rel32 or ftrace's NOP).  With
 * text_mutex held and every other patcher kept out by the caller.
 */
void plugsched_text_poke_live(const struct plugsched_live_poke *p, size_t n)
{
	size_t i;

	lockdep_assert_held(&text_mutex);
	for (i = 0; i < n; i++)
		smp_text_poke_batch_add((void *)p[i].addr, p[i].bytes, p[i].len, NULL);
	smp_text_poke_batch_finish();
	/*
	 * Each site once more, its bytes unchanged, now that no INT3 is left:
	 * QEMU's TCG drops its translations of what it writes, also one it
	 * made while an INT3 was there and kept (see the guard below).
	 */
	for (i = 0; i < n; i++)
		text_poke((void *)p[i].addr, p[i].bytes, p[i].len);
	smp_text_poke_sync_each_cpu();
}

/*
 * The guard of a plan's hopped sites: an INT3 at one of them that the
 * text poking no longer covers, met when the site no longer holds an INT3,
 * is a CPU that ran the breakpoint of a batch already finished.  The
 * kernel's protocol excludes that on hardware (the last serialisation of
 * every CPU comes before the breakpoints are forgotten), but QEMU's
 * multi-threaded TCG can keep executing a translation made while the
 * INT3 was there (its translation races with another vCPU's write to the
 * same page).  The site is then resumed as its bytes in memory say: the
 * jmp, or ftrace's NOP (Documentation/live-update.rst, "Hops").
 */
struct plugsched_hop_guard {
	struct notifier_block nb;
	const unsigned long *sites;	/* sorted */
	size_t n;
};

static notrace int plugsched_hop_guard_int3(struct notifier_block *nb, unsigned long val,
					    void *data)
{
	struct plugsched_hop_guard *g = container_of(nb, struct plugsched_hop_guard, nb);
	struct die_args *args = data;
	unsigned long at;
	u8 insn[JMP32_INSN_SIZE];

	if (val != DIE_INT3 || user_mode(args->regs))
		return NOTIFY_DONE;
	at = args->regs->ip - INT3_INSN_SIZE;
	if (!__inline_bsearch(&at, g->sites, g->n, sizeof(*g->sites), plugsched_cmp_ulong))
		return NOTIFY_DONE;
	if (copy_from_kernel_nofault(insn, (void *)at, sizeof(insn)))
		return NOTIFY_DONE;
	if (insn[0] == JMP32_INSN_OPCODE)
		int3_emulate_jmp(args->regs, at + JMP32_INSN_SIZE + *(s32 *)(insn + 1));
	else if (!memcmp(insn, x86_nops[JMP32_INSN_SIZE], JMP32_INSN_SIZE))
		int3_emulate_jmp(args->regs, at + JMP32_INSN_SIZE);
	else
		return NOTIFY_DONE;
	pr_info_ratelimited("plugsched: late breakpoint at %pS resumed as %*ph\n",
			    (void *)at, (int)sizeof(insn), insn);
	return NOTIFY_STOP;
}
NOKPROBE_SYMBOL(plugsched_hop_guard_int3);

/* Guard the @n sorted @sites until plugsched_hop_guard_free(). */
struct plugsched_hop_guard *plugsched_hop_guard_alloc(const unsigned long *sites, size_t n)
{
	struct plugsched_hop_guard *g = kzalloc(sizeof(*g), GFP_KERNEL);

	if (!g)
		return NULL;
	g->nb.notifier_call = plugsched_hop_guard_int3;
	g->sites = sites;
	g->n = n;
	if (register_die_notifier(&g->nb)) {
		kfree(g);
		return NULL;
	}
	return g;
}

/* Stop guarding: after this, no CPU runs the guard (an RCU grace period). */
void plugsched_hop_guard_free(struct plugsched_hop_guard *g)
{
	unregister_die_notifier(&g->nb);
	kfree(g);
}
