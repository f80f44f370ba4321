// SPDX-License-Identifier: GPL-2.0

//! One switch: the state check, the locks, the checks and allocations
//! before the rendezvous, `stop_machine`, and the checks after it.

use kernel::{
    prelude::*,
    sync::atomic::Relaxed, //
};

use super::{
    phases::{
        Online,
        Work, //
    },
    plan::Plan,
    pokes::Pokes,
    prescan::{
        Busy,
        Prescan, //
    },
    stats::{
        publish,
        Slot,
        Stats,
        PHASES, //
    },
    Direction,
    Inject,
    Mode, //
};
use crate::kapi::{
    self,
    CpusReadLock,
    Patchers,
    RqBuffers,
    Stopped,
    SwitchLog,
    TextMutex, //
};
use crate::pcore::rendezvous::Rendezvous;

/// Tasks logged per CPU between the check before the rendezvous and the
/// rendezvous; more, and the rendezvous visits every task.
const SWITCH_LOG_CAP: u32 = 4096;

impl Plan {
    /// Switch in direction `dir`.  On any failure nothing has changed.
    pub(crate) fn switch(&mut self, dir: Direction, mode: Mode, inject: Inject) -> Result<Stats> {
        self.busy_tasks = false;
        let (stats, ret) = self.run(dir, mode, inject)?;
        // Tasks inside the functions replaced, or runqueues that changed
        // between the allocation of the rebuild's buffers and the
        // rendezvous: both are transient.
        let transient = [EBUSY, ENOSPC, EAGAIN].iter().any(|e| e.to_errno() == ret);
        self.busy_tasks =
            transient && (stats.hits + stats.unreliable > 0 || stats.failed_phase == Some(1));
        publish(&stats, self.sites.len(), ret);
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(stats)
    }

    /// Like [`Plan::switch`], but return the statistics whether or not the
    /// switch happened (tests comparing inspections).
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn switch_stats(&mut self, dir: Direction, mode: Mode) -> Stats {
        self.run(dir, mode, Inject::Nothing)
            .map(|(s, _)| s)
            .unwrap_or_default()
    }

    /// One switch attempt: its statistics and its result (0 or -errno).
    /// `Err` only when the attempt could not be made at all.
    fn run(&mut self, dir: Direction, mode: Mode, inject: Inject) -> Result<(Stats, c_int)> {
        if (dir == Direction::Apply) == self.applied {
            return Err(EINVAL);
        }
        // Tasks switched out from now on: those whose stacks may change
        // after the check before the rendezvous (started before
        // text_mutex, which registering the tracepoint probe takes).
        let log = match mode {
            Mode::Parallel => Some(SwitchLog::start(SWITCH_LOG_CAP)?),
            Mode::Serial => None,
        };
        let table = self.table(dir)?;
        let module_passes = kernel::sync::atomic::Atomic::new(0u64);
        let busy = Busy {
            table: &table,
            // A rollback of the whole scheduler: nothing of the module may
            // be on any stack but the initiator's.
            module_wide: self.rebuild && dir == Direction::Revert,
            initiator: kapi::current_task_id(),
            module_text: kapi::module_text(),
            // A rollback through `enable` may let tasks stay at the safe
            // points of the module's copies (the module stays loaded; its
            // exit waits until no task is in its text).
            module_safe: if dir == Direction::Revert && self.revert_safe {
                &self.module_safe
            } else {
                &[]
            },
            module_passes: &module_passes,
        };
        // From the checks to the end: no other patcher can decide or write
        // anything (Documentation/live-update.rst, "Other patchers").
        let patchers = Patchers::lock();
        let cpus = CpusReadLock::lock();
        let text = TextMutex::lock(&cpus);
        let hash_before = self.check_before(&patchers, &table, dir)?;
        // Everything the rendezvous needs, allocated now.
        let bufs = if self.rebuild {
            Some(RqBuffers::alloc(&cpus)?)
        } else {
            None
        };
        let online = Online::alloc(&cpus)?;
        let pokes = Pokes::prepare(&self.sites, self.hops.as_ref(), dir)?;
        let rdv = Rendezvous::new(PHASES, &online.status).ok_or(EINVAL)?;
        self.claim_sites(&patchers, dir)?;
        let t_link = kapi::local_clock();
        let linked = self.link_hops(&text);
        let link_ns = kapi::local_clock() - t_link;
        // Last before the rendezvous, under the locks: the fewer tasks run
        // in between, the fewer are walked again inside it.  (Before the
        // locks, the tasks that ran during the checks above doubled the
        // walks inside: 9-10 instead of 4-7 in make bench.)
        let prescan = linked.and_then(|()| match log {
            _ if inject == Inject::BeforeRendezvous => Err(ECANCELED),
            Some(_) => Prescan::run(&busy, Some(&cpus)).map(Some),
            None => Ok(None),
        });
        let (mut stats, ret) = match &prescan {
            Ok(prescan) => {
                let work = Work {
                    busy,
                    prescan: prescan.as_ref().zip(log.as_ref()),
                    online: &online,
                    rdv: &rdv,
                    bufs: bufs.as_ref(),
                    text: &text,
                    pokes: &pokes,
                    rebuild: self.rebuild,
                    mode,
                    inject,
                };
                let t0 = kapi::local_clock();
                let ret = cpus.stop_machine(&|ctx: &Stopped| work.on_cpu(ctx));
                let stats =
                    self.collect(&online, &rdv, (t0, kapi::local_clock()), prescan.as_ref());
                (stats, ret)
            }
            Err(e) => (Stats::default(), e.to_errno()),
        };
        drop(pokes);

        // A successful rendezvous switched every site (or its hop): from
        // here on the state is what the text says, whatever the checks
        // below find.
        if ret == 0 {
            self.applied = dir == Direction::Apply;
            if dir == Direction::Revert {
                self.module_passes = module_passes.load(Relaxed);
            }
        }
        // The hopped sites hold what is live now, whatever happened.
        let t_unlink = kapi::local_clock();
        let unlinked = self.unlink_hops(&text);
        stats.link_ns = link_ns + (kapi::local_clock() - t_unlink);
        // Still under every lock: nothing else can have changed the text.
        let verified = unlinked.and_then(|()| self.verify_text(dir, ret, hash_before));
        // ftrace gets the sites back once they hold its NOP again.
        if !self.applied {
            patchers.mark(&self.site_addrs, false)?;
        }
        drop(bufs);
        drop(text);
        drop(cpus);
        drop(patchers);
        verified?;
        if ret != 0 {
            stats.failed_phase = report_failure(&online, &rdv);
            return Ok((stats, ret));
        }
        if dir == Direction::Apply {
            // What a rollback must restore.
            self.initial_hash = hash_before;
        }
        Ok((stats, 0))
    }

    /// What the CPUs of a finished rendezvous measured (`call`: when the
    /// `stop_machine` call started and returned); busy tasks and uneven
    /// rebuilds are logged.
    fn collect(
        &self,
        online: &Online,
        rdv: &Rendezvous<'_>,
        call: (u64, u64),
        prescan: Option<&Prescan>,
    ) -> Stats {
        let (entered, left) = rdv.span();
        let mut stats = Stats {
            cpus: online.ids.len(),
            stop_machine_ns: call.1 - call.0,
            enter_ns: entered.saturating_sub(call.0),
            leave_ns: call.1.saturating_sub(left),
            ..Stats::default()
        };
        for (p, ns) in stats.phase_ns.iter_mut().enumerate() {
            *ns = rdv.phase_ns(p);
        }
        for (s, &cpu) in online.slots.iter().zip(online.ids.iter()) {
            stats.add(s);
            self.report_busy(s);
            s.check_rebuild(cpu);
        }
        if let Some(p) = prescan {
            stats.prescan_ns = p.ns;
            stats.prescan_clean = p.clean;
            if stats.only_ran {
                // The others were found clean before and not walked again.
                stats.unchanged = p.clean - stats.rewalked.min(p.clean);
                stats.tasks += stats.unchanged;
            }
        }
        stats
    }

    /// Before the rendezvous: the hopped sites lead to their hops.
    pub(super) fn link_hops(&self, text: &TextMutex<'_>) -> Result {
        match &self.hops {
            Some(h) => h.link(text, self.applied),
            None => Ok(()),
        }
    }

    /// After it: the hopped sites hold what is live.  If this fails they
    /// may still lead to the hops, which are then never freed.
    pub(super) fn unlink_hops(&self, text: &TextMutex<'_>) -> Result {
        match &self.hops {
            Some(h) => h.unlink(text, self.applied),
            None => Ok(()),
        }
    }

    fn report_busy(&self, s: &Slot) {
        let hits = s.hits.load(Relaxed);
        let unreliable = s.unreliable.load(Relaxed);
        if hits + unreliable == 0 {
            return;
        }
        let mut comm = [0u8; 16];
        for (d, a) in comm.iter_mut().zip(s.first_comm.iter()) {
            *d = a.load(Relaxed) as u8;
        }
        let len = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
        let comm = core::str::from_utf8(&comm[..len]).unwrap_or("?");
        let pid = s.first_pid.load(Relaxed);
        let addr = s.first_addr.load(Relaxed);
        if addr == 0 {
            pr_err!("task {} ({}): stack cannot be walked reliably\n", pid, comm);
            s.log_unreliable();
        } else {
            let name = self.range_name(s.first_range.load(Relaxed));
            pr_err!("task {} ({}) is in {:?} at {:#x}\n", pid, comm, name, addr);
        }
        if hits + unreliable > 1 {
            pr_err!(
                "... and {} more busy task(s) on this CPU\n",
                hits + unreliable - 1
            );
        }
    }
}

/// Log the first error of a failed rendezvous; its phase, if there was one.
fn report_failure(online: &Online, rdv: &Rendezvous<'_>) -> Option<usize> {
    let f = rdv.failure()?;
    pr_err!(
        "switch refused: error {} in phase {} on CPU {}\n",
        f.errno,
        f.phase,
        online.ids[f.cpu].as_u32()
    );
    Some(f.phase)
}

impl Drop for Plan {
    fn drop(&mut self) {
        if self.applied {
            // The new code is about to go away: it must not stay reachable.
            // Retry while tasks are inside the new functions (strictly: no
            // task may stay at a safe point of the module's copies).
            self.revert_safe = false;
            for _ in 0..100 {
                match self.switch(Direction::Revert, Mode::Parallel, Inject::Nothing) {
                    Ok(_) => return,
                    Err(e) if e == EBUSY => {
                        kernel::time::delay::fsleep(kernel::time::Delta::from_millis(10))
                    }
                    Err(_) => break,
                }
            }
            pr_crit!("cannot revert the redirections; the new code stays in place\n");
        }
    }
}
