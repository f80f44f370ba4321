// SPDX-License-Identifier: GPL-2.0

//! The stack check before the rendezvous.  Every task's stack is walked
//! in process context, each task held off CPU while its stack is walked
//! (as livepatch checks a task), without stopping anything; the tasks
//! found clean are recorded with their [`Mark`] (context-switch count and
//! start time).  Inside the rendezvous, a task whose mark has not changed
//! has not run since, so its stack is what was checked: only the others
//! are walked again ([`super::phases`]).  The downtime then grows with the
//! tasks that ran meanwhile, not with all tasks.

use kernel::prelude::*;

use super::plan::MODULE_TEXT;
use crate::kapi::{
    self,
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
    /// The functions no task may be in ([`super::Plan::table`]).
    pub(super) table: &'a RangeTable<'a>,
    /// Any return address in the module's text (a rollback of the whole
    /// scheduler: nothing of the module may stay in use), except on the
    /// initiator's stack.
    pub(super) module_wide: bool,
    /// The task that started the switch.
    pub(super) initiator: usize,
    /// The module's text: base and size.
    pub(super) module_text: (u64, u64),
}

impl Busy<'_> {
    /// The address and range id that make `addr`, on the stack of the task
    /// `task`, busy; `None` if it is not.
    pub(super) fn at(&self, task: usize, addr: u64) -> Option<(u64, u32)> {
        if let Some(r) = self.table.find(addr) {
            return Some((addr, r.id));
        }
        let in_module = addr.wrapping_sub(self.module_text.0) < self.module_text.1;
        (self.module_wide && task != self.initiator && in_module).then_some((addr, MODULE_TEXT))
    }
}

/// The tasks found clean before the rendezvous.
pub(super) struct Prescan {
    slots: KVec<taskmap::Slot>,
    /// Tasks recorded clean.
    pub(super) clean: usize,
    /// Nanoseconds the check took.
    pub(super) ns: u64,
}

impl Prescan {
    /// Walk every task's stack now.  May sleep (allocates), so before
    /// `stop_machine`; the tasks that cannot be held still, busy, or
    /// beyond the room allocated are simply not recorded.
    pub(super) fn run(busy: &Busy<'_>) -> Result<Self> {
        let t0 = kapi::local_clock();
        let mut n = 0usize;
        kapi::for_each_live_task(|_| n += 1);
        // Room for tasks forked meanwhile.
        let cap = taskmap::capacity_for(n + n / 8 + 64);
        let mut slots = KVec::with_capacity(cap, GFP_KERNEL)?;
        slots.resize(cap, taskmap::Slot::default(), GFP_KERNEL)?;
        let mut clean = 0;
        kapi::for_each_live_task(|t| {
            let id = t.id();
            let mut hit = false;
            let (walk, mark) = t.walk_held(&mut |addr| {
                hit = busy.at(id, addr).is_some();
                !hit
            });
            if walk == Walk::Complete && !hit && taskmap::insert(&mut slots, id as u64, mark) {
                clean += 1;
            }
        });
        Ok(Prescan {
            slots,
            clean,
            ns: kapi::local_clock() - t0,
        })
    }

    /// Whether the task `id` was found clean and has not run since (its
    /// mark is still `now`).
    pub(super) fn unchanged(&self, id: usize, now: Mark) -> bool {
        taskmap::find(&self.slots, id as u64) == Some(now)
    }
}
