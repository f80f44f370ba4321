// SPDX-License-Identifier: GPL-2.0
/*
 * Writing kernel text on arm64, inside the switch's stop_machine (see
 * rust/engine/pokes.rs for the protocol around these calls).
 *
 * Each 32-bit word of a site is written with aarch64_insn_patch_text_nosync()
 * (arch/arm64/kernel/patching.c, not exported, so bound by klp-convert):
 * a write through the text fixmap under the raw patch_lock, then
 * caches_clean_inval_pou() of the word, broadcast to the inner-shareable
 * domain, so every CPU's instruction cache drops the old word.  It is what
 * the kernel's own stop_machine patcher (aarch64_insn_patch_text_cb) does.
 * aarch64_insn_copy() must not be used here: its flush_icache_range() ends
 * in kick_all_cpus_sync(), an IPI every other CPU, spinning in the
 * rendezvous with interrupts off, would never answer.  After the writes,
 * every CPU runs plugsched_sync_core() (an ISB) before it executes code that
 * may have changed.
 */
#include <linux/unaligned.h>
#include <asm/barrier.h>
#include <asm/text-patching.h>

#include "shims.h"

/* Context synchronisation of this CPU after another CPU wrote code. */
void plugsched_sync_core(void)
{
	isb();
}

/*
 * Write the sites of @w, one instruction word at a time.  A site is whole
 * instructions at a 4-byte aligned address: a B (and ftrace's second NOP),
 * a veneer (LDR X16, BR X16 and the 64-bit target, written as two words),
 * either after a BTI C in place of a leading PACIASP.  The caller reads the bytes back and checks them.
 */
void plugsched_text_poke_window(const struct plugsched_poke_window *w)
{
	unsigned int i, off;

	for (i = 0; i < w->nr_sites; i++) {
		const struct plugsched_poke_site *s = &w->sites[i];

		for (off = 0; off + 4 <= s->len; off += 4)
			aarch64_insn_patch_text_nosync((void *)(w->start + s->offset + off),
						       get_unaligned_le32(s->bytes + off));
	}
}
