// SPDX-License-Identifier: GPL-2.0

//! The text writes of one switch, prepared before the rendezvous: the
//! patch sites grouped into windows of at most two pages
//! ([`crate::pcore::windows`]), so that phase 2 maps each window's pages
//! once (the kernel's `__text_poke`, one poking-mm switch and TLB flush)
//! and writes its sites there, instead of one mapping per site.  Only the
//! sites' bytes are written: the code between them is not touched.  The
//! sites with a hop ([`super::hops`]) are not written here: for them the
//! rendezvous sets or clears the hops' flag, first.

use kernel::prelude::*;

use super::{
    arch::{
        Bytes,
        SITE_MAX, //
    },
    hops::Hops,
    plan::Site,
    Direction, //
};
use crate::bindings;
use crate::kapi::{
    self,
    Stopped,
    TextMutex, //
};
use crate::pcore::windows::windows;

/// A site of a window, as the C shim takes it.
type PokeSite = bindings::plugsched_poke_site;

/// One window: where it starts, its length, and its sites with the bytes
/// they hold before and after the switch.
struct PokeWindow {
    start: u64,
    len: usize,
    before: KVec<PokeSite>,
    after: KVec<PokeSite>,
}

impl PokeWindow {
    /// The window for the shim, writing `sites`.
    fn c_window(&self, sites: &[PokeSite]) -> bindings::plugsched_poke_window {
        bindings::plugsched_poke_window {
            start: self.start as usize,
            len: self.len,
            nr_sites: sites.len() as u32,
            sites: sites.as_ptr(),
        }
    }
}

/// The writes of one switch: the hops' flag, then the windows in address
/// order.
pub(super) struct Pokes<'a> {
    /// The hops, and whether the switch leads them to the new functions.
    hops: Option<(&'a Hops, bool)>,
    windows: KVec<PokeWindow>,
}

impl<'a> Pokes<'a> {
    /// Group `sites` (in address order) without a hop into windows with
    /// what a switch in direction `dir` finds and writes at each.
    pub(super) fn prepare(sites: &[Site], hops: Option<&'a Hops>, dir: Direction) -> Result<Self> {
        let mut direct: KVec<&Site> = KVec::with_capacity(sites.len(), GFP_KERNEL)?;
        for (i, s) in sites.iter().enumerate() {
            if !hops.is_some_and(|h| h.has(i)) {
                direct.push(s, GFP_KERNEL)?;
            }
        }
        let mut addrs: KVec<u64> = KVec::with_capacity(direct.len(), GFP_KERNEL)?;
        for s in direct.iter() {
            addrs.push(s.addr, GFP_KERNEL)?;
        }
        let mut out = KVec::new();
        for w in windows(&addrs, SITE_MAX).ok_or(EINVAL)? {
            let n = w.end - w.first;
            let mut before = KVec::with_capacity(n, GFP_KERNEL)?;
            let mut after = KVec::with_capacity(n, GFP_KERNEL)?;
            for s in &direct[w.first..w.end] {
                let offset = (s.addr - w.start) as u32;
                before.push(poke_site(offset, &s.before(dir)), GFP_KERNEL)?;
                after.push(poke_site(offset, &s.after(dir)), GFP_KERNEL)?;
            }
            out.push(
                PokeWindow {
                    start: w.start,
                    len: w.len,
                    before,
                    after,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(Pokes {
            hops: hops.map(|h| (h, dir == Direction::Apply)),
            windows: out,
        })
    }

    /// Phase 2 on CPU 0: set the hops' flag and write every window, or
    /// none of them.  What each site
    /// holds before was checked before the rendezvous
    /// ([`super::sites`], `check_site`), under `text_mutex` and the other
    /// patchers' locks, which the switch holds until after it: no one can
    /// have written a site since.  Each window is read back after it is
    /// written.  `stop_after`: stop with `ECANCELED` after that many
    /// writes (the flag, then windows; a failure injected by tests),
    /// having restored them.
    pub(super) fn write(
        &self,
        ctx: &Stopped,
        text: &TextMutex<'_>,
        stop_after: Option<usize>,
    ) -> Result<(), i32> {
        let mut done = 0;
        if let Some((hops, live)) = self.hops {
            hops.set(ctx, live);
            done = 1;
            if stop_after == Some(done) {
                self.undo(ctx, text, 0);
                return Err(ECANCELED.to_errno());
            }
        }
        for (i, w) in self.windows.iter().enumerate() {
            // SAFETY: No CPU runs the window before phase 3, in which every
            // CPU runs `sync_core` first, aborted or not.  Each site is the
            // patch site of a function, right after its entry ENDBR, where
            // calls enter it; it holds what this switch expects (checked
            // before the rendezvous, and `text_mutex` keeps every other
            // patcher out since); it gets its untouched bytes or a `jmp`
            // to the function's replacement (the plan's target: the same
            // source, signature and contract).  The sites lie within the
            // window (`prepare`).
            unsafe { ctx.text_poke_window(text, &w.c_window(&w.after)) };
            if !holds(w, &w.after) {
                self.undo(ctx, text, i + 1);
                return Err(EIO.to_errno());
            }
            if stop_after == Some(done + i + 1) {
                self.undo(ctx, text, i + 1);
                return Err(ECANCELED.to_errno());
            }
        }
        Ok(())
    }

    /// Restore the first `done` windows, last first, and the flag.
    fn undo(&self, ctx: &Stopped, text: &TextMutex<'_>, done: usize) {
        for w in self.windows[..done].iter().rev() {
            // SAFETY: As in `write`: the bytes the sites held before this
            // phase, in the same rendezvous.
            unsafe { ctx.text_poke_window(text, &w.c_window(&w.before)) };
        }
        if let Some((hops, live)) = self.hops {
            hops.set(ctx, !live);
        }
    }
}

/// The site at `offset` of a window, getting `bytes`.
fn poke_site(offset: u32, bytes: &Bytes) -> PokeSite {
    let mut site = PokeSite {
        offset,
        ..Default::default()
    };
    site.len = bytes.copy_to(&mut site.bytes);
    site
}

/// Whether every site of window `w` holds its bytes in `sites`.
fn holds(w: &PokeWindow, sites: &[PokeSite]) -> bool {
    let Some(text) = kapi::core_text(w.start, w.len) else {
        return false;
    };
    sites.iter().all(|s| {
        let at = s.offset as usize;
        let len = s.len as usize;
        text.get(at..at + len) == s.bytes.get(..len)
    })
}
