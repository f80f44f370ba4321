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
//! 2. patch: CPU 0 checks that every site still holds the bytes expected
//!    and writes the new ones with the kernel's text poking; on any failure
//!    it restores what it wrote, so the text is byte-identical.
//! 3. serialise and rebuild: every CPU runs `sync_core`, in every case, and
//!    then, if it cleared its runqueue, refills it with the code now live
//!    (the new code, or the old one if the switch failed after the clear).
//!
//! Everything that can sleep or allocate happens before: symbol sizes,
//! site checks, tables, per-CPU slots; `cpus_read_lock` and `text_mutex`
//! are held from the checks to the end of the rendezvous.

// The rendezvous' status words are `core` atomics: `pcore` is shared with
// the host tests.  Everything else the CPUs share is LKMM atomics.
use core::sync::atomic::AtomicI32;

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
    CpusReadLock,
    Patchers,
    RqBuffers,
    Stopped,
    TaskRef,
    TextMutex,
    Walk, //
};
use crate::pcore::{
    partition,
    ranges::{
        Range,
        RangeTable, //
    },
    rendezvous::{
        Rendezvous,
        Step, //
    },
    x86::{
        self,
        Entry,
        Expected,
        PATCH_LEN, //
    },
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

/// One patch site.
#[derive(Clone, Copy)]
struct Site {
    /// Index of the target.
    target: usize,
    /// Address of the 5 patched bytes.
    addr: u64,
    /// The bytes of the untouched function.
    orig: [u8; PATCH_LEN],
    /// `jmp new`.
    jmp: [u8; PATCH_LEN],
}

impl Site {
    /// The bytes a switch in direction `dir` finds at the site.
    fn before(&self, dir: Direction) -> [u8; PATCH_LEN] {
        match dir {
            Direction::Apply => self.orig,
            Direction::Revert => self.jmp,
        }
    }

    /// The bytes a switch in direction `dir` leaves at the site.
    fn after(&self, dir: Direction) -> [u8; PATCH_LEN] {
        match dir {
            Direction::Apply => self.jmp,
            Direction::Revert => self.orig,
        }
    }
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
    /// Fail right after the stack inspection.
    AfterStackCheck,
    /// Fail after the first site was written.
    MidPatch,
}

/// What a switch measured.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stats {
    /// Online CPUs that took part.
    pub(crate) cpus: usize,
    /// Tasks whose stacks were inspected (idle tasks included).
    pub(crate) tasks: usize,
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
struct SlotDrift {
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

    fn store(&self, st: &kapi::RqStats) {
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
    fn add(&mut self, s: &Slot) {
        self.tasks += s.tasks.load(Relaxed);
        self.hits += s.hits.load(Relaxed);
        self.unreliable += s.unreliable.load(Relaxed);
        self.rebuilt += s.enqueued.load(Relaxed);
        self.finished_delayed += s.finished_delayed.load(Relaxed);
        self.drift.add(&s.drift);
    }
}

/// Phases of a switch.
const PHASES: usize = 4;

/// What the last switch attempt measured, for `/sys/kernel/plugsched/`.
struct LastSwitch {
    switches: Atomic<u64>,
    result: Atomic<i32>,
    stop_machine_ns: Atomic<u64>,
    phase_ns: [Atomic<u64>; PHASES],
    tasks: Atomic<u64>,
    cpus: Atomic<u64>,
    functions: Atomic<u64>,
    rebuilt: Atomic<u64>,
}

static LAST: LastSwitch = LastSwitch {
    switches: Atomic::new(0),
    result: Atomic::new(0),
    stop_machine_ns: Atomic::new(0),
    phase_ns: [const { Atomic::new(0) }; PHASES],
    tasks: Atomic::new(0),
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
        b"last_stack_check_ns" => LAST.phase_ns[0].load(Relaxed) as i64,
        b"last_clear_ns" => LAST.phase_ns[1].load(Relaxed) as i64,
        b"last_redirect_ns" => LAST.phase_ns[2].load(Relaxed) as i64,
        b"last_rebuild_ns" => LAST.phase_ns[3].load(Relaxed) as i64,
        b"last_rebuilt_tasks" => LAST.rebuilt.load(Relaxed) as i64,
        b"last_tasks" => LAST.tasks.load(Relaxed) as i64,
        b"last_cpus" => LAST.cpus.load(Relaxed) as i64,
        b"last_functions" => LAST.functions.load(Relaxed) as i64,
        _ => return None,
    })
}

fn publish(stats: &Stats, functions: usize, result: c_int) {
    LAST.result.store(result, Relaxed);
    LAST.stop_machine_ns.store(stats.stop_machine_ns, Relaxed);
    for (d, &v) in LAST.phase_ns.iter().zip(stats.phase_ns.iter()) {
        d.store(v, Relaxed);
    }
    LAST.tasks.store(stats.tasks as u64, Relaxed);
    LAST.cpus.store(stats.cpus as u64, Relaxed);
    LAST.functions.store(functions as u64, Relaxed);
    LAST.rebuilt.store(stats.rebuilt as u64, Relaxed);
    LAST.switches.fetch_add(1, Release);
}

/// Per-CPU results of the stack inspection, written by one CPU only.
struct Slot {
    tasks: Atomic<usize>,
    hits: Atomic<usize>,
    unreliable: Atomic<usize>,
    first_pid: Atomic<i32>,
    first_addr: Atomic<u64>,
    first_range: Atomic<u32>,
    first_comm: [Atomic<i8>; 16],
    /// The runqueue of this CPU was cleared: it must be rebuilt.
    cleared: Atomic<bool>,
    dequeued: Atomic<usize>,
    finished_delayed: Atomic<usize>,
    nr_running_before: Atomic<usize>,
    enqueued: Atomic<usize>,
    nr_running_after: Atomic<usize>,
    drift: SlotDrift,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            tasks: Atomic::new(0),
            hits: Atomic::new(0),
            unreliable: Atomic::new(0),
            first_pid: Atomic::new(0),
            first_addr: Atomic::new(0),
            first_range: Atomic::new(0),
            first_comm: [const { Atomic::new(0) }; 16],
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
    fn check_rebuild(&self, cpu: CpuId) {
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

    fn record(&self, ctx: &Stopped, t: TaskRef<'_>, addr: u64, range: u32) {
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

/// Range ids above this mark extra ("busy-check only") ranges.
const NO_TARGET: u32 = u32::MAX;
/// The range id reported for a return address elsewhere in the module.
const MODULE_TEXT: u32 = u32::MAX;

/// A prepared set of redirections, applied and reverted as a whole.
pub(crate) struct Plan {
    targets: KVec<Target>,
    extra_names: KVec<&'static CStr>,
    /// Old functions with all their pieces, plus extra ranges.
    old_ranges: KVec<Range>,
    /// New functions.
    new_ranges: KVec<Range>,
    sites: KVec<Site>,
    applied: bool,
    /// Clear and rebuild every runqueue around the patch.
    rebuild: bool,
    /// [`Plan::text_hash`] of the untouched text.
    initial_hash: u64,
    /// The last switch was refused because tasks were inside functions
    /// being replaced (a transient condition, worth retrying).
    busy_tasks: bool,
    /// Every site's address, sorted: what ftrace is told to leave alone
    /// (the C side binary-searches it).
    site_addrs: KVec<c_ulong>,
}

/// What the patch site at `addr` of the function `name` holds untouched:
/// ftrace's NOP at the site of a traceable function (whatever a tracer has
/// put there now: the plan must not freeze a tracer's call), the body of a
/// `notrace` function, which must be untouched now.
fn untouched_site(name: &CStr, addr: u64) -> Result<[u8; PATCH_LEN]> {
    if kapi::is_ftrace_location(addr) {
        return Ok(x86::NOP5);
    }
    let mut body = [0u8; PATCH_LEN];
    kapi::read_kernel(addr, &mut body)?;
    match x86::Site::of(addr, &body) {
        x86::Site::Other(_) => Ok(body),
        _ => {
            pr_err!(
                "{:?}: notrace function patched at {:#x} ({:02x?}); remove the patcher first\n",
                name,
                addr,
                body
            );
            Err(EBUSY)
        }
    }
}

fn func_range(addr: usize, id: u32, what: &CStr) -> Result<Range> {
    match kapi::ksym_size_offset(addr as u64) {
        Some((size, 0)) if size > 0 => Ok(Range {
            start: addr as u64,
            size,
            id,
        }),
        _ => {
            pr_err!(
                "{:?} at {:#x} is not the start of a known function\n",
                what,
                addr
            );
            Err(EINVAL)
        }
    }
}

impl Plan {
    /// Resolve the targets: function sizes and pieces from kallsyms, the
    /// patch site of each old function and its current bytes.  `busy` are
    /// further functions (name, address) in which no task may be when the
    /// switch happens, although they are not patched.
    pub(crate) fn new(targets: &[Target], busy: &[(&'static CStr, usize)]) -> Result<Self> {
        let mut plan = Plan {
            targets: KVec::with_capacity(targets.len(), GFP_KERNEL)?,
            extra_names: KVec::with_capacity(busy.len(), GFP_KERNEL)?,
            old_ranges: KVec::new(),
            new_ranges: KVec::new(),
            sites: KVec::with_capacity(targets.len(), GFP_KERNEL)?,
            applied: false,
            rebuild: false,
            initial_hash: 0,
            busy_tasks: false,
            site_addrs: KVec::with_capacity(targets.len(), GFP_KERNEL)?,
        };
        for (i, t) in targets.iter().enumerate() {
            plan.targets.push(*t, GFP_KERNEL)?;
            let old = func_range(t.old, i as u32, t.name)?;
            if !t.split {
                plan.old_ranges.push(old, GFP_KERNEL)?;
            }
            plan.new_ranges
                .push(func_range(t.new, i as u32, t.name)?, GFP_KERNEL)?;
        }
        for (i, &(name, addr)) in busy.iter().enumerate() {
            plan.extra_names.push(name, GFP_KERNEL)?;
            let id = NO_TARGET - 1 - i as u32;
            plan.old_ranges
                .push(func_range(addr, id, name)?, GFP_KERNEL)?;
        }
        plan.add_pieces()?;
        // Sort and validate both tables (nothing overlaps): each switch
        // searches them as they are now ([`Plan::table`]).
        for (what, new) in [("old", false), ("new", true)] {
            let table = if new {
                &mut plan.new_ranges
            } else {
                &mut plan.old_ranges
            };
            if let Err(e) = RangeTable::new(table) {
                if let crate::pcore::ranges::RangeError::Overlap(a, b) = e {
                    pr_err!(
                        "{} functions overlap: {:?} and {:?}\n",
                        what,
                        plan.range_name(a),
                        plan.range_name(b)
                    );
                } else {
                    pr_err!("bad {} function ranges: {}\n", what, Show(e));
                }
                return Err(EINVAL);
            }
        }
        for (i, t) in targets.iter().enumerate() {
            let mut head = [0u8; 4];
            kapi::read_kernel(t.old as u64, &mut head).inspect_err(|_| {
                pr_err!("{:?}: cannot read its code at {:#x}\n", t.name, t.old);
            })?;
            let addr = t.old as u64 + Entry::of(&head).patch_offset();
            let orig = untouched_site(t.name, addr)?;
            let jmp = x86::encode_jmp(addr, t.new as u64).map_err(|e| {
                pr_err!("{:?}: {}\n", t.name, Show(e));
                ERANGE
            })?;
            plan.sites.push(
                Site {
                    target: i,
                    addr,
                    orig,
                    jmp,
                },
                GFP_KERNEL,
            )?;
        }
        for s in plan.sites.iter() {
            plan.site_addrs.push(s.addr as c_ulong, GFP_KERNEL)?;
        }
        // Insertion sort: the sites come in manifest order, a few hundred.
        let a = &mut plan.site_addrs;
        for i in 1..a.len() {
            let mut j = i;
            while j > 0 && a[j - 1] > a[j] {
                a.swap(j - 1, j);
                j -= 1;
            }
        }
        plan.initial_hash = plan.text_hash()?;
        Ok(plan)
    }

    /// Refuse an upgrade while a kprobe, livepatch or ftrace direct call
    /// (BPF trampoline) is on any function the module replaces or makes
    /// unreachable (internal functions and compiler pieces included): it
    /// would silently stop working.  Names the function.
    /// `table` is [`Plan::table`] of an upgrade.
    fn check_probes(&self, patchers: &Patchers, table: &RangeTable<'_>) -> Result {
        let split: KVec<(u64, u64)> = self.split_ranges()?;
        let covered =
            |a: u64| table.find(a).is_some() || split.iter().any(|&(b, n)| a.wrapping_sub(b) < n);
        let Some((addr, what)) = patchers.probe_in(&covered) else {
            return Ok(());
        };
        let id = table.find(addr).map_or(0, |r| r.id);
        let name = match split.iter().position(|&(b, n)| addr.wrapping_sub(b) < n) {
            Some(_) => self
                .targets
                .iter()
                .find(|t| t.split)
                .map_or(c"?", |t| t.name),
            None => self.range_name(id),
        };
        pr_err!(
            "upgrade refused: a {:?} at {:#x} is in {:?}, which the module scheduler replaces: it would stop working; remove it first\n",
            what,
            addr,
            name
        );
        Err(EBUSY)
    }

    /// The range table a switch in direction `dir` checks the stacks
    /// against: the functions being replaced.  [`Plan::new`] sorted and
    /// validated both tables; nothing changes them after.
    fn table(&self, dir: Direction) -> Result<RangeTable<'_>> {
        let ranges = match dir {
            Direction::Apply => &self.old_ranges,
            Direction::Revert => &self.new_ranges,
        };
        RangeTable::sorted(ranges).map_err(|_| EINVAL)
    }

    /// `(start, size)` of every split target's old function.
    fn split_ranges(&self) -> Result<KVec<(u64, u64)>> {
        let mut v = KVec::new();
        for t in self.targets.iter().filter(|t| t.split) {
            let r = func_range(t.old, 0, t.name)?;
            v.push((r.start, r.size), GFP_KERNEL)?;
        }
        Ok(v)
    }

    /// Make every switch of this plan clear and rebuild the runqueues.
    pub(crate) fn rebuild_runqueues(mut self) -> Self {
        self.rebuild = true;
        self
    }

    /// [`Plan::text_hash`] when the plan was made (untouched text).
    pub(crate) fn initial_hash(&self) -> u64 {
        self.initial_hash
    }

    /// The plan of the whole extracted scheduler, from the manifest the
    /// build generated: interfaces and callbacks are redirected, internal
    /// functions are only checked for running tasks.  Functions named in
    /// `split` are redirected as [`Target::split`].  Returns the plan and
    /// the number of internal functions.
    pub(crate) fn from_manifest(split: &[&CStr]) -> Result<(Self, usize)> {
        let n = kapi::manifest_len();
        let mut targets: KVec<Target> = KVec::with_capacity(n, GFP_KERNEL)?;
        let mut busy: KVec<(&'static CStr, usize)> = KVec::new();
        for i in 0..n {
            let e = kapi::manifest_get(i).ok_or(EINVAL)?;
            let old = kapi::ksym_lookup_pos(e.name, e.sympos);
            if old == 0 {
                pr_err!(
                    "manifest: {:?} (sympos {}) not found in vmlinux\n",
                    e.name,
                    e.sympos
                );
                return Err(ENOENT);
            }
            // Aliases (e.g. __ia32_sys_x = __x64_sys_x) are one function.
            if targets.iter().any(|t| t.old == old) || busy.iter().any(|&(_, a)| a == old) {
                continue;
            }
            match e.class {
                kapi::ManifestClass::Internal => busy.push((e.name, old), GFP_KERNEL)?,
                _ => targets.push(
                    Target {
                        name: e.name,
                        old,
                        new: e.new,
                        split: split.iter().any(|&n| n == e.name),
                    },
                    GFP_KERNEL,
                )?,
            }
        }
        let internal = busy.len();
        Ok((Plan::new(&targets, &busy)?, internal))
    }

    /// Number of redirected functions.
    pub(crate) fn target_count(&self) -> usize {
        self.targets.len()
    }

    /// Add every `<name>.<suffix>` symbol (`.cold`, `.part.N`, `.isra.N`,
    /// `.constprop.N`, ...) of each target to the old ranges: code of the
    /// old function that lives outside its main symbol.
    fn add_pieces(&mut self) -> Result {
        let mut found: KVec<(u32, u64)> = KVec::new();
        let mut alloc_failed = false;
        let is_piece = |name: &[u8], base: &[u8]| {
            name.len() > base.len() + 1 && name.starts_with(base) && name[base.len()] == b'.'
        };
        kapi::for_each_ksym(|name, addr| {
            let targets = self
                .targets
                .iter()
                .enumerate()
                .filter(|(_, t)| !t.split)
                .map(|(i, t)| (i as u32, t.name));
            // Pieces of the functions only checked for tasks, too.
            let extra = self
                .extra_names
                .iter()
                .enumerate()
                .map(|(i, &n)| (NO_TARGET - 1 - i as u32, n));
            for (id, n) in Iterator::chain(targets, extra) {
                if is_piece(name, n.to_bytes()) && found.push((id, addr), GFP_KERNEL).is_err() {
                    alloc_failed = true;
                    return false;
                }
            }
            true
        });
        if alloc_failed {
            return Err(ENOMEM);
        }
        for &(id, addr) in found.iter() {
            let name = self.range_name(id);
            self.old_ranges
                .push(func_range(addr as usize, id, name)?, GFP_KERNEL)?;
        }
        Ok(())
    }

    /// Number of ranges checked when applying (functions and their pieces).
    pub(crate) fn old_range_count(&self) -> usize {
        self.old_ranges.len()
    }

    /// Whether the redirections are in place.
    pub(crate) fn is_applied(&self) -> bool {
        self.applied
    }

    fn range_name(&self, id: u32) -> &'static CStr {
        if id == MODULE_TEXT {
            return c"plugsched.ko";
        }
        match self.targets.get(id as usize) {
            Some(t) => t.name,
            None => self.extra_names[(NO_TARGET - 1 - id) as usize],
        }
    }

    /// Check, under `text_mutex`, that every site holds what the switch
    /// expects to find there and that nothing else owns those bytes.
    fn check_sites(&self, patchers: &Patchers, dir: Direction) -> Result {
        self.sites
            .iter()
            .try_for_each(|s| self.check_site(patchers, s, dir))
    }

    /// [`Plan::check_sites`] for one site; a refusal names the function,
    /// the site and the reason.
    fn check_site(&self, patchers: &Patchers, s: &Site, dir: Direction) -> Result {
        let name = self.targets[s.target].name;
        if !kapi::is_core_kernel_text(s.addr)
            || !kapi::is_core_kernel_text(s.addr + PATCH_LEN as u64 - 1)
        {
            pr_err!("{:?}: {:#x} is not core kernel text\n", name, s.addr);
            return Err(EINVAL);
        }
        if let Some(owner) = kapi::text_reserved(patchers, s.addr, PATCH_LEN) {
            pr_err!("{:?}: patch site {:#x} is a {:?}\n", name, s.addr, owner);
            return Err(EBUSY);
        }
        let mut now = [0u8; PATCH_LEN];
        kapi::read_kernel(s.addr, &mut now)?;
        if now != s.before(dir) {
            let why = x86::check_untouched(s.addr, &now, Expected::Body(s.orig));
            match why {
                Err(e) => pr_err!("{:?}: patch site {:#x}: {}\n", name, s.addr, Show(e)),
                Ok(()) => pr_err!("{:?}: patch site {:#x} was changed\n", name, s.addr),
            }
            return Err(EBUSY);
        }
        if dir == Direction::Apply {
            // Untouched: the ftrace NOP, or the body of a notrace
            // function; never a call, jmp or int3 left by a patcher.
            let expect = match x86::Site::of(s.addr, &now) {
                x86::Site::Other(body) => Expected::Body(body),
                _ => Expected::FtraceNop,
            };
            if let Err(e) = x86::check_untouched(s.addr, &now, expect) {
                pr_err!("{:?}: patch site {:#x}: {}\n", name, s.addr, Show(e));
                return Err(EBUSY);
            }
        }
        Ok(())
    }

    /// Check every site (under the same locks as a switch) without
    /// switching: the number of sites that could be switched in direction
    /// `dir` now, and of those refused (each refusal is logged).
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn survey(&self, dir: Direction) -> (usize, usize) {
        let patchers = Patchers::lock();
        let cpus = CpusReadLock::lock();
        let _text = TextMutex::lock(&cpus);
        let ok = self
            .sites
            .iter()
            .filter(|s| self.check_site(&patchers, s, dir).is_ok())
            .count();
        (ok, self.sites.len() - ok)
    }

    /// Hash of the bytes at every patch site, now.
    pub(crate) fn text_hash(&self) -> Result<u64> {
        let mut h = crate::pcore::hash::Fnv64::new();
        for s in self.sites.iter() {
            // The whole entry: ENDBR (or its seal) and the patch site.
            let mut b = [0u8; 4 + PATCH_LEN];
            kapi::read_kernel(self.targets[s.target].old as u64, &mut b)?;
            h.write(&b);
        }
        Ok(h.finish())
    }

    /// Whether the last switch was refused only because tasks were inside
    /// the functions being replaced.
    pub(crate) fn refused_for_busy_tasks(&self) -> bool {
        self.busy_tasks
    }

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

    /// After a rendezvous that returned `ret`, with every lock still held:
    /// a failed switch left the text as it was (`hash_before`), a
    /// successful one left every site holding what it wrote.  `EIO` means
    /// a bug: the caller keeps the module pinned.
    fn verify_text(&self, dir: Direction, ret: c_int, hash_before: u64) -> Result {
        if ret != 0 {
            if self.text_hash()? != hash_before {
                pr_crit!("kernel text changed by a failed switch; this is a bug\n");
                return Err(EIO);
            }
            return Ok(());
        }
        for s in self.sites.iter() {
            let mut now = [0u8; PATCH_LEN];
            kapi::read_kernel(s.addr, &mut now)?;
            if now != s.after(dir) {
                pr_crit!(
                    "patch site {:#x} does not hold the bytes written; this is a bug\n",
                    s.addr
                );
                return Err(EIO);
            }
        }
        Ok(())
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

/// Phase 0 on one CPU: inspect this CPU's share of the tasks.
/// `initiator` is the task that started the switch (asleep in
/// `stop_machine`, with module frames of its own); with `module_wide`, any
/// other task with a return address in this module's text (`module_text`:
/// base and size) is busy (a
/// rollback: the module's internal functions and compiler pieces are not
/// in the range table, and nothing of the module may stay in use).
#[allow(clippy::too_many_arguments)]
fn inspect(
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

/// Phase 2 on CPU 0: write every site, or none.  Every CPU serialises in
/// phase 3, before any leaves the rendezvous.
fn patch(
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
