// SPDX-License-Identifier: GPL-2.0

//! The whole-scheduler live update: upgrade to the module's scheduler (at
//! load, or `1` written to `/sys/kernel/plugsched/enable`) and roll back to
//! the vmlinux scheduler (at unload, or `0` written to `enable`).
//!
//! Both are one [`Plan`] of the engine built from the manifest of the
//! extracted scheduler, switched with the runqueues cleared by the code
//! being replaced and rebuilt by the code replacing it, in one
//! `stop_machine` (Documentation/live-update.rst).  Everything that can
//! fail or allocate (symbol lookups, sizes, site checks, tables) happens
//! before the rendezvous; a refused switch leaves the old scheduler running
//! and the kernel text byte-identical.

use kernel::{
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    }, //
};

use crate::{
    engine::{
        Direction,
        Inject,
        Mode,
        Pieces,
        Plan,
        Stats, //
    },
    kapi,
    state::{
        self,
        State, //
    },
};

/// `__schedule` is on every sleeping task's stack: its module copy runs the
/// new code up to the context switch and finishes in the vmlinux copy, so
/// sleeping tasks only ever have vmlinux frames of it (Documentation/
/// live-update.rst, "The __schedule split").
const SPLIT: [&CStr; 1] = [c"__schedule"];

/// Attempts of one switch while tasks are busy in the functions replaced.
const ATTEMPTS: u32 = 10;

kernel::sync::global_lock! {
    // SAFETY: `init_lock` runs in module init, before any use.
    unsafe(uninit) static PLAN: Mutex<Option<Plan>> = None;
}

/// Completed upgrades since the module was loaded.
static GENERATION: Atomic<u64> = Atomic::new(0);
/// Pointers into the module found after the last rollback.
static MODULE_POINTERS: Atomic<u64> = Atomic::new(0);
/// The module must never be freed (see [`pin_for_good`]).
static PINNED: Atomic<bool> = Atomic::new(false);
/// Attempts the last switch (upgrade or rollback) made: 1 when it went
/// through (or was refused) at the first.
static LAST_ATTEMPTS: Atomic<u64> = Atomic::new(0);
/// Safe points resolved by the plan: in vmlinux, in the module's copies.
static SAFE_POINTS: Atomic<u64> = Atomic::new(0);
static MODULE_SAFE_POINTS: Atomic<u64> = Atomic::new(0);
/// A rollback since the last strict check let tasks stay at the safe
/// points of the module's copies: the module's code may still be in use
/// (see [`shutdown`]).
static MODULE_CODE_MAY_RUN: Atomic<bool> = Atomic::new(false);
/// The last [`text_hash`] computed.
static TEXT_HASH: Atomic<u64> = Atomic::new(0);
static HAVE_TEXT_HASH: Atomic<bool> = Atomic::new(false);

/// Prepare the lock; called once from module init.
pub(crate) fn init_lock() {
    // SAFETY: Called once, from module init, before any other use of PLAN.
    unsafe { PLAN.init() };
}

/// One value of `/sys/kernel/plugsched/` owned by the live update.
pub(crate) fn stat(name: &[u8]) -> Option<i64> {
    Some(match name {
        b"enable" => i64::from(state::current() == State::Live),
        b"generation" => GENERATION.load(Relaxed) as i64,
        b"module_pointers" => MODULE_POINTERS.load(Relaxed) as i64,
        b"last_attempts" => LAST_ATTEMPTS.load(Relaxed) as i64,
        b"safe_points" => SAFE_POINTS.load(Relaxed) as i64,
        b"module_safe_points" => MODULE_SAFE_POINTS.load(Relaxed) as i64,
        _ => return None,
    })
}

/// Hash of the kernel text at every patch site of the scheduler's plan, now
/// (`None` before the first upgrade attempt made the plan).
///
/// Never waits for a switch in progress (a reader waiting in the module's
/// code would make the rollback's stack check find it): during one, the
/// value from before it is shown.
pub(crate) fn text_hash() -> Option<u64> {
    if let Some(g) = PLAN.try_lock() {
        if let Some(h) = g.as_ref().and_then(|p| p.text_hash().ok()) {
            TEXT_HASH.store(h, Relaxed);
            HAVE_TEXT_HASH.store(true, Relaxed);
        }
    }
    HAVE_TEXT_HASH
        .load(Relaxed)
        .then(|| TEXT_HASH.load(Relaxed))
}

/// A request from user space (`/sys/kernel/plugsched/enable`): upgrade
/// (`on`) or roll back.  `EBUSY` at once while another switch is in
/// progress: a writer waiting in the module's code would make a rollback's
/// stack check find it.
pub(crate) fn request(on: bool) -> Result {
    let mut guard = PLAN.try_lock().ok_or(EBUSY)?;
    if on {
        upgrade_in(&mut guard, Inject::Nothing)
    } else {
        rollback_in(&mut guard, false)
    }
}

/// [`text_hash`] of the untouched text.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) fn initial_text_hash() -> Option<u64> {
    PLAN.lock().as_ref().map(|p| p.initial_hash())
}

fn log_stats(what: &str, s: &Stats, functions: usize) {
    pr_info!(
        "{}: {} functions, {} tasks rebuilt ({} delayed dequeues finished), {} tasks checked on {} CPUs; stop_machine {} ns (stack check {} ns, clear {} ns, redirect {} ns, rebuild {} ns)\n",
        what,
        functions,
        s.rebuilt,
        s.finished_delayed,
        s.tasks,
        s.cpus,
        s.stop_machine_ns,
        s.phase_ns[0],
        s.phase_ns[1],
        s.phase_ns[2],
        s.phase_ns[3]
    );
    let d = &s.drift;
    pr_info!(
        "{}: {} fair tasks rebuilt ({} in task groups, {} placed again): lag moved by at most {} ns (sum {} ns; dequeue clamp up to {} ns), PELT util_avg by at most {}, load_avg by at most {}\n",
        what,
        d.fair,
        d.grouped,
        d.replaced,
        d.lag_max,
        d.lag_sum,
        d.clamp_max,
        d.util_max,
        d.load_max
    );
}

/// Switch `plan` in direction `dir`, retrying while tasks are busy in the
/// functions being replaced (not for refusals that retrying cannot cure:
/// a tracer on a patch site, a queued exiting task, ...).
/// The attempts made are published as `last_attempts`.
fn switch(plan: &mut Plan, dir: Direction, inject: Inject) -> Result<Stats> {
    let mut attempt = 1;
    loop {
        LAST_ATTEMPTS.store(u64::from(attempt), Relaxed);
        match plan.switch(dir, Mode::Parallel, inject) {
            Err(_) if plan.refused_for_busy_tasks() && attempt < ATTEMPTS => {
                attempt += 1;
                kernel::time::delay::fsleep(kernel::time::Delta::from_millis(20));
            }
            r => {
                if attempt > 1 {
                    pr_info!(
                        "switch: {} after {} attempts\n",
                        if r.is_ok() { "done" } else { "refused" },
                        attempt
                    );
                }
                return r;
            }
        }
    }
}

/// The plan of the whole scheduler, made on first use.
fn prepared(plan: &mut Option<Plan>) -> Result<&mut Plan> {
    if plan.is_none() {
        let (p, _) = Plan::from_manifest(&SPLIT, Pieces::Listed).inspect_err(|e| {
            pr_err!(
                "upgrade: refused: cannot prepare the redirections ({:?})\n",
                e
            );
        })?;
        let (safe, module_safe) = p.safe_point_counts();
        SAFE_POINTS.store(safe as u64, Relaxed);
        MODULE_SAFE_POINTS.store(module_safe as u64, Relaxed);
        *plan = Some(p.rebuild_runqueues());
    }
    plan.as_mut().ok_or(EINVAL)
}

/// Resolve every function to redirect now (module load), so that
/// `text_hash` shows the untouched text before the first upgrade.
pub(crate) fn prepare() -> Result {
    prepared(&mut PLAN.lock()).map(|_| ())
}

/// Make the module's scheduler the live one.
pub(crate) fn upgrade() -> Result {
    upgrade_in(&mut PLAN.lock(), Inject::Nothing)
}

/// An upgrade that fails on purpose after the stack check or in the middle
/// of the patch (tests of the failure paths).
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) fn failing_upgrade(inject: Inject) -> Result {
    upgrade_in(&mut PLAN.lock(), inject)
}

/// Upgrade, with the plan's lock held (`guard`).
fn upgrade_in(guard: &mut Option<Plan>, inject: Inject) -> Result {
    match state::current() {
        State::Off => {}
        _ => return Err(EALREADY),
    }
    if kapi::manifest_len() == 0 {
        pr_err!("upgrade: refused: this build of the module has no extracted scheduler\n");
        return Err(ENOENT);
    }
    if kapi::scx_enabled() {
        pr_err!("upgrade: refused: a sched_ext scheduler is loaded; unload it first\n");
        return Err(EBUSY);
    }
    let plan = prepared(guard)?;
    state::set(State::Upgrading);
    match switch(plan, Direction::Apply, inject) {
        Ok(s) => {
            state::set(State::Live);
            let g = GENERATION.fetch_add(1, Relaxed) + 1;
            pr_info!("upgrade: module scheduler live, generation {}\n", g);
            log_stats("upgrade", &s, plan.target_count());
            Ok(())
        }
        Err(e) => {
            if settle(plan, e, false) == State::Off {
                pr_err!(
                    "upgrade: failed ({:?}); the vmlinux scheduler stays live\n",
                    e
                );
            }
            Err(e)
        }
    }
}

/// After a failed switch: the state is what the text says (the plan knows
/// whether its redirections are in place), and a switch that found the
/// text in a state it did not make (`EIO`) leaves the module pinned for
/// good, unless `exiting` (then the unload never finishes instead, see
/// [`shutdown`]).  Returns the state set.
fn settle(plan: &Plan, e: Error, exiting: bool) -> State {
    let now = if plan.is_applied() {
        State::Live
    } else {
        State::Off
    };
    state::set(now);
    if e == EIO {
        let live = if now == State::Live {
            "module"
        } else {
            "vmlinux"
        };
        pr_crit!(
            "switch: kernel text not as expected; the {} scheduler is live\n",
            live
        );
        pin_for_good(exiting);
    }
    now
}

/// Code of the module may still run, or be pointed to: its memory must
/// never be freed.  Outside module exit, a module reference nobody drops;
/// in module exit (too late for that), [`shutdown`] never returns.
fn pin_for_good(exiting: bool) {
    if !PINNED.xchg(true, Relaxed) && !exiting {
        kapi::pin_module();
    }
    pr_crit!("plugsched.ko is pinned: it can no longer be unloaded\n");
}

/// Make the vmlinux scheduler the live one again (tests; user space goes
/// through [`request`], module exit through [`shutdown`]).
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) fn rollback() -> Result {
    rollback_in(&mut PLAN.lock(), false)
}

/// Roll back, with the plan's lock held (`guard`); `exiting`: called from
/// module exit, where the module can no longer be pinned.
fn rollback_in(guard: &mut Option<Plan>, exiting: bool) -> Result {
    if state::current() != State::Live {
        return Err(EALREADY);
    }
    let plan = guard.as_mut().ok_or(EINVAL)?;
    state::set(State::RollingBack);
    // Through `enable`, tasks may stay at the safe points of the module's
    // copies: the module stays loaded, and its exit waits for them
    // ([`shutdown`]).  Before the module goes away (`exiting`), strictly.
    plan.set_revert_safe_points(!exiting);
    let s = match switch(plan, Direction::Revert, Inject::Nothing) {
        Ok(s) => s,
        Err(e) => {
            if settle(plan, e, exiting) == State::Live {
                pr_err!(
                    "rollback: failed ({:?}); the module scheduler stays live\n",
                    e
                );
            }
            return Err(e);
        }
    };
    state::set(State::Off);
    // A strict rollback found no task anywhere in the module's code; a
    // lenient one may have let some stay at its safe points.
    MODULE_CODE_MAY_RUN.store(!exiting && plan.left_tasks_in_module(), Relaxed);
    let hash = plan.text_hash()?;
    let left = kapi::module_pointers();
    MODULE_POINTERS.store(left as u64, Relaxed);
    if hash != plan.initial_hash() || left != 0 {
        pr_crit!(
            "rollback: text hash {:016x} (untouched: {:016x}), {} pointers into the module remain in scheduler data\n",
            hash,
            plan.initial_hash(),
            left
        );
        // The module's memory must stay: it can never be unloaded now.
        pin_for_good(exiting);
        return Err(EIO);
    }
    pr_info!(
        "rollback: vmlinux scheduler live, text restored (hash {:016x})\n",
        hash
    );
    log_stats("rollback", &s, plan.target_count());
    Ok(())
}

/// Module exit: the module's code must not stay reachable.  Retries the
/// rollback for as long as it is refused (tasks busy in the module's
/// functions, or a tracer on a patch site): unloading waits until the
/// rollback is done.
pub(crate) fn shutdown() {
    let mut tries: u64 = 0;
    while state::current() == State::Live {
        match rollback_in(&mut PLAN.lock(), true) {
            Ok(()) => break,
            Err(e) => {
                tries += 1;
                if tries % 50 == 1 {
                    pr_warn!(
                        "unload waits for the rollback ({:?}, attempt {}); see the messages above\n",
                        e,
                        tries
                    );
                }
                kernel::time::delay::fsleep(kernel::time::Delta::from_millis(100));
            }
        }
    }
    // Pointers into the module remain, or the text is not what a rollback
    // leaves (logged): its memory must never be freed, so the unload never
    // finishes.
    while PINNED.load(Relaxed) {
        kernel::time::delay::fsleep(kernel::time::Delta::from_secs(60));
        pr_crit!("unload blocked for good: plugsched.ko is pinned (see the messages above)\n");
    }
    // An earlier rollback let tasks stay at safe points of the module's
    // copies: its memory is freed only once a strict check finds no task
    // with a return address in its text (sleeps; logs every 5 s).
    if MODULE_CODE_MAY_RUN.load(Relaxed) {
        let guard = PLAN.lock();
        if let Some(plan) = guard.as_ref() {
            let mut tries: u64 = 0;
            while let Err(e) = plan.wait_module_unused() {
                // Only an allocation can fail: try again, sleeping.
                tries += 1;
                if tries % 50 == 1 {
                    pr_warn!("unload waits: cannot check the stacks ({:?})\n", e);
                }
                kernel::time::delay::fsleep(kernel::time::Delta::from_millis(100));
            }
        }
        MODULE_CODE_MAY_RUN.store(false, Relaxed);
    }
    // The plan is unapplied now; dropping it changes nothing.
    *PLAN.lock() = None;
}
