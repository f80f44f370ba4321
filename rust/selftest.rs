// SPDX-License-Identifier: GPL-2.0

//! The engine's self-test: redirect the system calls
//! `sched_get_priority_max` and `sched_get_priority_min` (harmless: they
//! only report constants) to functions of this module that report other
//! constants, and back.  Used by the KUnit suite `plugsched_engine` and,
//! through `/sys/kernel/plugsched/selftest`, by the `engine` scenario, which
//! checks the results from a user program.

use core::ffi::c_void;

use kernel::prelude::*;

use crate::{
    engine::{
        Direction,
        Inject,
        Mode,
        Plan,
        Target, //
    },
    kapi::{
        self,
        CpusReadLock,
        Stopped, //
    },
    shim,
};

/// What the redirected `sched_get_priority_max` returns.
pub(crate) const NEW_MAX: c_long = 4242;
/// What the redirected `sched_get_priority_min` returns.
pub(crate) const NEW_MIN: c_long = 4241;

extern "C" fn prio_max(_regs: *const c_void) -> c_long {
    NEW_MAX
}

extern "C" fn prio_min(_regs: *const c_void) -> c_long {
    NEW_MIN
}

/// The vmlinux entry point of a system call on this architecture.
#[cfg(CONFIG_X86_64)]
const SYSCALLS: [&CStr; 2] = [
    c"__x64_sys_sched_get_priority_max",
    c"__x64_sys_sched_get_priority_min",
];
#[cfg(CONFIG_ARM64)]
const SYSCALLS: [&CStr; 2] = [
    c"__arm64_sys_sched_get_priority_max",
    c"__arm64_sys_sched_get_priority_min",
];

/// The two redirections.
pub(crate) fn targets() -> Result<[Target; 2]> {
    let mut t = [
        Target {
            name: SYSCALLS[0],
            old: 0,
            new: prio_max as usize,
            split: false,
        },
        Target {
            name: SYSCALLS[1],
            old: 0,
            new: prio_min as usize,
            split: false,
        },
    ];
    for x in t.iter_mut() {
        x.old = shim::ksym_lookup(x.name);
        if x.old == 0 {
            pr_err!("{:?} not found\n", x.name);
            return Err(ENOENT);
        }
    }
    Ok(t)
}

kernel::sync::global_lock! {
    // SAFETY: `init_lock` runs in module init, before any use.
    unsafe(uninit) static ACTIVE: Mutex<Option<Plan>> = None;
}

/// Prepare the lock; called once from module init.
pub(crate) fn init_lock() {
    // SAFETY: Called once, from module init, before any other use of ACTIVE.
    unsafe { ACTIVE.init() };
}

/// `apply`: redirect; `revert`: restore.
pub(crate) fn control(cmd: &[u8]) -> Result {
    let mut active = ACTIVE.lock();
    match cmd {
        b"apply" if active.is_none() => {
            let mut plan = Plan::new(&targets()?, &[])?;
            let s = plan.switch(Direction::Apply, Mode::Parallel, Inject::Nothing)?;
            pr_info!(
                "selftest: redirected; stop_machine {} ns (inspect {} ns over {} tasks on {} CPUs, patch {} ns, sync {} ns)\n",
                s.stop_machine_ns,
                s.phase_ns[0],
                s.tasks,
                s.cpus,
                s.phase_ns[2],
                s.phase_ns[3]
            );
            *active = Some(plan);
            Ok(())
        }
        b"revert" if active.is_some() => {
            if let Some(plan) = active.as_mut() {
                plan.switch(Direction::Revert, Mode::Parallel, Inject::Nothing)?;
            }
            *active = None;
            Ok(())
        }
        b"bench" if active.is_none() => bench(),
        b"apply" | b"revert" | b"bench" => Err(EALREADY),
        _ => Err(EINVAL),
    }
}

/// Apply and revert the redirections with parallel and with serial stack
/// inspection, and print what each switch measured (one line per switch:
/// `bench: <mode> <direction> cpus=.. tasks=.. ranges=.. stop_machine_ns=..
/// inspect_ns=.. patch_ns=.. sync_ns=..`).
fn bench() -> Result {
    let mut plan = Plan::new(&targets()?, &[])?;
    for mode in [Mode::Parallel, Mode::Serial] {
        for dir in [Direction::Apply, Direction::Revert] {
            let s = plan.switch(dir, mode, Inject::Nothing)?;
            pr_info!(
                "bench: {:?} {:?} cpus={} tasks={} ranges={} stop_machine_ns={} inspect_ns={} patch_ns={} sync_ns={}\n",
                mode,
                dir,
                s.cpus,
                s.tasks,
                plan.old_range_count(),
                s.stop_machine_ns,
                s.phase_ns[0],
                s.phase_ns[2],
                s.phase_ns[3]
            );
        }
    }
    let mut floor = [Floor::default(); 5];
    for f in floor.iter_mut() {
        *f = empty_rendezvous();
    }
    // (Insertion sort by the whole call: core's sort trips objtool.)
    for i in 1..floor.len() {
        let mut j = i;
        while j > 0 && floor[j - 1].ns > floor[j].ns {
            floor.swap(j - 1, j);
            j -= 1;
        }
    }
    let median = floor[floor.len() / 2];
    pr_info!(
        "floor: runs={} min_ns={} median_ns={} median_enter_ns={} median_leave_ns={}\n",
        floor.len(),
        floor[0].ns,
        median.ns,
        median.enter_ns,
        median.leave_ns
    );
    Ok(())
}

/// One empty `stop_machine`, in nanoseconds: the whole call, and of it the
/// time before the first CPU entered the callback and after the last left
/// it (as a switch's [`crate::engine::Stats`] splits its call).
#[derive(Clone, Copy, Default)]
struct Floor {
    ns: u64,
    enter_ns: u64,
    leave_ns: u64,
}

/// The floor of every switch: one `stop_machine` on all online CPUs whose
/// callback does nothing but read the clock.
fn empty_rendezvous() -> Floor {
    // (`core` atomics: the kernel's have no minimum and maximum.)
    use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let entered = AtomicU64::new(u64::MAX);
    let left = AtomicU64::new(0);
    let cpus = CpusReadLock::lock();
    let t0 = kapi::local_clock();
    cpus.stop_machine(&|_: &Stopped| {
        let now = kapi::local_clock();
        entered.fetch_min(now, Relaxed);
        left.fetch_max(now, Relaxed);
        0
    });
    let t1 = kapi::local_clock();
    Floor {
        ns: t1 - t0,
        enter_ns: entered.load(Relaxed).saturating_sub(t0),
        leave_ns: t1.saturating_sub(left.load(Relaxed)),
    }
}

/// Whether the self-test redirections are in place.
pub(crate) fn is_active() -> bool {
    ACTIVE.lock().is_some()
}

/// Revert whatever is active (module exit).
pub(crate) fn shutdown() {
    // Dropping the plan reverts it.
    *ACTIVE.lock() = None;
}
