// SPDX-License-Identifier: GPL-2.0

//! The text writes of one switch, prepared before the rendezvous: the
//! patch sites grouped into windows of at most two pages
//! ([`crate::pcore::windows`]), each with the bytes it holds now and the
//! bytes it will hold, so that phase 2 makes one text poke per window
//! instead of one per site (each poke maps its pages into the poking mm
//! and flushes them again).  The bytes between a window's sites are
//! written back as they are.

use kernel::prelude::*;

use super::{
    plan::Site,
    Direction, //
};
use crate::kapi::{
    self,
    Stopped,
    TextMutex, //
};
use crate::pcore::{
    windows::windows,
    x86::PATCH_LEN, //
};

/// One window: its first byte, and its bytes before and after the switch.
struct PokeWindow {
    start: u64,
    before: KVec<u8>,
    after: KVec<u8>,
}

/// The windows of one switch, in address order.
pub(super) struct Pokes {
    windows: KVec<PokeWindow>,
}

impl Pokes {
    /// Read the windows of `sites` (in address order) and compute what a
    /// switch in direction `dir` writes.  `text_mutex` (`_text`) keeps the
    /// bytes read valid until the rendezvous; `EBUSY` if a site does not
    /// hold what the switch expects.
    pub(super) fn prepare(sites: &[Site], dir: Direction, _text: &TextMutex<'_>) -> Result<Self> {
        let mut addrs: KVec<u64> = KVec::with_capacity(sites.len(), GFP_KERNEL)?;
        for s in sites {
            addrs.push(s.addr, GFP_KERNEL)?;
        }
        let mut out = KVec::new();
        for w in windows(&addrs, PATCH_LEN).ok_or(EINVAL)? {
            let mut before = KVec::with_capacity(w.len, GFP_KERNEL)?;
            before.resize(w.len, 0, GFP_KERNEL)?;
            kapi::read_kernel(w.start, &mut before)?;
            let mut after = KVec::with_capacity(w.len, GFP_KERNEL)?;
            after.extend_from_slice(&before, GFP_KERNEL)?;
            for s in &sites[w.first..w.end] {
                let at = (s.addr - w.start) as usize;
                if before[at..at + PATCH_LEN] != s.before(dir) {
                    return Err(EBUSY);
                }
                after[at..at + PATCH_LEN].copy_from_slice(&s.after(dir));
            }
            out.push(
                PokeWindow {
                    start: w.start,
                    before,
                    after,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(Pokes { windows: out })
    }

    /// Phase 2 on CPU 0: write every window, or none.  `stop_after`: stop
    /// with `ECANCELED` after that many windows (a failure injected by
    /// tests), having restored them.
    pub(super) fn write(
        &self,
        ctx: &Stopped,
        text: &TextMutex<'_>,
        stop_after: Option<usize>,
    ) -> Result<(), i32> {
        for (i, w) in self.windows.iter().enumerate() {
            if !holds(w.start, &w.before) {
                self.undo(ctx, text, i);
                return Err(EBUSY.to_errno());
            }
            // SAFETY: No CPU runs the window before phase 3, in which every
            // CPU runs `sync_core` first, aborted or not.  Between its sites
            // the window gets back the bytes it holds (just compared, and
            // `text_mutex` keeps every other patcher out); each site gets
            // its untouched bytes or a `jmp` to the function's replacement
            // at the function's patch site, where calls enter it (the
            // plan's target: the same source, signature and contract).
            unsafe { ctx.text_poke(text, w.start, &w.after) };
            if stop_after == Some(i + 1) {
                self.undo(ctx, text, i + 1);
                return Err(ECANCELED.to_errno());
            }
        }
        Ok(())
    }

    /// Restore the first `done` windows, last first.
    fn undo(&self, ctx: &Stopped, text: &TextMutex<'_>, done: usize) {
        for w in self.windows[..done].iter().rev() {
            // SAFETY: As in `write`: the bytes the window held before this
            // phase, in the same rendezvous.
            unsafe { ctx.text_poke(text, w.start, &w.before) };
        }
    }
}

/// Whether the kernel text at `start` holds `bytes`.
fn holds(start: u64, bytes: &[u8]) -> bool {
    let mut buf = [0u8; 256];
    let mut off = 0;
    while off < bytes.len() {
        let n = (bytes.len() - off).min(buf.len());
        if kapi::read_kernel(start + off as u64, &mut buf[..n]).is_err()
            || buf[..n] != bytes[off..off + n]
        {
            return false;
        }
        off += n;
    }
    true
}
