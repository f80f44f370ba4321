// SPDX-License-Identifier: GPL-2.0
/*
 * Writing kernel text on x86_64, inside the switch's stop_machine (see
 * rust/engine/pokes.rs for the protocol around these calls).
 */
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

