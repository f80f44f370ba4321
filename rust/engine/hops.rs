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
        arch::Bytes,
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
        /// The writes of a switch, prepared with the plan so that none
        /// allocates once a switch has begun: each site jumping to its hop
        /// (`to_hops`), and holding what it holds outside a switch with
        /// the plan live (`to_new`: the jmp to the new function) or not
        /// (`to_old`: ftrace's NOP).
        to_hops: KVec<LivePoke>,
        to_new: KVec<LivePoke>,
        to_old: KVec<LivePoke>,
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
            let n = hopped.len();
            let mem = HopMem::alloc(n * HOP_LEN, addrs)?;
            let mut code = KVec::with_capacity(n * HOP_LEN, GFP_KERNEL)?;
            let mut to_hops = KVec::with_capacity(n, GFP_KERNEL)?;
            let mut to_new = KVec::with_capacity(n, GFP_KERNEL)?;
            let mut to_old = KVec::with_capacity(n, GFP_KERNEL)?;
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
                let jmp = Bytes::new(&encode_jmp(s.addr, hop).map_err(|_| ERANGE)?)?;
                to_hops.push(live_poke(s.addr, &jmp), GFP_KERNEL)?;
                to_new.push(live_poke(s.addr, &s.jmp), GFP_KERNEL)?;
                to_old.push(live_poke(s.addr, &s.orig), GFP_KERNEL)?;
            }
            mem.write(&code)?;
            Ok(Some(Hops {
                mem,
                sites: hopped,
                to_hops,
                to_new,
                to_old,
            }))
        }

        /// Whether the plan's site `i` has a hop.
        pub(in crate::engine) fn has(&self, i: usize) -> bool {
            self.sites.binary_search(&i).is_ok()
        }

        /// Before the rendezvous, under every patcher's lock: every hopped
        /// site jumps to its hop, which leads where the site leads now
        /// (`applied`: the plan is live).  Allocates nothing.
        pub(in crate::engine) fn link(&self, text: &TextMutex<'_>, applied: bool) -> Result {
            if self.mem.is_set() != applied {
                return Err(EINVAL);
            }
            self.mem.set_linked(true);
            // SAFETY: Each site is a function's patch site; its hop leads
            // where the site does now: the flag says the plan's state, and
            // the site holds the jmp to the new function (applied) or
            // ftrace's NOP (checked before, under the locks held).
            unsafe { text.poke_live(&self.to_hops) }
        }

        /// After the rendezvous, with the locks still held: every hopped
        /// site gets what the plan's state (`applied`) says, the jmp to the
        /// new function or ftrace's NOP.  Allocates nothing.
        pub(in crate::engine) fn unlink(&self, text: &TextMutex<'_>, applied: bool) -> Result {
            if self.mem.is_set() != applied {
                return Err(EINVAL);
            }
            let pokes = if applied { &self.to_new } else { &self.to_old };
            // SAFETY: Each site is a function's patch site, now jumping to
            // its hop, which leads where the new bytes do: the flag says
            // the plan's state (checked above).
            unsafe { text.poke_live(pokes) }?;
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
    fn live_poke(addr: u64, bytes: &Bytes) -> LivePoke {
        let mut p = LivePoke {
            addr: addr as usize,
            ..Default::default()
        };
        p.len = bytes.copy_to(&mut p.bytes);
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
        _applied: bool,
    ) -> kernel::error::Result {
        match *self {}
    }

    pub(super) fn unlink(
        &self,
        _text: &crate::kapi::TextMutex<'_>,
        _applied: bool,
    ) -> kernel::error::Result {
        match *self {}
    }

    pub(super) fn set(&self, _ctx: &crate::kapi::Stopped, _live: bool) {
        match *self {}
    }
}
