// SPDX-License-Identifier: GPL-2.0

//! The memory of the hops ([`crate::engine`]'s `hops`, x86_64): their code,
//! executable memory of the module's own in the module area, and the byte
//! their branches test, in writable module data; and the writes of patch
//! sites on the running kernel that lead to them.

use core::ffi::c_void;

use kernel::{
    ffi::c_ulong,
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    }, //
};

use super::{
    Stopped,
    TextMutex, //
};
use crate::bindings;

/// A patch site written on the running kernel: its address and its bytes.
pub(crate) type LivePoke = bindings::plugsched_live_poke;

/// Hops' code and flag, freed once no task can be on a hop any more, and
/// never while a patch site may lead to them.
///
/// # Invariants
///
/// `text` is `len` bytes of executable memory and `flag` a byte of writable
/// memory, both from `execmem` and owned by `self`; `guard` is the
/// registered guard of `sites`, owned by `self`.
pub(crate) struct HopMem {
    text: *mut c_void,
    len: usize,
    flag: *mut u8,
    guard: *mut bindings::plugsched_hop_guard,
    /// The patch sites that lead to the hops, sorted: what `guard` guards.
    _sites: KVec<c_ulong>,
    /// Patch sites may lead to the hops.
    linked: Atomic<bool>,
}

// SAFETY: The pointers are owned memory; the flag is written only inside a
// rendezvous (`set`) and read with volatile loads.
unsafe impl Send for HopMem {}
// SAFETY: As for `Send`: shared references only read, or write the flag
// where nothing else runs.
unsafe impl Sync for HopMem {}

impl HopMem {
    /// `len` bytes of hop code (all `int3`) and a flag, 0, for the patch
    /// sites `sites` (sorted), which the guard of `c_shims/text_x86.c`
    /// watches from now on.  May sleep.
    pub(crate) fn alloc(len: usize, sites: KVec<c_ulong>) -> Result<Self> {
        // SAFETY: Process context; returns owned memory or NULL.
        let text = unsafe { bindings::plugsched_hops_alloc(len) };
        if text.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: As above.
        let flag = unsafe { bindings::plugsched_hop_flag_alloc() }.cast::<u8>();
        if flag.is_null() {
            // SAFETY: `text` came from `plugsched_hops_alloc` and no site
            // leads to it; NULL is no flag.
            unsafe { bindings::plugsched_hops_free(text, core::ptr::null_mut()) };
            return Err(ENOMEM);
        }
        // SAFETY: `sites` holds `sites.len()` addresses and lives in `self`
        // until the guard is freed (`drop`).
        let guard = unsafe { bindings::plugsched_hop_guard_alloc(sites.as_ptr(), sites.len()) };
        if guard.is_null() {
            // SAFETY: As above; `flag` came from `plugsched_hop_flag_alloc`.
            unsafe { bindings::plugsched_hops_free(text, flag.cast()) };
            return Err(ENOMEM);
        }
        Ok(HopMem {
            text,
            len,
            flag,
            guard,
            _sites: sites,
            linked: Atomic::new(false),
        })
    }

    /// Where the code starts.
    pub(crate) fn text_addr(&self) -> u64 {
        self.text as u64
    }

    /// Where the flag is.
    pub(crate) fn flag_addr(&self) -> u64 {
        self.flag as u64
    }

    /// Write the whole code, through the text poking (which takes
    /// `text_mutex`: the caller must not hold it).  `EIO` if it does not
    /// read back as written.  May sleep.
    pub(crate) fn write(&self, code: &[u8]) -> Result {
        if code.len() != self.len {
            return Err(EINVAL);
        }
        // SAFETY: `code` fits the memory (just checked); no site leads to
        // the hops yet: a plan writes them once, before any switch.
        let ok =
            unsafe { bindings::plugsched_hops_write(self.text, code.as_ptr().cast(), code.len()) };
        if ok {
            Ok(())
        } else {
            Err(EIO)
        }
    }

    /// Set the flag: the hops lead to the new functions (`live`) or the
    /// old ones.  Inside the rendezvous, whose last phase serialises every
    /// CPU before any of them runs code again.
    pub(crate) fn set(&self, _ctx: &Stopped, live: bool) {
        // SAFETY: `flag` is owned writable memory (the invariant); nothing
        // else runs during the rendezvous.
        unsafe { core::ptr::write_volatile(self.flag, u8::from(live)) };
    }

    /// Say whether patch sites may lead to the hops: set before the first
    /// is written to, cleared once none does.
    pub(crate) fn set_linked(&self, linked: bool) {
        self.linked.store(linked, Relaxed);
    }

    /// Whether the flag is set.
    pub(crate) fn is_set(&self) -> bool {
        // SAFETY: `flag` is owned memory (the invariant).
        unsafe { core::ptr::read_volatile(self.flag) != 0 }
    }
}

impl Drop for HopMem {
    fn drop(&mut self) {
        if self.linked.load(Relaxed) {
            pr_crit!("patch sites may still lead to the hops; they are never freed\n");
            return;
        }
        // SAFETY: Owned (the invariant); after this no CPU runs the guard,
        // so `sites` may go with `self`.
        unsafe { bindings::plugsched_hop_guard_free(self.guard) };
        // SAFETY: Owned memory (the invariant); no site leads to it (just
        // checked), and the shim waits until no task can be on a hop
        // before freeing.
        unsafe { bindings::plugsched_hops_free(self.text, self.flag.cast()) };
    }
}

impl TextMutex<'_> {
    /// Write `sites` on the running kernel (one batch of the kernel's
    /// INT3-based text poking).  Only core kernel text is written.
    ///
    /// # Safety
    ///
    /// Each site must be the patch site of a function, and its new bytes
    /// one instruction that does what the bytes there do now, at this
    /// moment of the switch (the same function is reached, old or new);
    /// no other patcher may write them (the caller holds their locks).
    pub(crate) unsafe fn poke_live(&self, sites: &[LivePoke]) -> Result {
        let core = |p: &LivePoke| {
            super::is_core_kernel_text(p.addr as u64)
                && super::is_core_kernel_text(p.addr as u64 + u64::from(p.len) - 1)
        };
        if !sites.iter().all(|p| p.len > 0 && core(p)) {
            return Err(EINVAL);
        }
        // SAFETY: `self` proves text_mutex held; the sites are core kernel
        // text (checked) and their bytes the caller's contract.
        unsafe { bindings::plugsched_text_poke_live(sites.as_ptr(), sites.len()) };
        Ok(())
    }
}
