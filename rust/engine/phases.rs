// SPDX-License-Identifier: GPL-2.0

//! The rendezvous' phases on each CPU, inside `stop_machine`: nothing here
//! sleeps or allocates.  [`Work`] is what one switch hands every CPU;
//! [`Online`] numbers the CPUs for the rendezvous.

// The rendezvous' status words are `core` atomics: `pcore` is shared with
// the host tests.  Everything else the CPUs share is LKMM atomics.
use core::sync::atomic::AtomicI32;

use kernel::{
    cpu::CpuId,
    prelude::*,
    sync::atomic::Relaxed, //
};

use super::{
    pokes::Pokes,
    prescan::{
        Busy,
        Prescan,
        Recorded, //
    },
    stats::Slot,
    Inject,
    Mode, //
};
use crate::kapi::{
    self,
    CpusReadLock,
    RqBuffers,
    Stopped,
    SwitchLog,
    TaskRef,
    TextMutex,
    Walk, //
};
use crate::pcore::{
    partition,
    rendezvous::{
        Rendezvous,
        Step, //
    },
};

/// The online CPUs of one switch, numbered `0..n` for the rendezvous, each
/// with its [`Slot`] and status word: allocated before `stop_machine`.
pub(super) struct Online {
    /// The CPU of each number.
    pub(super) ids: KVec<CpuId>,
    /// The number of each CPU (`u32::MAX`: not online).
    dense: KVec<u32>,
    /// Each CPU's results, by number.
    pub(super) slots: KVec<Slot>,
    /// Each CPU's status word, by number.
    pub(super) status: KVec<AtomicI32>,
}

impl Online {
    /// Number the CPUs online now (`cpus` keeps them so).
    pub(super) fn alloc(cpus: &CpusReadLock) -> Result<Self> {
        let mut ids: KVec<CpuId> = KVec::new();
        for c in cpus.online_cpus() {
            ids.push(c, GFP_KERNEL)?;
        }
        let ncpus = ids.len();
        let max_cpu = ids.iter().map(|c| c.as_u32()).max().unwrap_or(0) as usize;
        let mut dense: KVec<u32> = KVec::with_capacity(max_cpu + 1, GFP_KERNEL)?;
        dense.resize(max_cpu + 1, u32::MAX, GFP_KERNEL)?;
        for (i, &c) in ids.iter().enumerate() {
            dense[c.as_u32() as usize] = i as u32;
        }
        let mut slots: KVec<Slot> = KVec::with_capacity(ncpus, GFP_KERNEL)?;
        let mut status: KVec<AtomicI32> = KVec::with_capacity(ncpus, GFP_KERNEL)?;
        for _ in 0..ncpus {
            slots.push(Slot::new(), GFP_KERNEL)?;
            status.push(AtomicI32::new(0), GFP_KERNEL)?;
        }
        Ok(Online {
            ids,
            dense,
            slots,
            status,
        })
    }
}

/// What every CPU of one switch reads in the rendezvous, prepared before.
pub(super) struct Work<'a> {
    /// What makes a task busy.
    pub(super) busy: Busy<'a>,
    /// The tasks found clean before the rendezvous, if they were checked,
    /// and the tasks switched out since.
    pub(super) prescan: Option<(&'a Prescan, &'a SwitchLog)>,
    pub(super) online: &'a Online,
    pub(super) rdv: &'a Rendezvous<'a>,
    /// The rebuild's task buffers, if the switch rebuilds the runqueues.
    pub(super) bufs: Option<&'a RqBuffers<'a>>,
    pub(super) text: &'a TextMutex<'a>,
    /// The text writes, prepared.
    pub(super) pokes: &'a Pokes<'a>,
    /// Clear and rebuild the runqueues (check them in phase 0).
    pub(super) rebuild: bool,
    pub(super) mode: Mode,
    pub(super) inject: Inject,
}

impl Work<'_> {
    /// The `stop_machine` callback: this CPU's part of the rendezvous; 0
    /// or the first error of any CPU.
    pub(super) fn on_cpu(&self, ctx: &Stopped) -> c_int {
        let ncpus = self.online.ids.len();
        let me = self
            .online
            .dense
            .get(ctx.this_cpu().as_u32() as usize)
            .copied()
            .unwrap_or(u32::MAX);
        if me as usize >= ncpus {
            return EINVAL.to_errno(); // cannot happen: hotplug is excluded
        }
        let run = self.rdv.run(
            me as usize,
            kapi::local_clock,
            kapi::cpu_relax,
            |step: Step| self.phase(ctx, step),
        );
        run.map_or_else(|f| f.errno, |()| 0)
    }

    /// One phase of the rendezvous on the CPU numbered `step.cpu`.
    fn phase(&self, ctx: &Stopped, step: Step) -> Result<(), i32> {
        let slot = &self.online.slots[step.cpu];
        match step.phase {
            0 if !step.aborted => {
                if self.rebuild {
                    ctx.rq_check()?;
                }
                inspect(
                    ctx,
                    &self.busy,
                    self.prescan,
                    &self.online.ids,
                    step.cpu,
                    self.mode,
                    slot,
                )
            }
            1 if !step.aborted => match self.bufs {
                Some(bufs) => clear(ctx, bufs, slot),
                None => Ok(()),
            },
            2 if !step.aborted && step.cpu == 0 => patch(ctx, self.text, self.pokes, self.inject),
            3 => {
                ctx.sync_core();
                rebuild_rq(ctx, slot);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Phase 0 on one CPU: inspect this CPU's share of the tasks.  A task
/// the check before the rendezvous found clean, and that has not run
/// since, is not walked again.
fn inspect(
    ctx: &Stopped,
    busy: &Busy<'_>,
    prescan: Option<(&Prescan, &SwitchLog)>,
    cpu_ids: &[CpuId],
    me: usize,
    mode: Mode,
    slot: &Slot,
) -> Result<(), i32> {
    let workers = match mode {
        Mode::Parallel => cpu_ids.len(),
        Mode::Serial => 1,
    };
    if me >= workers {
        return Ok(());
    }
    let ins = Inspection {
        ctx,
        busy,
        slot,
        workers,
        me,
    };
    let only_ran = match prescan {
        Some((p, log)) if p.complete && !log_overflowed(ctx, log) => {
            ins.walk_ran(p, log);
            true
        }
        _ => {
            ins.walk_all(prescan.map(|(p, _)| p));
            false
        }
    };
    ins.walk_idle(prescan.map(|(p, _)| p), only_ran, cpu_ids);
    if slot.hits.load(Relaxed) + slot.unreliable.load(Relaxed) > 0 {
        Err(EBUSY.to_errno())
    } else {
        Ok(())
    }
}

/// One CPU's share of phase 0.
struct Inspection<'a, 'b> {
    ctx: &'a Stopped,
    busy: &'a Busy<'b>,
    slot: &'a Slot,
    /// CPUs that walk stacks, and this one's number among them.
    workers: usize,
    me: usize,
}

impl Inspection<'_, '_> {
    /// Walk `t`'s stack and record what makes it busy.
    fn walk(&self, t: TaskRef<'_>) {
        let (ctx, slot) = (self.ctx, self.slot);
        let mut hit: Option<(u64, u32)> = None;
        let (mut frames, mut last) = (0u32, 0u64);
        let walk = ctx.walk_stack(t, &mut |addr| {
            (frames, last) = (frames + 1, addr);
            hit = self.busy.at(t.id(), addr);
            hit.is_none()
        });
        if walk != Walk::Running {
            slot.tasks.fetch_add(1, Relaxed);
        }
        match walk {
            // A stopper runs only stop_machine code; a freed stack is a
            // task that has exited for good.
            Walk::Complete | Walk::Gone | Walk::Running => {}
            Walk::Stopped => {
                let (addr, id) = hit.unwrap_or((0, 0));
                slot.record(ctx, t, addr, id);
                slot.hits.fetch_add(1, Relaxed);
            }
            Walk::Unreliable => {
                slot.record_unreliable(ctx, t, frames, last);
                slot.record(ctx, t, 0, 0);
                slot.unreliable.fetch_add(1, Relaxed);
            }
        }
    }

    /// Whether the check before the rendezvous found `t` clean and it has
    /// not run since.
    fn unchanged(&self, p: &Prescan, t: TaskRef<'_>) -> bool {
        let ctx = self.ctx;
        !ctx.on_cpu(t) && p.recorded(t.id()) == Some(Recorded::Clean(ctx.task_mark(t)))
    }

    /// Walk only the tasks switched out since the check (of them, those
    /// it found clean that have not run since it are skipped) and those it
    /// did not find clean.  Idle tasks: [`Inspection::walk_idle`].
    fn walk_ran(&self, p: &Prescan, log: &SwitchLog) {
        for cpu in 0..kernel::cpu::nr_cpu_ids() {
            if partition::owner(cpu as usize, self.workers) != self.me {
                continue;
            }
            for t in self.ctx.switched_out(log, cpu).into_iter().flatten() {
                if self.ctx.is_idle(t) {
                    continue;
                }
                match p.recorded(t.id()) {
                    Some(Recorded::Unclean) => continue, // walked below
                    Some(Recorded::Clean(_)) if self.unchanged(p, t) => continue,
                    Some(Recorded::Clean(_)) => {
                        self.slot.rewalked.fetch_add(1, Relaxed);
                    }
                    None => {}
                }
                self.walk(t);
            }
        }
        for (i, t) in p.unclean.iter().enumerate() {
            if partition::owner(i, self.workers) == self.me {
                self.walk(self.ctx.held(t));
            }
        }
        self.slot.only_ran.store(true, Relaxed);
    }

    /// Visit every task (no check before, or a log overflowed): walk those
    /// that the check did not find clean or that ran since.
    fn walk_all(&self, prescan: Option<&Prescan>) {
        self.ctx.for_each_task(|t, i| {
            if partition::owner(i, self.workers) != self.me {
                return;
            }
            if prescan.is_some_and(|p| self.unchanged(p, t)) {
                self.slot.tasks.fetch_add(1, Relaxed);
                self.slot.unchanged.fetch_add(1, Relaxed);
            } else {
                self.walk(t);
            }
        });
    }

    /// Idle tasks are not on the task list: each is walked unless the
    /// check found it clean and it has not been switched out since (its
    /// CPU was not idle since; the mark says so whether a log overflowed
    /// or not).  `only_ran`: [`Inspection::walk_ran`] ran, and the tasks
    /// not walked again are counted from the check's.
    fn walk_idle(&self, prescan: Option<&Prescan>, only_ran: bool, cpu_ids: &[CpuId]) {
        for (i, &cpu) in cpu_ids.iter().enumerate() {
            if partition::owner(i, self.workers) != self.me {
                continue;
            }
            let Some(t) = self.ctx.idle_task(cpu) else {
                continue;
            };
            match prescan.map(|p| (self.unchanged(p, t), p.recorded(t.id()))) {
                Some((true, _)) if only_ran => {}
                Some((true, _)) => {
                    self.slot.tasks.fetch_add(1, Relaxed);
                    self.slot.unchanged.fetch_add(1, Relaxed);
                }
                Some((false, Some(Recorded::Clean(_)))) if only_ran => {
                    self.slot.rewalked.fetch_add(1, Relaxed);
                    self.walk(t);
                }
                _ => self.walk(t),
            }
        }
    }
}

/// Whether any CPU's switch log overflowed (the same answer on every CPU:
/// inside stop_machine no CPU switches tasks).
fn log_overflowed(ctx: &Stopped, log: &SwitchLog) -> bool {
    (0..kernel::cpu::nr_cpu_ids()).any(|cpu| ctx.switched_out(log, cpu).is_none())
}

/// Phase 1 on every CPU: empty its runqueue with the code being replaced.
/// Phase 3 ([`rebuild_rq`]) must follow on this CPU.
fn clear(ctx: &Stopped, bufs: &RqBuffers<'_>, slot: &Slot) -> Result<(), i32> {
    let mut st = kapi::RqStats::default();
    // SAFETY: Every CPU runs phase 3 of this rendezvous, also after an
    // error (the rendezvous aborts, it does not skip phases), and phase 3
    // rebuilds this CPU's runqueue: `cleared` is set below whatever the
    // result.
    let ret = unsafe { ctx.rq_clear(bufs, &mut st) };
    slot.cleared.store(true, Relaxed);
    slot.dequeued.store(st.dequeued, Relaxed);
    slot.finished_delayed.store(st.finished_delayed, Relaxed);
    slot.nr_running_before.store(st.nr_running_before, Relaxed);
    ret
}

/// Phase 3 on every CPU that cleared its runqueue: refill it with the code
/// now live.
fn rebuild_rq(ctx: &Stopped, slot: &Slot) {
    if !slot.cleared.load(Relaxed) {
        return;
    }
    let mut st = kapi::RqStats::default();
    ctx.rq_rebuild(&mut st);
    slot.enqueued.store(st.enqueued, Relaxed);
    slot.nr_running_after.store(st.nr_running_after, Relaxed);
    slot.drift.store(&st);
}

/// Phase 2 on CPU 0: switch every site, or none.  Every CPU serialises in
/// phase 3, before any leaves the rendezvous.
fn patch(
    ctx: &Stopped,
    text: &TextMutex<'_>,
    pokes: &Pokes<'_>,
    inject: Inject,
) -> Result<(), i32> {
    if inject == Inject::AfterStackCheck {
        return Err(ECANCELED.to_errno());
    }
    pokes.write(ctx, text, (inject == Inject::MidPatch).then_some(1))
}
