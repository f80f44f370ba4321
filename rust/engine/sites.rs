// SPDX-License-Identifier: GPL-2.0

//! The checks around a switch, under the locks that keep other patchers
//! out: probes on the functions replaced, the bytes and owners of every
//! patch site before the rendezvous, and what the text holds after it.

use kernel::prelude::*;

use super::arch::{
    self,
    Bytes, //
};
use super::{
    plan::{
        Plan,
        Site, //
    },
    Direction,
    Show, //
};
use crate::kapi::{
    self,
    Patchers, //
};
#[cfg(CONFIG_KUNIT = "y")]
use crate::kapi::{
    CpusReadLock,
    TextMutex, //
};
use crate::pcore::ranges::RangeTable;

impl Plan {
    /// The checks before the rendezvous, under every lock: probes on
    /// what an upgrade replaces (`table`, [`Plan::table`]), then every
    /// patch site.  Returns [`Plan::text_hash`] before the switch.
    pub(super) fn check_before(
        &self,
        patchers: &Patchers,
        table: &RangeTable<'_>,
        dir: Direction,
    ) -> Result<u64> {
        // Probes first: a refusal then names the probe and the function,
        // also when the probe sits on a patch site.
        if dir == Direction::Apply {
            self.check_probes(patchers, table)?;
        }
        self.check_sites(patchers, dir)?;
        self.text_hash()
    }

    /// Last before the rendezvous, as nothing after it may fail: ftrace
    /// leaves the sites alone while they hold our jmp.  Handing them back
    /// needs ftrace's accounting to be right: no tracer registered in the
    /// meantime may cover them.
    pub(super) fn claim_sites(&self, patchers: &Patchers, dir: Direction) -> Result {
        let ips = &self.site_addrs;
        match dir {
            Direction::Apply => patchers.mark(ips, true).inspect_err(|_| {
                pr_err!("a tracer uses a function to be redirected; switch refused\n");
            })?,
            Direction::Revert => match patchers.user_of(ips) {
                Some(ip) => {
                    pr_err!(
                        "an ftrace user (tracer, kprobe, BPF, livepatch) registered while redirected covers {:#x}; remove it, then retry\n",
                        ip
                    );
                    return Err(EBUSY);
                }
                None => 0,
            },
        };
        Ok(())
    }

    /// Refuse an upgrade while a kprobe, livepatch or ftrace direct call
    /// (BPF trampoline) is on any function the module replaces or makes
    /// unreachable (internal functions and compiler pieces included): it
    /// would silently stop working.  Names the function.
    /// `table` is [`Plan::table`] of an upgrade.
    fn check_probes(&self, patchers: &Patchers, table: &RangeTable<'_>) -> Result {
        let split: KVec<(u64, u64)> = self.split_ranges()?;
        let covered =
            |a: u64| table.find(a).is_some() || split.iter().any(|&(b, n)| a.wrapping_sub(b) < n);
        let Some((addr, what)) = patchers.probe_in(&covered) else {
            return Ok(());
        };
        let id = table.find(addr).map_or(0, |r| r.id);
        let name = match split.iter().position(|&(b, n)| addr.wrapping_sub(b) < n) {
            Some(_) => self
                .targets
                .iter()
                .find(|t| t.split)
                .map_or(c"?", |t| t.name),
            None => self.range_name(id),
        };
        pr_err!(
            "upgrade refused: a {:?} at {:#x} is in {:?}, which the module scheduler replaces: it would stop working; remove it first\n",
            what,
            addr,
            name
        );
        Err(EBUSY)
    }

    /// Check, under `text_mutex`, that every site holds what the switch
    /// expects to find there and that nothing else owns those bytes.
    fn check_sites(&self, patchers: &Patchers, dir: Direction) -> Result {
        self.sites
            .iter()
            .try_for_each(|s| self.check_site(patchers, s, dir))
    }

    /// [`Plan::check_sites`] for one site; a refusal names the function,
    /// the site and the reason.
    fn check_site(&self, patchers: &Patchers, s: &Site, dir: Direction) -> Result {
        let name = self.targets[s.target].name;
        let len = s.orig.len();
        if !kapi::is_core_kernel_text(s.addr) || !kapi::is_core_kernel_text(s.addr + len as u64 - 1)
        {
            pr_err!("{:?}: {:#x} is not core kernel text\n", name, s.addr);
            return Err(EINVAL);
        }
        if let Some(owner) = kapi::text_reserved(patchers, s.addr, len) {
            pr_err!("{:?}: patch site {:#x} is a {:?}\n", name, s.addr, owner);
            return Err(EBUSY);
        }
        let now = Bytes::read(s.addr, len)?;
        if now != s.before(dir) {
            match arch::why_not(s.addr, &now, &s.orig) {
                Err(e) => pr_err!("{:?}: patch site {:#x}: {}\n", name, s.addr, Show(e)),
                Ok(()) => pr_err!("{:?}: patch site {:#x} was changed\n", name, s.addr),
            }
            return Err(EBUSY);
        }
        if dir == Direction::Apply {
            // Untouched: the ftrace NOP, or the body of a notrace
            // function; never a call, jump or breakpoint left by a patcher.
            if let Err(e) = arch::check_untouched(s.addr, &now) {
                pr_err!("{:?}: patch site {:#x}: {}\n", name, s.addr, Show(e));
                return Err(EBUSY);
            }
        }
        Ok(())
    }

    /// Check every site (under the same locks as a switch) without
    /// switching: the number of sites that could be switched in direction
    /// `dir` now, and of those refused (each refusal is logged).
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn survey(&self, dir: Direction) -> (usize, usize) {
        let patchers = Patchers::lock();
        let cpus = CpusReadLock::lock();
        let _text = TextMutex::lock(&cpus);
        let ok = self
            .sites
            .iter()
            .filter(|s| self.check_site(&patchers, s, dir).is_ok())
            .count();
        (ok, self.sites.len() - ok)
    }

    /// The address of the `k`-th site with a hop, if there is one (KUnit).
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn hopped_site(&self, k: usize) -> Option<u64> {
        let hops = self.hops.as_ref()?;
        self.sites
            .iter()
            .enumerate()
            .filter(|&(i, _)| hops.has(i))
            .nth(k)
            .map(|(_, s)| s.addr)
    }

    /// Link the sites that have hops to them, run `during`, and write them
    /// back, under the locks of a switch, as a switch does around its
    /// rendezvous (KUnit).  `None` if the plan has no hops.
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn with_hops_linked<R>(&self, during: impl FnOnce() -> R) -> Result<Option<R>> {
        if self.hops.is_none() {
            return Ok(None);
        }
        let dir = if self.applied {
            Direction::Revert
        } else {
            Direction::Apply
        };
        let patchers = Patchers::lock();
        let cpus = CpusReadLock::lock();
        let text = TextMutex::lock(&cpus);
        self.check_sites(&patchers, dir)?;
        self.claim_sites(&patchers, dir)?;
        let linked = self.link_hops(&text);
        let r = linked.is_ok().then(during);
        let unlinked = self.unlink_hops(&text);
        if !self.applied {
            patchers.mark(&self.site_addrs, false)?;
        }
        linked.and(unlinked)?;
        Ok(r)
    }

    /// After a rendezvous that returned `ret`, with every lock still held:
    /// a failed switch left the text as it was (`hash_before`), a
    /// successful one left every site holding what it wrote.  `EIO` means
    /// a bug: the caller keeps the module pinned.
    pub(super) fn verify_text(&self, dir: Direction, ret: c_int, hash_before: u64) -> Result {
        if ret != 0 {
            if self.text_hash()? != hash_before {
                pr_crit!("kernel text changed by a failed switch; this is a bug\n");
                return Err(EIO);
            }
            return Ok(());
        }
        for s in self.sites.iter() {
            if Bytes::read(s.addr, s.orig.len())? != s.after(dir) {
                pr_crit!(
                    "patch site {:#x} does not hold the bytes written; this is a bug\n",
                    s.addr
                );
                return Err(EIO);
            }
        }
        Ok(())
    }
}
