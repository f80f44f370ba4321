// SPDX-License-Identifier: GPL-2.0

//! Before the module's memory is freed: wait until no task has a return
//! address in the module's text.  A rollback through `enable` may let
//! tasks stay at the safe points of the module's copies (they return
//! through code that touches no scheduler state, but it is the module's
//! code); module exit must not free it under them.
//!
//! After the rollback nothing calls into the module any more (every entry
//! is vmlinux's again, `module_pointers` was 0), so a task found without
//! any module address on its stack, held off CPU and walked reliably,
//! stays without: one clean walk per task suffices.  Tasks created later
//! never had one.  So: one walk of every task, then only the tasks not
//! found clean are walked again, 100 ms apart, until none is left.
//! Everything here sleeps; nothing runs in stop_machine.
//!
//! The idle tasks are not walked (one is nearly always running on an idle
//! CPU): off CPU, an idle task is always in `do_idle` -> `schedule_idle`
//! -> `__schedule`, all vmlinux frames (the entries of the context switch
//! stay in vmlinux, and the module's `__schedule` finishes in vmlinux's),
//! so the rollback's check, which walked them, cannot have let one pass at
//! a module safe point; and nothing enters the module after it.

use kernel::{
    prelude::*,
    sync::aref::ARef,
    task::Task, //
};

use super::{
    plan::Plan,
    prescan::{
        Busy,
        Prescan, //
    },
    Direction,
};
use crate::kapi::{
    self,
    Walk, //
};

/// Pause between two walks of the tasks not found clean.
const PAUSE_MS: i64 = 100;
/// Pauses between two log lines (about 5 s).
const LOG_EVERY: u64 = 50;

impl Plan {
    /// Wait until no task but the caller has a return address in the
    /// module's text or in a module copy of this plan (strictly: no safe
    /// points).  Sleeps; returns when the module's code is no longer in
    /// use.  The plan must not be applied (after a rollback).
    pub(crate) fn wait_module_unused(&self) -> Result {
        if self.applied {
            return Err(EINVAL);
        }
        let table = self.table(Direction::Revert)?;
        let passes = kernel::sync::atomic::Atomic::new(0u64);
        let busy = Busy {
            table: &table,
            module_wide: true,
            initiator: kapi::current_task_id(),
            module_text: kapi::module_text(),
            module_safe: &[],
            module_passes: &passes,
        };
        let mut rounds: u64 = 0;
        // The first walk of every task; until it covered every task seen.
        let mut left: KVec<ARef<Task>> = loop {
            // (Idle tasks are never at a module safe point: see
            // Documentation/live-update.rst, "Safe points".)
            let p = Prescan::run(&busy, None)?;
            if p.complete {
                break p.unclean;
            }
            rounds += 1;
            kernel::time::delay::fsleep(kernel::time::Delta::from_millis(PAUSE_MS));
        };
        loop {
            let mut first: Option<(i32, u64)> = None;
            left.retain(|t| {
                // The caller (module exit) leaves the module's code before
                // its memory is freed.
                if t.as_ptr() as usize == busy.initiator {
                    return false;
                }
                let mut hit = 0;
                let walk = kapi::walk_held_ref(t, &mut |addr| {
                    if busy.at(t.as_ptr() as usize, addr).is_some() {
                        hit = addr;
                        return false;
                    }
                    true
                });
                // Gone: exited for good.  Complete without a hit: clean
                // for good (nothing calls into the module any more).
                let clean = walk == Walk::Gone || (walk == Walk::Complete && hit == 0);
                if !clean {
                    first.get_or_insert((t.pid(), hit));
                }
                !clean
            });
            let Some((pid, addr)) = first else {
                if rounds > 0 {
                    pr_info!(
                        "unload: no task in the module's code any more (after {} ms)\n",
                        rounds * PAUSE_MS as u64
                    );
                }
                return Ok(());
            };
            if rounds % LOG_EVERY == 0 {
                pr_warn!(
                    "unload waits: {} task(s) may still return into the module's code (pid {} at {:#x}; 0: running or not walkable)\n",
                    left.len(),
                    pid,
                    addr
                );
            }
            rounds += 1;
            kernel::time::delay::fsleep(kernel::time::Delta::from_millis(PAUSE_MS));
        }
    }
}
