// SPDX-License-Identifier: GPL-2.0

//! The stack check before the rendezvous.  Every task's stack is walked
//! in process context, each task held off CPU while its stack is walked
//! (as livepatch checks a task), without stopping anything; the tasks
//! found clean are recorded with their [`Mark`] (context-switch count and
//! start time).  Inside the rendezvous, a task whose mark has not changed
//! has not run since, so its stack is what was checked: only the others
//! are walked again ([`super::phases`]).  Which tasks ran is known without
//! visiting every task: a task that ran since its check was switched out
//! before the rendezvous (inside it every CPU runs its stopper), and the
//! [`kapi::SwitchLog`], started before the check, records every task
//! switched out.  So the rendezvous walks the tasks of the log, the tasks
//! the check did not find clean, and the idle tasks that ran since or were
//! not found clean (the log's idle tasks only there); tasks created after
//! the check that never ran have only their fork frame.  If a log
//! overflowed, it visits every task and walks those whose mark changed.
//! The downtime then grows with the tasks that ran meanwhile, not with
//! all tasks.

use kernel::{
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{
            Atomic,
            Relaxed, //
        },
    },
    task::Task, //
};

use super::plan::MODULE_TEXT;
use crate::kapi::{
    self,
    CpusReadLock,
    LiveTask,
    Walk, //
};
use crate::pcore::{
    ranges::RangeTable,
    taskmap::{
        self,
        Mark, //
    },
};

/// What makes a return address busy for one switch.
pub(super) struct Busy<'a> {
    /// The functions no task may be in, with their safe points
    /// ([`super::Plan::table`]).
    pub(super) table: &'a RangeTable<'a>,
    /// Any return address in the module's text (a rollback of the whole
    /// scheduler: nothing of the module may stay in use), except on the
    /// initiator's stack.
    pub(super) module_wide: bool,
    /// The task that started the switch.
    pub(super) initiator: usize,
    /// The module's text: base and size.
    pub(super) module_text: (u64, u64),
    /// Return addresses in the module's text that are not busy (sorted;
    /// a rollback's safe points of the module's copies, or none).
    pub(super) module_safe: &'a [u64],
    /// Return addresses let pass because they are in `module_safe`
    /// (counted before and inside the rendezvous; only "none" matters).
    pub(super) module_passes: &'a Atomic<u64>,
}

impl Busy<'_> {
    /// The address and range id that make `addr`, on the stack of the task
    /// `task`, busy; `None` if it is not.
    pub(super) fn at(&self, task: usize, addr: u64) -> Option<(u64, u32)> {
        let in_module = addr.wrapping_sub(self.module_text.0) < self.module_text.1;
        // (Binary search, no allocation: also inside stop_machine.)
        if in_module && self.module_safe.binary_search(&addr).is_ok() {
            self.module_passes.fetch_add(1, Relaxed);
            return None;
        }
        if let Some(r) = self.table.busy_at(addr) {
            return Some((addr, r.id));
        }
        (self.module_wide && task != self.initiator && in_module).then_some((addr, MODULE_TEXT))
    }
}

/// `t`'s mark if its stack, walked while it is held off CPU, is clean.
fn clean_mark(busy: &Busy<'_>, t: &LiveTask<'_>) -> Option<Mark> {
    let id = t.id();
    let mut hit = false;
    let (walk, mark) = t.walk_held(&mut |addr| {
        hit = busy.at(id, addr).is_some();
        !hit
    });
    (walk == Walk::Complete && !hit).then_some(mark)
}

/// The mark of a task the check did not find clean (no task has it:
/// switch counts do not reach it).
const UNCLEAN: Mark = Mark {
    switches: u64::MAX,
    start: u64::MAX,
};

/// What the check before the rendezvous recorded for a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Recorded {
    /// Found clean, with its mark then.
    Clean(Mark),
    /// Not found clean: it is in [`Prescan::unclean`].
    Unclean,
}

/// The tasks found clean before the rendezvous.
pub(super) struct Prescan {
    slots: KVec<taskmap::Slot>,
    /// The tasks seen but not recorded clean (busy, running, unreliable),
    /// held until the switch is over.
    pub(super) unclean: KVec<ARef<Task>>,
    /// Every task seen is either recorded clean or in `unclean`.
    pub(super) complete: bool,
    /// Tasks recorded clean.
    pub(super) clean: usize,
    /// Nanoseconds the check took.
    pub(super) ns: u64,
}

impl Prescan {
    /// Walk every task's stack now, and with `cpus` the online CPUs' idle
    /// tasks'.  May sleep (allocates), so before `stop_machine`; the tasks
    /// that cannot be held still, busy, or beyond the room allocated are
    /// simply not recorded.
    pub(super) fn run(busy: &Busy<'_>, cpus: Option<&CpusReadLock>) -> Result<Self> {
        let t0 = kapi::local_clock();
        let mut n = 0usize;
        kapi::for_each_live_task(|_| n += 1);
        let idle = cpus.map_or(0, |c| c.idle_tasks().count());
        // Room for tasks forked meanwhile.
        let cap = taskmap::capacity_for(n + n / 8 + 64 + idle);
        let mut slots = KVec::with_capacity(cap, GFP_KERNEL)?;
        slots.resize(cap, taskmap::Slot::default(), GFP_KERNEL)?;
        let mut unclean = KVec::with_capacity(cap / 2, GFP_KERNEL)?;
        let (mut clean, mut complete) = (0, true);
        kapi::for_each_live_task(|t| {
            let id = t.id() as u64;
            if clean_mark(busy, &t).is_some_and(|m| taskmap::insert(&mut slots, id, m)) {
                clean += 1;
            } else if !taskmap::insert(&mut slots, id, UNCLEAN)
                || unclean.push_within_capacity(t.hold()).is_err()
            {
                complete = false;
            }
        });
        // An idle task is walked in every rendezvous unless it is recorded
        // clean here and has not run since (its CPU was not idle since):
        // the others are not recorded (nor in `unclean`).
        for t in cpus.into_iter().flat_map(|c| c.idle_tasks()) {
            let id = t.id() as u64;
            if clean_mark(busy, &t).is_some_and(|m| taskmap::insert(&mut slots, id, m)) {
                clean += 1;
            }
        }
        Ok(Prescan {
            slots,
            unclean,
            complete,
            clean,
            ns: kapi::local_clock() - t0,
        })
    }

    /// What the check recorded for the task `id` (an idle task: only
    /// [`Recorded::Clean`] or nothing).
    pub(super) fn recorded(&self, id: usize) -> Option<Recorded> {
        match taskmap::find(&self.slots, id as u64)? {
            UNCLEAN => Some(Recorded::Unclean),
            m => Some(Recorded::Clean(m)),
        }
    }
}
