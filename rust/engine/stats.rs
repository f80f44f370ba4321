// SPDX-License-Identifier: GPL-2.0

//! What a switch measured: each CPU's [`Slot`], written by that CPU only
//! inside the rendezvous, the totals ([`Stats`]) and the last attempt's
//! values for `/sys/kernel/plugsched/`.

use kernel::{
    cpu::CpuId,
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed,
        Release, //
    }, //
};

use crate::kapi::{
    self,
    Stopped,
    TaskRef, //
};

/// What a switch measured.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stats {
    /// Online CPUs that took part.
    pub(crate) cpus: usize,
    /// Tasks whose stacks were inspected (idle tasks included).
    pub(crate) tasks: usize,
    /// Of them, tasks found clean before the rendezvous that had not run
    /// since: not walked again.
    pub(crate) unchanged: usize,
    /// Tasks the check before the rendezvous found clean.
    pub(crate) prescan_clean: usize,
    /// Of them, tasks walked again in the rendezvous (they ran since).
    pub(crate) rewalked: usize,
    /// The rendezvous visited only the tasks that ran since the check.
    pub(crate) only_ran: bool,
    /// Nanoseconds of the check before the rendezvous (not downtime).
    pub(crate) prescan_ns: u64,
    /// Nanoseconds of writing the hopped sites on the running kernel,
    /// before and after the rendezvous (not downtime).
    pub(crate) link_ns: u64,
    /// Tasks found inside a checked function.
    pub(crate) hits: usize,
    /// Tasks whose stacks could not be walked reliably.
    pub(crate) unreliable: usize,
    /// Nanoseconds of each phase: inspection, clear, patch (redirect),
    /// serialisation and rebuild.
    pub(crate) phase_ns: [u64; PHASES],
    /// Tasks the runqueue rebuild dequeued and enqueued again.
    pub(crate) rebuilt: usize,
    /// Delayed dequeues the clear finished.
    pub(crate) finished_delayed: usize,
    /// What the rebuild changed in the fair tasks' state.
    pub(crate) drift: Drift,
    /// The phase in which the switch failed, if it did.
    pub(crate) failed_phase: Option<usize>,
    /// Nanoseconds of the whole `stop_machine` call.
    pub(crate) stop_machine_ns: u64,
    /// Of them, before the first CPU entered the rendezvous (waking the
    /// stoppers).
    pub(crate) enter_ns: u64,
    /// Of them, after the rendezvous (leaving the stoppers).
    pub(crate) leave_ns: u64,
}

/// How far the rebuild moved the fair tasks' state (Documentation/
/// live-update.rst, "What a switch keeps").
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Drift {
    /// Fair tasks rebuilt.
    pub(crate) fair: usize,
    /// Of them, tasks of a task group (autogroup or cgroup).
    pub(crate) grouped: usize,
    /// Of them, tasks placed a second time because their weight changed.
    pub(crate) replaced: usize,
    /// Largest change of a lag (`w * (avg_vruntime - vruntime)`), in ns
    /// of a nice-0 task.
    pub(crate) lag_max: u64,
    /// Sum of the lag changes, in ns of a nice-0 task.
    pub(crate) lag_sum: u64,
    /// Largest change of a PELT `util_avg`.
    pub(crate) util_max: u64,
    /// Largest change of a PELT `load_avg`.
    pub(crate) load_max: u64,
    /// Largest lag clamped by a dequeue of the clear, virtual ns.
    pub(crate) clamp_max: u64,
}

impl Drift {
    fn add(&mut self, d: &SlotDrift) {
        self.fair += d.fair.load(Relaxed) as usize;
        self.grouped += d.grouped.load(Relaxed) as usize;
        self.replaced += d.replaced.load(Relaxed) as usize;
        self.lag_max = self.lag_max.max(d.lag_max.load(Relaxed));
        self.lag_sum += d.lag_sum.load(Relaxed);
        self.util_max = self.util_max.max(d.util_max.load(Relaxed));
        self.load_max = self.load_max.max(d.load_max.load(Relaxed));
        self.clamp_max = self.clamp_max.max(d.clamp_max.load(Relaxed));
    }
}

/// [`Drift`] of one CPU, written by that CPU's rebuild.
pub(super) struct SlotDrift {
    fair: Atomic<u64>,
    grouped: Atomic<u64>,
    replaced: Atomic<u64>,
    lag_max: Atomic<u64>,
    lag_sum: Atomic<u64>,
    util_max: Atomic<u64>,
    load_max: Atomic<u64>,
    clamp_max: Atomic<u64>,
}

impl SlotDrift {
    const fn new() -> Self {
        SlotDrift {
            fair: Atomic::new(0),
            grouped: Atomic::new(0),
            replaced: Atomic::new(0),
            lag_max: Atomic::new(0),
            lag_sum: Atomic::new(0),
            util_max: Atomic::new(0),
            load_max: Atomic::new(0),
            clamp_max: Atomic::new(0),
        }
    }

    pub(super) fn store(&self, st: &kapi::RqStats) {
        self.fair.store(st.fair as u64, Relaxed);
        self.grouped.store(st.grouped as u64, Relaxed);
        self.replaced.store(st.replaced as u64, Relaxed);
        self.lag_max.store(st.lag_drift_max, Relaxed);
        self.lag_sum.store(st.lag_drift_sum, Relaxed);
        self.util_max.store(st.util_drift_max, Relaxed);
        self.load_max.store(st.load_drift_max, Relaxed);
        self.clamp_max.store(st.lag_clamp_max, Relaxed);
    }
}

impl Stats {
    /// Add what one CPU's slot measured.
    pub(super) fn add(&mut self, s: &Slot) {
        self.tasks += s.tasks.load(Relaxed);
        self.unchanged += s.unchanged.load(Relaxed);
        self.rewalked += s.rewalked.load(Relaxed);
        self.only_ran |= s.only_ran.load(Relaxed);
        self.hits += s.hits.load(Relaxed);
        self.unreliable += s.unreliable.load(Relaxed);
        self.rebuilt += s.enqueued.load(Relaxed);
        self.finished_delayed += s.finished_delayed.load(Relaxed);
        self.drift.add(&s.drift);
    }
}

/// Phases of a switch.
pub(super) const PHASES: usize = 4;

/// What the last switch attempt measured, for `/sys/kernel/plugsched/`.
struct LastSwitch {
    switches: Atomic<u64>,
    result: Atomic<i32>,
    stop_machine_ns: Atomic<u64>,
    enter_ns: Atomic<u64>,
    leave_ns: Atomic<u64>,
    phase_ns: [Atomic<u64>; PHASES],
    tasks: Atomic<u64>,
    unchanged: Atomic<u64>,
    prescan_ns: Atomic<u64>,
    link_ns: Atomic<u64>,
    cpus: Atomic<u64>,
    functions: Atomic<u64>,
    rebuilt: Atomic<u64>,
}

static LAST: LastSwitch = LastSwitch {
    switches: Atomic::new(0),
    result: Atomic::new(0),
    stop_machine_ns: Atomic::new(0),
    enter_ns: Atomic::new(0),
    leave_ns: Atomic::new(0),
    phase_ns: [const { Atomic::new(0) }; PHASES],
    tasks: Atomic::new(0),
    unchanged: Atomic::new(0),
    prescan_ns: Atomic::new(0),
    link_ns: Atomic::new(0),
    cpus: Atomic::new(0),
    functions: Atomic::new(0),
    rebuilt: Atomic::new(0),
};

/// One statistic of the last switch attempt (`None`: no such statistic).
/// Names are those of the sysfs files, see
/// Documentation/ABI/testing/sysfs-kernel-plugsched.
pub(crate) fn last_switch_stat(name: &[u8]) -> Option<i64> {
    Some(match name {
        b"switches" => LAST.switches.load(Relaxed) as i64,
        b"last_result" => i64::from(LAST.result.load(Relaxed)),
        b"last_stop_machine_ns" => LAST.stop_machine_ns.load(Relaxed) as i64,
        b"last_enter_ns" => LAST.enter_ns.load(Relaxed) as i64,
        b"last_leave_ns" => LAST.leave_ns.load(Relaxed) as i64,
        b"last_stack_check_ns" => LAST.phase_ns[0].load(Relaxed) as i64,
        b"last_clear_ns" => LAST.phase_ns[1].load(Relaxed) as i64,
        b"last_redirect_ns" => LAST.phase_ns[2].load(Relaxed) as i64,
        b"last_rebuild_ns" => LAST.phase_ns[3].load(Relaxed) as i64,
        b"last_rebuilt_tasks" => LAST.rebuilt.load(Relaxed) as i64,
        b"last_tasks" => LAST.tasks.load(Relaxed) as i64,
        b"last_unchanged_tasks" => LAST.unchanged.load(Relaxed) as i64,
        b"last_prescan_ns" => LAST.prescan_ns.load(Relaxed) as i64,
        b"last_link_ns" => LAST.link_ns.load(Relaxed) as i64,
        b"last_cpus" => LAST.cpus.load(Relaxed) as i64,
        b"last_functions" => LAST.functions.load(Relaxed) as i64,
        _ => return None,
    })
}

pub(super) fn publish(stats: &Stats, functions: usize, result: c_int) {
    LAST.result.store(result, Relaxed);
    LAST.stop_machine_ns.store(stats.stop_machine_ns, Relaxed);
    LAST.enter_ns.store(stats.enter_ns, Relaxed);
    LAST.leave_ns.store(stats.leave_ns, Relaxed);
    for (d, &v) in LAST.phase_ns.iter().zip(stats.phase_ns.iter()) {
        d.store(v, Relaxed);
    }
    LAST.tasks.store(stats.tasks as u64, Relaxed);
    LAST.unchanged.store(stats.unchanged as u64, Relaxed);
    LAST.prescan_ns.store(stats.prescan_ns, Relaxed);
    LAST.link_ns.store(stats.link_ns, Relaxed);
    LAST.cpus.store(stats.cpus as u64, Relaxed);
    LAST.functions.store(functions as u64, Relaxed);
    LAST.rebuilt.store(stats.rebuilt as u64, Relaxed);
    LAST.switches.fetch_add(1, Release);
}

/// Return addresses kept of the first unreliable stack, for the log.
pub(super) const TRACE_MAX: usize = 16;

/// Per-CPU results of the stack inspection, written by one CPU only.
pub(super) struct Slot {
    pub(super) tasks: Atomic<usize>,
    /// Tasks not walked again (see [`Stats::unchanged`]).
    pub(super) unchanged: Atomic<usize>,
    /// Tasks found clean before the rendezvous but walked again in it
    /// (they ran since).
    pub(super) rewalked: Atomic<usize>,
    /// Only the tasks that ran since the check were visited.
    pub(super) only_ran: Atomic<bool>,
    pub(super) hits: Atomic<usize>,
    pub(super) unreliable: Atomic<usize>,
    pub(super) first_pid: Atomic<i32>,
    pub(super) first_addr: Atomic<u64>,
    pub(super) first_range: Atomic<u32>,
    pub(super) first_comm: [Atomic<i8>; 16],
    /// The first unreliable stack: the frames the reliable unwinder took
    /// before it gave up, and the last of them (0: none).
    pub(super) first_frames: Atomic<u32>,
    pub(super) first_last_good: Atomic<u64>,
    /// ... and its return addresses without the reliability checks.
    pub(super) first_trace: [Atomic<u64>; TRACE_MAX],
    pub(super) first_trace_len: Atomic<usize>,
    /// The runqueue of this CPU was cleared: it must be rebuilt.
    pub(super) cleared: Atomic<bool>,
    pub(super) dequeued: Atomic<usize>,
    pub(super) finished_delayed: Atomic<usize>,
    pub(super) nr_running_before: Atomic<usize>,
    pub(super) enqueued: Atomic<usize>,
    pub(super) nr_running_after: Atomic<usize>,
    pub(super) drift: SlotDrift,
}

impl Slot {
    pub(super) const fn new() -> Self {
        Slot {
            tasks: Atomic::new(0),
            unchanged: Atomic::new(0),
            rewalked: Atomic::new(0),
            only_ran: Atomic::new(false),
            hits: Atomic::new(0),
            unreliable: Atomic::new(0),
            first_pid: Atomic::new(0),
            first_addr: Atomic::new(0),
            first_range: Atomic::new(0),
            first_comm: [const { Atomic::new(0) }; 16],
            first_frames: Atomic::new(0),
            first_last_good: Atomic::new(0),
            first_trace: [const { Atomic::new(0) }; TRACE_MAX],
            first_trace_len: Atomic::new(0),
            cleared: Atomic::new(false),
            dequeued: Atomic::new(0),
            finished_delayed: Atomic::new(0),
            nr_running_before: Atomic::new(0),
            enqueued: Atomic::new(0),
            nr_running_after: Atomic::new(0),
            drift: SlotDrift::new(),
        }
    }

    /// Log a runqueue the rebuild did not refill exactly as the clear
    /// found it.
    pub(super) fn check_rebuild(&self, cpu: CpuId) {
        let (enqueued, dequeued) = (self.enqueued.load(Relaxed), self.dequeued.load(Relaxed));
        let (before, after) = (
            self.nr_running_before.load(Relaxed),
            self.nr_running_after.load(Relaxed),
        );
        let finished = self.finished_delayed.load(Relaxed);
        if self.cleared.load(Relaxed) && (enqueued != dequeued || after + finished != before) {
            pr_crit!(
                "CPU {}: runqueue rebuilt with {} of {} tasks, nr_running {} -> {} ({} delayed dequeues finished)\n",
                cpu.as_u32(),
                enqueued,
                dequeued,
                before,
                after,
                finished
            );
        }
    }

    /// Keep where the reliable unwinder gave up on `t`'s stack, after
    /// `frames` frames (the last at `last`), if `t` is this CPU's first
    /// busy task (call before [`Slot::record`]).
    pub(super) fn record_unreliable(&self, ctx: &Stopped, t: TaskRef<'_>, frames: u32, last: u64) {
        if self.hits.load(Relaxed) + self.unreliable.load(Relaxed) != 0 {
            return;
        }
        self.first_frames.store(frames, Relaxed);
        self.first_last_good.store(last, Relaxed);
        let mut trace = [0u64; TRACE_MAX];
        let n = ctx.stack_trace(t, &mut trace);
        for (d, &s) in self.first_trace.iter().zip(&trace[..n]) {
            d.store(s, Relaxed);
        }
        self.first_trace_len.store(n, Relaxed);
    }

    /// Log the first unreliable stack ([`Slot::record_unreliable`]).
    pub(super) fn log_unreliable(&self) {
        let frames = self.first_frames.load(Relaxed);
        let last = self.first_last_good.load(Relaxed);
        let mut trace = [0u64; TRACE_MAX];
        let n = self.first_trace_len.load(Relaxed).min(TRACE_MAX);
        for (d, s) in trace.iter_mut().zip(self.first_trace.iter()) {
            *d = s.load(Relaxed);
        }
        pr_err!(
            "  the reliable unwinder gave up after {} frame(s)\n",
            frames
        );
        if last != 0 {
            pr_err!("  the last of them:\n");
            kapi::log_trace(&[last]);
        }
        pr_err!("  the stack without the unwinder's checks:\n");
        kapi::log_trace(&trace[..n]);
    }

    pub(super) fn record(&self, ctx: &Stopped, t: TaskRef<'_>, addr: u64, range: u32) {
        if self.hits.load(Relaxed) + self.unreliable.load(Relaxed) == 0 {
            let (pid, comm) = ctx.task_info(t);
            self.first_pid.store(pid, Relaxed);
            self.first_addr.store(addr, Relaxed);
            self.first_range.store(range, Relaxed);
            for (d, s) in self.first_comm.iter().zip(comm) {
                // The bytes as they are (`comm` is not text to us).
                d.store(s as i8, Relaxed);
            }
        }
    }
}
