// SPDX-License-Identifier: GPL-2.0

//! One switch: the state check, the locks, the checks and allocations
//! before the rendezvous, `stop_machine`, and the checks after it.

// The rendezvous' status words are `core` atomics: `pcore` is shared with
// the host tests.  Everything else the CPUs share is LKMM atomics.
use core::sync::atomic::AtomicI32;

use kernel::{
    cpu::CpuId,
    prelude::*,
    sync::atomic::Relaxed, //
};

use super::{
    phases::{
        clear,
        inspect,
        patch,
        rebuild_rq, //
    },
    plan::Plan,
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
    TextMutex, //
};
use crate::pcore::rendezvous::{
    Rendezvous,
    Step, //
};

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
        // From the checks to the end: no other patcher can decide or write
        // anything (Documentation/live-update.rst, "Other patchers").
        let patchers = Patchers::lock();
        let cpus = CpusReadLock::lock();
        let text = TextMutex::lock(&cpus);
        let table = self.table(dir)?;
        // Probes first: a refusal then names the probe and the function,
        // also when the probe sits on a patch site.
        if dir == Direction::Apply {
            self.check_probes(&patchers, &table)?;
        }
        self.check_sites(&patchers, dir)?;
        let hash_before = self.text_hash()?;
        let bufs = if self.rebuild {
            Some(RqBuffers::alloc(&cpus)?)
        } else {
            None
        };
        let ips = &self.site_addrs;

        // Everything the rendezvous needs, allocated now.
        let mut cpu_ids: KVec<CpuId> = KVec::new();
        for c in cpus.online_cpus() {
            cpu_ids.push(c, GFP_KERNEL)?;
        }
        let ncpus = cpu_ids.len();
        let max_cpu = cpu_ids.iter().map(|c| c.as_u32()).max().unwrap_or(0) as usize;
        let mut dense: KVec<u32> = KVec::with_capacity(max_cpu + 1, GFP_KERNEL)?;
        dense.resize(max_cpu + 1, u32::MAX, GFP_KERNEL)?;
        for (i, &c) in cpu_ids.iter().enumerate() {
            dense[c.as_u32() as usize] = i as u32;
        }
        let mut slots: KVec<Slot> = KVec::with_capacity(ncpus, GFP_KERNEL)?;
        let mut status: KVec<AtomicI32> = KVec::with_capacity(ncpus, GFP_KERNEL)?;
        for _ in 0..ncpus {
            slots.push(Slot::new(), GFP_KERNEL)?;
            status.push(AtomicI32::new(0), GFP_KERNEL)?;
        }
        let rdv = Rendezvous::new(PHASES, &status).ok_or(EINVAL)?;
        let sites = &self.sites;
        let rebuild = self.rebuild;
        // A rollback of the whole scheduler: nothing of the module may be
        // on any stack but the initiator's.
        let module_wide = rebuild && dir == Direction::Revert;
        let initiator = kapi::current_task_id();
        let module_text = kapi::module_text();

        // Last, as nothing after it may fail before the rendezvous: ftrace
        // leaves the sites alone while they hold our jmp.  Handing them back
        // needs ftrace's accounting to be right: no tracer registered in
        // the meantime may cover them.
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

        let t0 = kapi::local_clock();
        let ret = cpus.stop_machine(&|ctx: &Stopped| {
            let me = dense
                .get(ctx.this_cpu().as_u32() as usize)
                .copied()
                .unwrap_or(u32::MAX);
            if me as usize >= ncpus {
                return EINVAL.to_errno(); // cannot happen: hotplug is excluded
            }
            let run = rdv.run(
                me as usize,
                kapi::local_clock,
                kapi::cpu_relax,
                |step: Step| match step.phase {
                    0 if !step.aborted => {
                        if rebuild {
                            ctx.rq_check()?;
                        }
                        inspect(
                            ctx,
                            &table,
                            &cpu_ids,
                            step.cpu,
                            mode,
                            &slots[step.cpu],
                            module_wide,
                            initiator,
                            module_text,
                        )
                    }
                    1 if !step.aborted => match &bufs {
                        Some(bufs) => clear(ctx, bufs, &slots[step.cpu]),
                        None => Ok(()),
                    },
                    2 if !step.aborted && step.cpu == 0 => patch(ctx, &text, sites, dir, inject),
                    3 => {
                        ctx.sync_core();
                        rebuild_rq(ctx, &slots[step.cpu]);
                        Ok(())
                    }
                    _ => Ok(()),
                },
            );
            run.map_or_else(|f| f.errno, |()| 0)
        });
        let t1 = kapi::local_clock();

        let mut stats = Stats {
            cpus: ncpus,
            stop_machine_ns: t1 - t0,
            ..Stats::default()
        };
        for (p, ns) in stats.phase_ns.iter_mut().enumerate() {
            *ns = rdv.phase_ns(p);
        }
        for (s, &cpu) in slots.iter().zip(cpu_ids.iter()) {
            stats.add(s);
            self.report_busy(s);
            s.check_rebuild(cpu);
        }
        // A successful rendezvous wrote every site: from here on the state
        // is what the text says, whatever the checks below find.
        if ret == 0 {
            self.applied = dir == Direction::Apply;
        }
        // Still under every lock: nothing else can have changed the text.
        let verified = self.verify_text(dir, ret, hash_before);
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
            if let Some(f) = rdv.failure() {
                stats.failed_phase = Some(f.phase);
                pr_err!(
                    "switch refused: error {} in phase {} on CPU {}\n",
                    f.errno,
                    f.phase,
                    cpu_ids[f.cpu].as_u32()
                );
            }
            return Ok((stats, ret));
        }
        if dir == Direction::Apply {
            // What a rollback must restore.
            self.initial_hash = hash_before;
        }
        Ok((stats, 0))
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

impl Drop for Plan {
    fn drop(&mut self) {
        if self.applied {
            // The new code is about to go away: it must not stay reachable.
            // Retry while tasks are inside the new functions.
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
