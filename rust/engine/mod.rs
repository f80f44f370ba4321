// SPDX-License-Identifier: GPL-2.0

//! The live-update engine: redirect a set of vmlinux functions to new code
//! (and back) in one `stop_machine`, after checking on every CPU in
//! parallel that no task is inside any of the functions being replaced.
//!
//! One switch is a four-phase rendezvous ([`crate::pcore::rendezvous`]):
//!
//! 0. stack inspection: the tasks are split across the CPUs; each task is
//!    unwound with the reliable unwinder and every return address is looked
//!    up in the sorted range table ([`crate::pcore::ranges`]).  A hit or an
//!    unreliable stack refuses the switch with `EBUSY`.  A plan that
//!    rebuilds the runqueues also checks each CPU's runqueue here.
//! 1. clear (plans that rebuild the runqueues): every CPU empties its own
//!    runqueue with the code being replaced.
//! 2. patch: CPU 0 sets or clears the flag of the hops ([`hops`]), through
//!    which the sites of traceable functions lead during the switch, and
//!    writes the other sites with the kernel's text poking, one poke per
//!    window of sites within two pages ([`pokes`]); on any failure it
//!    restores what it wrote, so the text is byte-identical.
//! 3. serialise and rebuild: every CPU runs `sync_core`, in every case, and
//!    then, if it cleared its runqueue, refills it with the code now live
//!    (the new code, or the old one if the switch failed after the clear).
//!
//! Everything that can sleep or allocate happens before: symbol sizes,
//! site checks, tables, per-CPU slots, linking the sites to their hops;
//! `cpus_read_lock` and `text_mutex` are held from the checks until the
//! hopped sites hold what the rendezvous left live.
//!
//! The code, by concern: [`plan`] (what to redirect, resolved at load),
//! [`hops`] (how traceable sites switch with one store),
//! [`pokes`] (the text writes of a switch, prepared before it),
//! [`sites`] (the checks of the patch sites and of other patchers, before
//! and after a switch), [`switch`] (one switch: locks, allocations, the
//! rendezvous and what follows it), [`phases`] (the rendezvous' phases on
//! each CPU) and [`stats`] (what a switch measured, per CPU and in total).

use kernel::prelude::*;

mod arch;
mod copies;
mod hops;
mod manifest;
mod phases;
mod plan;
mod pokes;
mod prescan;
mod quiesce;
mod runs;
mod sites;
mod stats;
mod switch;

pub(crate) use plan::{
    Pieces,
    Plan, //
};
pub(crate) use stats::{
    last_switch_stat,
    Stats, //
};

/// Prints a pure-logic error (which implements `core::fmt::Display`).
struct Show<T>(T);

impl<T: core::fmt::Display> kernel::fmt::Display for Show<T> {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

/// A function to redirect: calls to `old` (in vmlinux) go to `new`.
#[derive(Clone, Copy)]
pub(crate) struct Target {
    /// The old function's name (for its `.cold`/`.part`/... pieces, logs).
    pub(crate) name: &'static CStr,
    /// Address of the old function.
    pub(crate) old: usize,
    /// Address of the new function.
    pub(crate) new: usize,
    /// The old function is on the stack of sleeping tasks by design and
    /// its new copy never is (`__schedule`, whose module copy finishes in
    /// the vmlinux copy): only the new copy is checked, when reverting.
    pub(crate) split: bool,
}

/// Which way a switch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Old functions jump to the new ones.
    Apply,
    /// Restore the old functions.
    Revert,
}

/// How the stack inspection splits its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every CPU inspects its share of the tasks.
    Parallel,
    /// CPU 0 inspects every task (reference for tests and benchmarks).
    Serial,
}

/// A failure to inject, for tests of the failure paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inject {
    /// None.
    Nothing,
    /// Fail after the sites were linked to their hops, before the
    /// rendezvous.
    BeforeRendezvous,
    /// Fail right after the stack inspection.
    AfterStackCheck,
    /// Fail after the first site was written.
    MidPatch,
}
