// SPDX-License-Identifier: GPL-2.0

//! The rendezvous' phases on each CPU, inside `stop_machine`: nothing here
//! sleeps or allocates.

use kernel::{
    cpu::CpuId,
    prelude::*,
    sync::atomic::Relaxed, //
};

use super::{
    plan::{
        Site,
        MODULE_TEXT, //
    },
    stats::Slot,
    Direction,
    Inject,
    Mode, //
};
use crate::kapi::{
    self,
    RqBuffers,
    Stopped,
    TaskRef,
    TextMutex,
    Walk, //
};
use crate::pcore::{
    partition,
    ranges::RangeTable,
    x86::PATCH_LEN, //
};

/// Phase 0 on one CPU: inspect this CPU's share of the tasks.
/// `initiator` is the task that started the switch (asleep in
/// `stop_machine`, with module frames of its own); with `module_wide`, any
/// other task with a return address in this module's text (`module_text`:
/// base and size) is busy (a
/// rollback: the module's internal functions and compiler pieces are not
/// in the range table, and nothing of the module may stay in use).
#[allow(clippy::too_many_arguments)]
pub(super) fn inspect(
    ctx: &Stopped,
    table: &RangeTable<'_>,
    cpu_ids: &[CpuId],
    me: usize,
    mode: Mode,
    slot: &Slot,
    module_wide: bool,
    initiator: usize,
    module_text: (u64, u64),
) -> Result<(), i32> {
    let workers = match mode {
        Mode::Parallel => cpu_ids.len(),
        Mode::Serial => 1,
    };
    if me >= workers {
        return Ok(());
    }
    let check = |t: TaskRef<'_>| {
        let mut hit: Option<(u64, u32)> = None;
        let whole_module = module_wide && t.id() != initiator;
        let walk = ctx.walk_stack(t, &mut |addr| match table.find(addr) {
            Some(r) => {
                hit = Some((addr, r.id));
                false
            }
            None if whole_module && addr.wrapping_sub(module_text.0) < module_text.1 => {
                hit = Some((addr, MODULE_TEXT));
                false
            }
            None => true,
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
                slot.record(ctx, t, 0, 0);
                slot.unreliable.fetch_add(1, Relaxed);
            }
        }
    };
    ctx.for_each_task(|t, i| {
        if partition::owner(i, workers) == me {
            check(t);
        }
    });
    // Idle tasks are not on the task list.
    for (i, &cpu) in cpu_ids.iter().enumerate() {
        if partition::owner(i, workers) == me {
            if let Some(t) = ctx.idle_task(cpu) {
                check(t);
            }
        }
    }
    if slot.hits.load(Relaxed) + slot.unreliable.load(Relaxed) > 0 {
        Err(EBUSY.to_errno())
    } else {
        Ok(())
    }
}

/// Phase 1 on every CPU: empty its runqueue with the code being replaced.
/// Phase 3 ([`rebuild_rq`]) must follow on this CPU.
pub(super) fn clear(ctx: &Stopped, bufs: &RqBuffers<'_>, slot: &Slot) -> Result<(), i32> {
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
pub(super) fn rebuild_rq(ctx: &Stopped, slot: &Slot) {
    if !slot.cleared.load(Relaxed) {
        return;
    }
    let mut st = kapi::RqStats::default();
    ctx.rq_rebuild(&mut st);
    slot.enqueued.store(st.enqueued, Relaxed);
    slot.nr_running_after.store(st.nr_running_after, Relaxed);
    slot.drift.store(&st);
}

/// Phase 2 on CPU 0: write every site, or none.  Every CPU serialises in
/// phase 3, before any leaves the rendezvous.
pub(super) fn patch(
    ctx: &Stopped,
    text: &TextMutex<'_>,
    sites: &[Site],
    dir: Direction,
    inject: Inject,
) -> Result<(), i32> {
    if inject == Inject::AfterStackCheck {
        return Err(ECANCELED.to_errno());
    }
    let undo = |done: usize| {
        for s in sites[..done].iter().rev() {
            // SAFETY: As below: the bytes the site held before this phase.
            unsafe { ctx.text_poke(text, s.addr, &s.before(dir)) };
        }
    };
    for (i, s) in sites.iter().enumerate() {
        let mut now = [0u8; PATCH_LEN];
        if kapi::read_kernel(s.addr, &mut now).is_err() || now != s.before(dir) {
            undo(i);
            return Err(EBUSY.to_errno());
        }
        // SAFETY: No CPU runs the site before phase 3, in which every CPU
        // runs `sync_core` first, aborted or not.  The site is the patch
        // site of a function, right after its entry ENDBR, where calls
        // enter it; it holds what this switch expects (just read, and
        // checked under the same locks by `check_sites`).  The bytes written
        // are its untouched ones, or a `jmp` to the function's replacement
        // (the plan's target: the same source, signature and contract).
        unsafe { ctx.text_poke(text, s.addr, &s.after(dir)) };
        if inject == Inject::MidPatch {
            undo(i + 1);
            return Err(ECANCELED.to_errno());
        }
    }
    Ok(())
}
