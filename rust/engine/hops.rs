// SPDX-License-Identifier: GPL-2.0

//! Hops: the sites of traceable functions change sides with one store
//! inside the rendezvous (x86_64; Documentation/live-update.rst, "Hops").
//!
//! Each such site gets a hop, a few instructions of the module's own that
//! test a flag: clear, they continue the old function after its site (the
//! site is ftrace's NOP, so nothing is skipped); set, they jump to the new
//! function.  Before the rendezvous the sites are linked to their hops on
//! the running kernel, with the flag saying what is live, so nothing
//! changes; the rendezvous sets or clears the flag; after it the sites are
//! written again to what the switch left live, so that outside a switch the
//! text is what it would be without hops: the `jmp` to the new function,
//! or the NOP.  Only the sites of `notrace` functions are still written
//! inside the rendezvous ([`super::pokes`]).

#[cfg(CONFIG_X86_64)]
pub(super) use imp::Hops;

#[cfg(CONFIG_X86_64)]
mod imp {
    use kernel::{
        ffi::c_ulong,
        prelude::*, //
    };

    use super::super::{
        plan::Site,
        Show,
        Target, //
    };
    use crate::kapi::{
        HopMem,
        LivePoke,
        Stopped,
        TextMutex, //
    };
    use crate::pcore::x86::{
        encode_hop,
        encode_jmp,
        HOP_LEN,
        NOP5,
        PATCH_LEN, //
    };

    /// The hops of a plan's traceable sites.
    pub(in crate::engine) struct Hops {
        mem: HopMem,
        /// The plan's sites that have a hop (indexes, in address order):
        /// the k-th has the k-th hop.
        sites: KVec<usize>,
    }

    impl Hops {
        /// Hops for those of `sites` (in address order) that are ftrace's
        /// NOP when untouched; `None` if there are none.  May sleep.
        pub(in crate::engine) fn new(sites: &[Site], targets: &[Target]) -> Result<Option<Self>> {
            let mut hopped = KVec::new();
            for (i, s) in sites.iter().enumerate() {
                if s.orig.as_slice() == NOP5 {
                    hopped.push(i, GFP_KERNEL)?;
                }
            }
            if hopped.is_empty() {
                return Ok(None);
            }
            let mut addrs = KVec::with_capacity(hopped.len(), GFP_KERNEL)?;
            for &i in hopped.iter() {
                addrs.push(sites[i].addr as c_ulong, GFP_KERNEL)?;
            }
            let mem = HopMem::alloc(hopped.len() * HOP_LEN, addrs)?;
            let mut code = KVec::with_capacity(hopped.len() * HOP_LEN, GFP_KERNEL)?;
            for (k, &i) in hopped.iter().enumerate() {
                let s = &sites[i];
                let t = &targets[s.target];
                let hop = mem.text_addr() + (k * HOP_LEN) as u64;
                let cont = s.addr + PATCH_LEN as u64;
                let b = encode_hop(hop, mem.flag_addr(), t.new as u64, cont).map_err(|e| {
                    pr_err!("{:?}: hop: {}\n", t.name, Show(e));
                    ERANGE
                })?;
                code.extend_from_slice(&b, GFP_KERNEL)?;
            }
            mem.write(&code)?;
            Ok(Some(Hops { mem, sites: hopped }))
        }

        /// Whether the plan's site `i` has a hop.
        pub(in crate::engine) fn has(&self, i: usize) -> bool {
            self.sites.binary_search(&i).is_ok()
        }

        /// Before the rendezvous, under every patcher's lock: every hopped
        /// site jumps to its hop, which leads where the site leads now
        /// (`applied`: the plan is live).
        pub(in crate::engine) fn link(
            &self,
            text: &TextMutex<'_>,
            sites: &[Site],
            applied: bool,
        ) -> Result {
            if self.mem.is_set() != applied {
                return Err(EINVAL);
            }
            let mut pokes = KVec::with_capacity(self.sites.len(), GFP_KERNEL)?;
            for (k, &i) in self.sites.iter().enumerate() {
                let at = sites[i].addr;
                let hop = self.mem.text_addr() + (k * HOP_LEN) as u64;
                let jmp = encode_jmp(at, hop).map_err(|_| ERANGE)?;
                pokes.push(live_poke(at, &jmp), GFP_KERNEL)?;
            }
            self.mem.set_linked(true);
            // SAFETY: Each site is a function's patch site; its hop leads
            // where the site does now: the flag says the plan's state, and
            // the site holds the jmp to the new function (applied) or
            // ftrace's NOP (checked before, under the locks held).
            unsafe { text.poke_live(&pokes) }
        }

        /// After the rendezvous, with the locks still held: every hopped
        /// site gets what the plan's state (`applied`) says, the jmp to the
        /// new function or ftrace's NOP.
        pub(in crate::engine) fn unlink(
            &self,
            text: &TextMutex<'_>,
            sites: &[Site],
            applied: bool,
        ) -> Result {
            if self.mem.is_set() != applied {
                return Err(EINVAL);
            }
            let mut pokes = KVec::with_capacity(self.sites.len(), GFP_KERNEL)?;
            for &i in self.sites.iter() {
                let s = &sites[i];
                let bytes = if applied { &s.jmp } else { &s.orig };
                pokes.push(live_poke(s.addr, bytes.as_slice()), GFP_KERNEL)?;
            }
            // SAFETY: Each site is a function's patch site, now jumping to
            // its hop, which leads where the new bytes do: the flag says
            // the plan's state (checked above).
            unsafe { text.poke_live(&pokes) }?;
            self.mem.set_linked(false);
            Ok(())
        }

        /// In the rendezvous: lead every hop to the new functions (`live`)
        /// or the old ones.
        pub(in crate::engine) fn set(&self, ctx: &Stopped, live: bool) {
            self.mem.set(ctx, live);
        }
    }

    /// A site getting `bytes` on the running kernel.
    fn live_poke(addr: u64, bytes: &[u8]) -> LivePoke {
        let mut p = LivePoke {
            addr: addr as usize,
            len: bytes.len() as u32,
            ..Default::default()
        };
        for (d, s) in p.bytes.iter_mut().zip(bytes) {
            *d = *s;
        }
        p
    }
}

/// No hops where they are not built: every site is written inside the
/// rendezvous.
#[cfg(not(CONFIG_X86_64))]
pub(super) enum Hops {}

#[cfg(not(CONFIG_X86_64))]
impl Hops {
    pub(super) fn new(
        _sites: &[super::plan::Site],
        _targets: &[super::Target],
    ) -> kernel::error::Result<Option<Self>> {
        Ok(None)
    }

    pub(super) fn has(&self, _i: usize) -> bool {
        match *self {}
    }

    pub(super) fn link(
        &self,
        _text: &crate::kapi::TextMutex<'_>,
        _sites: &[super::plan::Site],
        _applied: bool,
    ) -> kernel::error::Result {
        match *self {}
    }

    pub(super) fn unlink(
        &self,
        _text: &crate::kapi::TextMutex<'_>,
        _sites: &[super::plan::Site],
        _applied: bool,
    ) -> kernel::error::Result {
        match *self {}
    }

    pub(super) fn set(&self, _ctx: &crate::kapi::Stopped, _live: bool) {
        match *self {}
    }
}
