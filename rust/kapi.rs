// SPDX-License-Identifier: GPL-2.0

//! Safe interface to the kernel services the live-update engine needs,
//! implemented by the C layer `c_shims/engine.c`.
//!
//! This is one of the few files with `unsafe` code.  The C declarations
//! come from bindgen ([`crate::bindings`]).  Contexts are types:
//! [`Patchers`] excludes the other patchers (livepatch, kprobes, ftrace)
//! from deciding anything, [`CpusReadLock`] excludes CPU hotplug,
//! [`TextMutex`] excludes every write to kernel text, and [`Stopped`]
//! exists only inside a `stop_machine`
//! callback, so the operations that are only sound there take a `&Stopped`
//! and the tasks it hands out ([`TaskRef`]) cannot outlive it.  What stays
//! the caller's business is an `unsafe fn` with its `# Safety` section
//! ([`Stopped::text_poke`], [`Stopped::rq_clear`]).

use core::ffi::c_void;
use core::marker::PhantomData;

use kernel::{
    cpu::CpuId,
    prelude::*,
    sync::aref::ARef,
    task::Task, //
};

use crate::bindings;
use crate::pcore::{
    taskmap::Mark,
    windows::PAGE, //
};

#[cfg(CONFIG_X86_64)]
mod hops;
#[cfg(CONFIG_X86_64)]
pub(crate) use hops::{
    HopMem,
    LivePoke, //
};

/// Every other patcher of kernel text is excluded while this lives:
/// livepatch (`klp_mutex`), kprobes (`kprobe_mutex`) and ftrace
/// (`ftrace_lock`), taken in the kernel's order, before [`CpusReadLock`].
pub(crate) struct Patchers(PhantomData<*mut ()>);

impl Patchers {
    /// Take the patchers' locks.  May sleep.
    pub(crate) fn lock() -> Self {
        // SAFETY: Process context; released in `drop`.
        unsafe { bindings::plugsched_patchers_lock() };
        Patchers(PhantomData)
    }

    /// Make ftrace leave the records at `ips` (sorted) alone (`disable`),
    /// or hand them back.  Returns the number of records changed; `EBUSY`
    /// (nothing changed) if a tracer uses one of them.
    pub(crate) fn mark(&self, ips: &[c_ulong], disable: bool) -> Result<usize> {
        // SAFETY: `self` proves ftrace_lock is held; `ips` is valid for
        // `ips.len()` reads.
        let r = unsafe { bindings::plugsched_ftrace_mark(ips.as_ptr(), ips.len(), disable) };
        if r < 0 {
            return Err(Error::from_errno(r as c_int));
        }
        Ok(r as usize)
    }

    /// The first of `ips` that an enabled ftrace user covers.
    pub(crate) fn user_of(&self, ips: &[c_ulong]) -> Option<u64> {
        // SAFETY: `self` proves ftrace_lock is held; `ips` is valid for
        // `ips.len()` reads.
        let ip = unsafe { bindings::plugsched_ftrace_user(ips.as_ptr(), ips.len()) };
        (ip != 0).then_some(ip as u64)
    }

    /// The first kprobe, livepatched function or ftrace user that changes
    /// what a function does (direct call, modified IP) at an address for
    /// which `covered` holds: its address and what it is.
    pub(crate) fn probe_in(&self, covered: &dyn Fn(u64) -> bool) -> Option<(u64, &'static CStr)> {
        /// # Safety
        ///
        /// `cookie` must point to a `&dyn Fn(u64) -> bool`.
        unsafe extern "C" fn call(cookie: *mut c_void, addr: c_ulong) -> bool {
            // SAFETY: `cookie` is the reference passed below, alive for
            // the whole call.
            let f = unsafe { &*cookie.cast::<&dyn Fn(u64) -> bool>() };
            f(addr as u64)
        }
        let mut what: *const c_char = core::ptr::null();
        let cookie = core::ptr::from_ref(&covered).cast_mut().cast();
        // SAFETY: `self` proves the patchers' locks are held, as the C
        // side requires to walk their lists; `call` gets our cookie.
        let addr = unsafe { bindings::plugsched_probed_in(Some(call), cookie, &mut what) };
        if addr == 0 || what.is_null() {
            return None;
        }
        // SAFETY: `what` points to a string literal of the C side.
        Some((addr as u64, unsafe { CStr::from_char_ptr(what) }))
    }
}

impl Drop for Patchers {
    fn drop(&mut self) {
        // SAFETY: Taken in `lock`, released exactly once here.
        unsafe { bindings::plugsched_patchers_unlock() };
    }
}

/// Whether `ip` is the site of a traceable function (an ftrace record).
pub(crate) fn is_ftrace_location(ip: u64) -> bool {
    // SAFETY: A lookup in ftrace's sorted records; no preconditions.
    unsafe { bindings::plugsched_ftrace_location(ip as c_ulong) }
}

/// The per-CPU task buffers of the runqueue clear and rebuild
/// (`c_shims/rq.c`), allocated while this lives.
pub(crate) struct RqBuffers<'a>(PhantomData<&'a CpusReadLock>);

impl<'a> RqBuffers<'a> {
    /// Allocate a buffer for every online CPU, sized by its runqueue now.
    pub(crate) fn alloc(_cpus: &'a CpusReadLock) -> Result<Self> {
        // SAFETY: Process context; hotplug is excluded (`_cpus`), so the
        // online CPUs get buffers that stay theirs; freed in `drop`.
        kernel::error::to_result(unsafe { bindings::plugsched_rq_bufs_alloc() })?;
        Ok(RqBuffers(PhantomData))
    }
}

// SAFETY: A `&RqBuffers` only proves that the buffers are allocated;
// sharing it with the stop_machine callbacks of the other CPUs, each of
// which uses its own CPU's buffer, is sound.
unsafe impl Sync for RqBuffers<'_> {}

impl Drop for RqBuffers<'_> {
    fn drop(&mut self) {
        // SAFETY: Allocated in `alloc`; the rendezvous that used them is
        // over (the `CpusReadLock` borrowed outlives it).
        unsafe { bindings::plugsched_rq_bufs_free() };
    }
}

/// CPU hotplug is excluded while this lives (`cpus_read_lock`).
pub(crate) struct CpusReadLock(PhantomData<*mut ()>);

impl CpusReadLock {
    /// Take `cpus_read_lock()`.  May sleep.
    pub(crate) fn lock() -> Self {
        // SAFETY: Process context (we may sleep); released in `drop`.
        unsafe { bindings::plugsched_cpus_read_lock() };
        CpusReadLock(PhantomData)
    }

    /// The online CPUs, in ascending order.  Stable while `self` lives.
    pub(crate) fn online_cpus(&self) -> impl Iterator<Item = CpuId> + '_ {
        let mut cpu: c_int = -1;
        core::iter::from_fn(move || {
            // SAFETY: `cpu` is -1 or a CPU number below nr_cpu_ids: reads
            // the online mask.
            let next = unsafe { bindings::plugsched_next_online_cpu(cpu) };
            // At the end, `next` is nr_cpu_ids or more: no CPU.
            let next = CpuId::from_u32(next)?;
            cpu = i32::from(next);
            Some(next)
        })
    }

    /// The idle task of each online CPU, to walk in process context.
    pub(crate) fn idle_tasks(&self) -> impl Iterator<Item = LiveTask<'_>> + '_ {
        // INVARIANT: Idle tasks live as long as the kernel.
        self.online_cpus()
            .filter_map(|cpu| idle_task_of(cpu).map(|t| LiveTask(t, PhantomData)))
    }

    /// Run `f` on every online CPU at once inside `stop_machine`, with
    /// interrupts off.  Returns `f`'s error if any CPU's `f` failed.
    pub(crate) fn stop_machine<F>(&self, f: &F) -> c_int
    where
        F: Fn(&Stopped) -> c_int + Sync,
    {
        /// # Safety
        ///
        /// `data` must point to an `F` that outlives the call.
        unsafe extern "C" fn trampoline<F>(data: *mut c_void) -> c_int
        where
            F: Fn(&Stopped) -> c_int + Sync,
        {
            // SAFETY: `data` is the `&F` passed below, alive for the whole
            // stop_machine call; `F: Sync` makes sharing it across CPUs sound.
            let f = unsafe { &*data.cast::<F>() };
            f(&Stopped(PhantomData))
        }
        // SAFETY: `self` proves hotplug is excluded, as the cpuslocked variant
        // requires; `trampoline::<F>` matches the `cpu_stop_fn_t` ABI and gets
        // a pointer to `f`, which outlives the call.
        unsafe {
            bindings::plugsched_stop_machine_cpuslocked(
                Some(trampoline::<F>),
                core::ptr::from_ref(f).cast_mut().cast(),
            )
        }
    }
}

impl Drop for CpusReadLock {
    fn drop(&mut self) {
        // SAFETY: Taken in `lock`, released exactly once here.
        unsafe { bindings::plugsched_cpus_read_unlock() };
    }
}

/// `text_mutex` is held while this lives: no other patcher (ftrace, kprobes,
/// jump labels, static calls, livepatch) can change kernel text.
pub(crate) struct TextMutex<'a>(PhantomData<(*mut (), &'a CpusReadLock)>);

impl<'a> TextMutex<'a> {
    /// Take `text_mutex`, after `cpus_read_lock` as the kernel's lock order
    /// requires.  May sleep.
    pub(crate) fn lock(_cpus: &'a CpusReadLock) -> Self {
        // SAFETY: Process context; released in `drop`; the hotplug lock is
        // already held, so the order is the kernel's.
        unsafe { bindings::plugsched_text_mutex_lock() };
        TextMutex(PhantomData)
    }
}

// SAFETY: A `&TextMutex` is only a proof that the lock is held; sharing it
// with the stop_machine callbacks of other CPUs while the owner waits for
// them is sound.  (It stays `!Send`: it must be unlocked by its owner.)
unsafe impl Sync for TextMutex<'_> {}

impl Drop for TextMutex<'_> {
    fn drop(&mut self) {
        // SAFETY: Taken in `lock`, released exactly once here.
        unsafe { bindings::plugsched_text_mutex_unlock() };
    }
}

/// A task, as an opaque pointer, borrowed from the [`Stopped`] rendezvous
/// that handed it out: inside `stop_machine` no task can exit, so it stays
/// valid for as long as the borrow, and it cannot outlive the rendezvous.
///
/// # Invariants
///
/// `self.0` points to a live `struct task_struct` for `'a`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskRef<'a>(*mut bindings::task_struct, PhantomData<&'a Stopped>);

impl TaskRef<'_> {
    /// The task's identity (its address), comparable with
    /// [`current_task_id`].
    pub(crate) fn id(self) -> usize {
        self.0 as usize
    }
}

/// The tasks switched out on each CPU since [`SwitchLog::start`]
/// (`c_shims/switchlog.c`), each held by a reference until the log is
/// dropped.  Start and drop it without `text_mutex` (the tracepoint's
/// static key is patched).
pub(crate) struct SwitchLog(PhantomData<*mut ()>);

// SAFETY: Shared references only read the log, and only inside
// stop_machine, where no CPU switches tasks (so none writes it).
unsafe impl Sync for SwitchLog {}

impl SwitchLog {
    /// Start logging, `cap` tasks per CPU at most.  May sleep.
    pub(crate) fn start(cap: u32) -> Result<Self> {
        // SAFETY: Process context; one log at a time (EBUSY otherwise);
        // stopped in `drop`.
        let r = unsafe { bindings::plugsched_switch_log_start(cap) };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        Ok(SwitchLog(PhantomData))
    }
}

impl Drop for SwitchLog {
    fn drop(&mut self) {
        // SAFETY: Started in `start`, stopped exactly once here, in
        // process context.
        unsafe { bindings::plugsched_switch_log_stop() };
    }
}

/// A task visited in process context ([`for_each_live_task`]): it may run
/// or exit at any time; the visit holds a reference to it.
///
/// # Invariants
///
/// `self.0` points to a `struct task_struct` that is valid for `'a`.
pub(crate) struct LiveTask<'a>(*mut bindings::task_struct, PhantomData<&'a ()>);

impl LiveTask<'_> {
    /// A reference to the task that keeps its `task_struct`.
    pub(crate) fn hold(&self) -> ARef<Task> {
        // SAFETY: `self.0` is a valid task for the visit (the type's
        // invariant), and `Task` is a transparent wrapper of it.
        let t = unsafe { &*self.0.cast::<Task>() };
        ARef::from(t)
    }

    /// The task's identity (its address), as [`TaskRef::id`].
    pub(crate) fn id(&self) -> usize {
        self.0 as usize
    }

    /// Walk the task's stack while it is held off CPU (as livepatch does),
    /// calling `f` with each return address until it returns `false`;
    /// with the task's [`Mark`] read under the same hold.  A running task
    /// is [`Walk::Running`] (no mark).
    pub(crate) fn walk_held(&self, f: &mut dyn FnMut(u64) -> bool) -> (Walk, Mark) {
        let mut cookie = WalkCookie { f, stopped: false };
        let mut m = bindings::plugsched_task_mark::default();
        // SAFETY: `self.0` is valid (the type's invariant); the C side
        // walks it only while task_call_func keeps it off CPU, and gives
        // `walk_consume` our cookie; `m` is writable.
        let ret = unsafe {
            bindings::plugsched_walk_stack_held(
                self.0,
                Some(walk_consume),
                core::ptr::from_mut(&mut cookie).cast(),
                &mut m,
            )
        };
        let walk = if ret == EBUSY.to_errno() {
            Walk::Running
        } else {
            walk_outcome(ret, cookie.stopped)
        };
        let mark = Mark {
            switches: m.switches,
            start: m.start,
        };
        (walk, mark)
    }
}

/// [`LiveTask::walk_held`] of a task held by a reference, in process
/// context.
pub(crate) fn walk_held_ref(t: &ARef<Task>, f: &mut dyn FnMut(u64) -> bool) -> Walk {
    // INVARIANT: `t` keeps the task valid for the visit.
    LiveTask(t.as_ptr().cast(), PhantomData).walk_held(f).0
}

/// Visit every thread of every process in process context (under RCU: the
/// list may change meanwhile; every task visited is valid for its visit).
/// Must not be called from `stop_machine` (use [`Stopped::for_each_task`]).
pub(crate) fn for_each_live_task<F: FnMut(LiveTask<'_>)>(mut f: F) {
    /// # Safety
    ///
    /// `data` must point to the closure below, used by this CPU only; `t`
    /// must be valid during the call.
    unsafe extern "C" fn visit<F: FnMut(LiveTask<'_>)>(
        data: *mut c_void,
        t: *mut bindings::task_struct,
        _i: c_ulong,
    ) {
        // SAFETY: `data` is the `&mut F` passed below.
        let f = unsafe { &mut *data.cast::<F>() };
        // INVARIANT: The C side visits `t` under rcu_read_lock.
        f(LiveTask(t, PhantomData));
    }
    // SAFETY: The C side holds rcu_read_lock around the walk of the list,
    // so every task it passes stays valid during its visit; `visit::<F>`
    // gets a pointer to `f`.
    unsafe {
        bindings::plugsched_for_each_task(Some(visit::<F>), core::ptr::from_mut(&mut f).cast())
    };
}

/// The visitor of a stack walk, and whether it stopped the walk.
struct WalkCookie<'a> {
    f: &'a mut dyn FnMut(u64) -> bool,
    stopped: bool,
}

/// The C unwinder's callback: one return address.
///
/// # Safety
///
/// `cookie` must point to a [`WalkCookie`] that no one else uses.
unsafe extern "C" fn walk_consume(cookie: *mut c_void, addr: c_ulong) -> bool {
    // SAFETY: `cookie` is the `WalkCookie` of the walk, used by one CPU.
    let c = unsafe { &mut *cookie.cast::<WalkCookie<'_>>() };
    let more = (c.f)(addr as u64);
    c.stopped |= !more;
    more
}

/// The outcome of the C unwinder's result `ret`.
fn walk_outcome(ret: c_int, stopped: bool) -> Walk {
    match ret {
        0 => Walk::Complete,
        _ if ret == ESRCH.to_errno() => Walk::Gone,
        _ if stopped => Walk::Stopped,
        _ => Walk::Unreliable,
    }
}

/// The outcome of walking a task's stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Walk {
    /// Every frame was visited.
    Complete,
    /// The visitor asked to stop.
    Stopped,
    /// The unwinder could not walk the stack reliably.
    Unreliable,
    /// The task's stack is already freed: it has exited for good.
    Gone,
    /// The task is on a CPU (inside stop_machine: a stopper); not walked.
    Running,
}

/// Proof of running inside a `stop_machine` callback: interrupts are off on
/// every CPU and every task other than the stoppers is off-CPU.
pub(crate) struct Stopped(PhantomData<*mut ()>);

impl Stopped {
    /// The CPU this runs on (stable: preemption is off inside
    /// stop_machine).
    pub(crate) fn this_cpu(&self) -> CpuId {
        CpuId::current()
    }

    /// Visit every thread of every process, with its position in the list.
    pub(crate) fn for_each_task<'a, F: FnMut(TaskRef<'a>, usize)>(&'a self, mut f: F) {
        /// # Safety
        ///
        /// `data` must point to an `F` that no one else uses during the
        /// call; `t` must point to a task that lives for `'a`.
        unsafe extern "C" fn visit<'a, F: FnMut(TaskRef<'a>, usize)>(
            data: *mut c_void,
            t: *mut bindings::task_struct,
            i: c_ulong,
        ) {
            // SAFETY: `data` is the `&mut F` passed below, used by one CPU.
            let f = unsafe { &mut *data.cast::<F>() };
            // INVARIANT: Listed tasks cannot exit while the rendezvous
            // (borrowed for `'a`) lasts.
            f(TaskRef(t, PhantomData), i);
        }
        // SAFETY: Inside stop_machine (proved by `self`) no task exits, so
        // the list is stable; `visit::<F>` gets a pointer to `f`.
        unsafe {
            bindings::plugsched_for_each_task(
                Some(visit::<'a, F>),
                core::ptr::from_mut(&mut f).cast(),
            )
        };
    }

    /// The idle task of CPU `cpu`, if it has one (a CPU that was never
    /// brought up may not).
    pub(crate) fn idle_task(&self, cpu: CpuId) -> Option<TaskRef<'_>> {
        // INVARIANT: Idle tasks live as long as the kernel.
        idle_task_of(cpu).map(|t| TaskRef(t, PhantomData))
    }

    /// Whether `t` is on a CPU now (here: it is a stopper thread).
    pub(crate) fn on_cpu(&self, t: TaskRef<'_>) -> bool {
        // SAFETY: `t` is valid (`TaskRef`'s invariant).
        unsafe { bindings::plugsched_task_on_cpu(t.0) }
    }

    /// Whether `t` is a CPU's idle task.
    pub(crate) fn is_idle(&self, t: TaskRef<'_>) -> bool {
        // SAFETY: `t` is valid (`TaskRef`'s invariant).
        unsafe { bindings::plugsched_task_is_idle(t.0) }
    }

    /// `t`'s pid and command name.
    pub(crate) fn task_info(&self, t: TaskRef<'_>) -> (i32, [u8; 16]) {
        let mut pid = 0;
        let mut comm = [0u8; 16];
        // SAFETY: `t` is valid (`TaskRef`'s invariant); `comm` has 16 bytes.
        unsafe { bindings::plugsched_task_info(t.0, &mut pid, comm.as_mut_ptr(), comm.len()) };
        (pid, comm)
    }

    /// Walk the stack of the off-CPU task `t` with the reliable unwinder,
    /// calling `f` with each return address until it returns `false`.
    pub(crate) fn walk_stack(&self, t: TaskRef<'_>, f: &mut dyn FnMut(u64) -> bool) -> Walk {
        if self.on_cpu(t) {
            return Walk::Running;
        }
        let mut cookie = WalkCookie { f, stopped: false };
        // SAFETY: `t` is valid (`TaskRef`'s invariant) and off-CPU inside
        // stop_machine (`self`), so its stack cannot change under the
        // unwinder; `walk_consume` gets our cookie.
        let ret = unsafe {
            bindings::plugsched_walk_stack(
                t.0,
                Some(walk_consume),
                core::ptr::from_mut(&mut cookie).cast(),
            )
        };
        walk_outcome(ret, cookie.stopped)
    }

    /// The inactive task `t`'s return addresses as the unwinder finds them
    /// without the reliability checks, into `out`; how many.
    pub(crate) fn stack_trace(&self, t: TaskRef<'_>, out: &mut [u64]) -> usize {
        let n = u32::try_from(out.len()).unwrap_or(u32::MAX);
        // SAFETY: `t` is valid (`TaskRef`'s invariant) and off CPU inside
        // stop_machine (`self`); `out` has room for `n` addresses (`u64`
        // is `unsigned long` on 64-bit targets).
        let got = unsafe { bindings::plugsched_stack_trace(t.0, out.as_mut_ptr().cast(), n) };
        (got as usize).min(out.len())
    }

    /// The tasks switched out on CPU `cpu` since `log` started, or `None`
    /// if its log overflowed.
    pub(crate) fn switched_out<'a>(
        &'a self,
        log: &'a SwitchLog,
        cpu: u32,
    ) -> Option<impl Iterator<Item = TaskRef<'a>> + 'a> {
        let (mut n, mut overflow) = (0u32, false);
        // SAFETY: `log` is started (its type's invariant) and `cpu` is
        // below nr_cpu_ids (the callers'); the C side only reads the log,
        // which no CPU writes inside stop_machine (`self`).
        let tasks = unsafe { bindings::plugsched_switch_log_get(cpu, &mut n, &mut overflow) };
        if overflow {
            return None;
        }
        let _ = log;
        Some((0..n as usize).map(move |i| {
            // SAFETY: `tasks` has `n` entries, valid while `log` lives.
            let t = unsafe { *tasks.add(i) };
            // INVARIANT: The log holds a reference to each task until it
            // is dropped, after `'a`.
            TaskRef(t, PhantomData)
        }))
    }

    /// A task held by a reference, as a [`TaskRef`] for the rendezvous.
    pub(crate) fn held<'a>(&'a self, t: &'a ARef<Task>) -> TaskRef<'a> {
        // INVARIANT: `t` keeps the task alive for `'a`.
        TaskRef(t.as_ptr().cast(), PhantomData)
    }

    /// `t`'s [`Mark`]: inside the rendezvous it cannot change.
    pub(crate) fn task_mark(&self, t: TaskRef<'_>) -> Mark {
        let mut m = bindings::plugsched_task_mark::default();
        // SAFETY: `t` is valid (`TaskRef`'s invariant); `m` is writable.
        unsafe { bindings::plugsched_task_mark(t.0, &mut m) };
        Mark {
            switches: m.switches,
            start: m.start,
        }
    }

    /// Write the patch sites of one window of kernel text with one mapping
    /// of its pages (`plugsched_text_poke_window`): only the sites' bytes
    /// are written.  All other CPUs are in the rendezvous (`self`) and
    /// `_text` proves no other patcher is active.  A window outside
    /// vmlinux's core text (see [`is_core_kernel_text`]) or beyond two pages
    /// is left alone.
    ///
    /// # Safety
    ///
    /// - `w.sites` points to `w.nr_sites` sites that lie within
    ///   `w.start..w.start + w.len`.
    /// - No CPU may run the bytes written before every CPU has serialised
    ///   its instruction stream ([`Stopped::sync_core`]) after the write, in
    ///   this rendezvous.
    /// - Each site's bytes must be what the code there may become: every
    ///   path into it must find an instruction boundary of the new bytes,
    ///   and what they run or branch to must keep the contract of the code
    ///   they replace (e.g. a `jmp` at a function's patch site, where calls
    ///   enter it, to a function with the same signature and semantics; or
    ///   the site's original bytes).
    pub(crate) unsafe fn text_poke_window(
        &self,
        _text: &TextMutex<'_>,
        w: &bindings::plugsched_poke_window,
    ) {
        let start = w.start as u64;
        let Some(last) = start.checked_add((w.len as u64).saturating_sub(1)) else {
            return;
        };
        let two_pages = (start & !(PAGE - 1)) + 2 * PAGE;
        if w.len == 0
            || last >= two_pages
            || !is_core_kernel_text(start)
            || !is_core_kernel_text(last)
        {
            return; // checked by the caller already; never write elsewhere
        }
        // SAFETY: The window is core kernel text within two pages (checked
        // above), so __text_poke takes no sleeping lock and maps both pages;
        // the sites lie within it (the caller's contract); nothing else runs
        // or patches; what the bytes do is the caller's contract.
        unsafe { bindings::plugsched_text_poke_window(w) };
    }

    /// Check that this CPU's runqueue can be cleared and rebuilt.
    pub(crate) fn rq_check(&self) -> Result<(), i32> {
        // SAFETY: Inside stop_machine (proved by `self`); reads this CPU's
        // runqueue only.
        match unsafe { bindings::plugsched_rq_check() } {
            0 => Ok(()),
            e => Err(e),
        }
    }

    /// Empty this CPU's runqueue with the live code (see `c_shims/rq.c`)
    /// into the buffer `_bufs` holds for it.
    ///
    /// # Safety
    ///
    /// Whatever the result, [`Stopped::rq_rebuild`] must follow on this CPU
    /// in the same rendezvous (the tasks dequeued are still marked queued;
    /// left out of their queues, the scheduler would corrupt them).
    pub(crate) unsafe fn rq_clear(
        &self,
        _bufs: &RqBuffers<'_>,
        st: &mut RqStats,
    ) -> Result<(), i32> {
        // SAFETY: Inside stop_machine every other CPU is in the rendezvous,
        // so this CPU's runqueue and its tasks are ours; `st` is valid; the
        // buffers live until after the rendezvous (`_bufs`).
        match unsafe { bindings::plugsched_rq_clear(st) } {
            0 => Ok(()),
            e => Err(e),
        }
    }

    /// Refill this CPU's runqueue with the live code, with the tasks
    /// [`Stopped::rq_clear`] took out of it in this rendezvous (none if it
    /// did not run or failed early: the buffer is emptied at the end of
    /// every rebuild and by every failed clear).  Run it after this CPU was
    /// serialised.
    pub(crate) fn rq_rebuild(&self, st: &mut RqStats) {
        // SAFETY: Inside stop_machine, as for `rq_clear`; the tasks in this
        // CPU's buffer are the ones its clear dequeued in this rendezvous
        // (`rq_clear`'s contract), alive (no task exits in stop_machine).
        unsafe { bindings::plugsched_rq_rebuild(st) };
    }

    /// Serialise this CPU's instruction stream (`sync_core`).
    pub(crate) fn sync_core(&self) {
        // SAFETY: A serialising instruction; no preconditions.
        unsafe { bindings::plugsched_sync_core() };
    }
}

/// What clearing and rebuilding one runqueue did (`struct
/// plugsched_rq_stats` of `c_shims/shims.h`).
pub(crate) type RqStats = bindings::plugsched_rq_stats;

/// Whether a sched_ext (BPF) scheduler is loaded.
pub(crate) fn scx_enabled() -> bool {
    // SAFETY: Reads a static key; no preconditions.
    unsafe { bindings::plugsched_scx_enabled() }
}

/// Pointers into this module's memory left in the scheduler's long-lived
/// data (timers, works, balance callbacks).  Process context.
pub(crate) fn module_pointers() -> usize {
    // SAFETY: Process context; the C side walks the data under RCU.
    unsafe { bindings::plugsched_module_pointers() as usize }
}

/// This module's core text, `(base, size)`: where its code runs.
pub(crate) fn module_text() -> (u64, u64) {
    let (mut base, mut size) = (0, 0);
    // SAFETY: Reads this module's layout; the pointers are valid.
    unsafe { bindings::plugsched_module_text(&mut base, &mut size) };
    (base as u64, size as u64)
}

/// The identity of the calling task (to recognise it inside
/// `stop_machine`, see [`TaskRef::id`]).
pub(crate) fn current_task_id() -> usize {
    kernel::current!().as_ptr() as usize
}

/// Keep this module loaded for good: pointers into it remain in kernel
/// data.  Must not be called from module exit.
pub(crate) fn pin_module() {
    // SAFETY: Takes a reference on THIS_MODULE, which is live (we run in
    // its code outside of its exit).
    unsafe { bindings::plugsched_pin_module() };
}

/// Wait until every RCU callback queued so far has run (`rcu_barrier`).
/// Sleeps.
pub(crate) fn rcu_barrier() {
    // SAFETY: Process context (module exit); no lock held.
    unsafe { bindings::plugsched_rcu_barrier() };
}

/// Nanoseconds from the local CPU clock (`local_clock`).  NMI-safe.
pub(crate) fn local_clock() -> u64 {
    // SAFETY: No preconditions.
    unsafe { bindings::plugsched_local_clock() }
}

/// Spin politely at a barrier (and keep the NMI watchdog quiet).
pub(crate) fn cpu_relax() {
    kernel::processor::cpu_relax();
    // SAFETY: No preconditions.
    unsafe { bindings::plugsched_touch_nmi_watchdog() };
}

/// The idle task of CPU `cpu`, if it has one (a CPU that was never
/// brought up may not); idle tasks live as long as the kernel.
fn idle_task_of(cpu: CpuId) -> Option<*mut bindings::task_struct> {
    // SAFETY: `cpu` is below nr_cpu_ids (`CpuId`'s invariant), so its
    // runqueue exists; the C side only reads its idle pointer.
    let t = unsafe { bindings::plugsched_idle_task(cpu.as_u32()) };
    (!t.is_null()).then_some(t)
}

/// Log `addrs`, one symbol and offset a line.
pub(crate) fn log_trace(addrs: &[u64]) {
    let n = u32::try_from(addrs.len()).unwrap_or(u32::MAX);
    // SAFETY: `addrs` holds `n` addresses (`u64` is `unsigned long` on
    // 64-bit targets); the C side only prints them.
    unsafe { bindings::plugsched_log_trace(addrs.as_ptr().cast(), n) };
}

/// `(size, offset)` of the kernel or module symbol containing `addr`.
pub(crate) fn ksym_size_offset(addr: u64) -> Option<(u64, u64)> {
    let (mut size, mut off) = (0, 0);
    // SAFETY: Plain lookup; the pointers are valid for writes.
    let ok = unsafe { bindings::plugsched_ksym_size_offset(addr as c_ulong, &mut size, &mut off) };
    ok.then_some((size as u64, off as u64))
}

/// Call `f(name, addr)` for every vmlinux symbol until it returns `false`.
/// Slow (all of kallsyms); may sleep.
pub(crate) fn for_each_ksym<F: FnMut(&[u8], u64) -> bool>(mut f: F) {
    /// # Safety
    ///
    /// `data` must point to an `F` that no one else uses during the call;
    /// `name` must be a valid NUL-terminated string.
    unsafe extern "C" fn visit<F: FnMut(&[u8], u64) -> bool>(
        data: *mut c_void,
        name: *const c_char,
        addr: c_ulong,
    ) -> c_int {
        // SAFETY: `data` is the `&mut F` passed below.
        let f = unsafe { &mut *data.cast::<F>() };
        // SAFETY: kallsyms passes a valid NUL-terminated name.
        let name = unsafe { CStr::from_char_ptr(name) };
        c_int::from(!f(name.to_bytes(), addr as u64))
    }
    // SAFETY: `visit::<F>` gets a pointer to `f`, alive for the call.
    unsafe {
        bindings::plugsched_for_each_ksym(Some(visit::<F>), core::ptr::from_mut(&mut f).cast())
    };
}

/// Call `f(addr)` for the address of every symbol of this module that
/// kallsyms weighs when it names an address of the module.  Takes
/// `module_mutex` (`module_kallsyms_on_each_symbol()`): not from a
/// module notifier or anything else that holds it.  May sleep.
pub(crate) fn for_each_module_symbol<F: FnMut(u64)>(mut f: F) {
    /// # Safety
    ///
    /// `data` must point to an `F` that no one else uses during the call.
    unsafe extern "C" fn visit<F: FnMut(u64)>(data: *mut c_void, addr: c_ulong) {
        // SAFETY: `data` is the `&mut F` passed below.
        let f = unsafe { &mut *data.cast::<F>() };
        f(addr as u64);
    }
    // SAFETY: `visit::<F>` gets a pointer to `f`, alive for the call.
    unsafe {
        bindings::plugsched_for_each_module_symbol(
            Some(visit::<F>),
            core::ptr::from_mut(&mut f).cast(),
        )
    };
}

/// Whether `addr` is in vmlinux's core text (not init, module or data).
pub(crate) fn is_core_kernel_text(addr: u64) -> bool {
    // SAFETY: Plain range check.
    unsafe { bindings::plugsched_core_kernel_text(addr as c_ulong) }
}

/// The core kernel text `addr..addr + len` as it is now, read in place:
/// cheap enough for the rendezvous.  `None` for anything but core kernel
/// text.  The caller must not hold the slice across a write to the text
/// it covers (only the text patching writes it, under `text_mutex`).
pub(crate) fn core_text(addr: u64, len: usize) -> Option<&'static [u8]> {
    let last = addr.checked_add(len.checked_sub(1)? as u64)?;
    if !is_core_kernel_text(addr) || !is_core_kernel_text(last) {
        return None;
    }
    // SAFETY: `addr..=last` is core kernel text (just checked, and core
    // kernel text is one contiguous range): mapped and readable for as
    // long as the kernel runs, and never freed.  Its bytes change only
    // through the text patching, which callers keep out while they read
    // (they hold `text_mutex`, or run where its holder waits).
    Some(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
}

/// The mechanism owning some byte of `[addr, addr + len)` (jump label,
/// static call, kprobe), if any.  The kprobe table is only stable under
/// `kprobe_mutex`, which `_patchers` proves held.
pub(crate) fn text_reserved(_patchers: &Patchers, addr: u64, len: usize) -> Option<&'static CStr> {
    // SAFETY: Lookups only, with kprobe_mutex held; `len` > 0 is the
    // caller's business (0 checks nothing).
    let p = unsafe { bindings::plugsched_text_reserved(addr as c_ulong, len) };
    // SAFETY: A non-NULL result points to a static string in the C shim.
    (!p.is_null()).then(|| unsafe { CStr::from_char_ptr(p) })
}

/// Copy kernel memory at `addr` into `buf`; `EFAULT` if not mapped.
pub(crate) fn read_kernel(addr: u64, buf: &mut [u8]) -> Result {
    // SAFETY: copy_from_kernel_nofault checks the source and never faults;
    // `buf` is valid for `buf.len()` bytes of writes.
    let ret = unsafe {
        kernel::bindings::copy_from_kernel_nofault(
            buf.as_mut_ptr().cast(),
            addr as *const c_void,
            buf.len(),
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(EFAULT)
    }
}

/// Address of the `pos`-th vmlinux symbol called `name` (kallsyms order,
/// 1-based; 0: the only one), or 0.
pub(crate) fn ksym_lookup_pos(name: &CStr, pos: u64) -> usize {
    // SAFETY: `name` is NUL-terminated; the lookup only reads it.
    unsafe { bindings::plugsched_ksym_lookup_pos(name.as_char_ptr(), pos as c_ulong) as usize }
}

/// Where vmlinux's `name` is, given its address in the vmlinux built
/// (`link_addr`): that address moved by the KASLR offset, if the symbol
/// starting there is `name`; otherwise 0.  Much cheaper than
/// [`ksym_lookup_pos`].
fn ksym_at(name: &CStr, link_addr: u64) -> usize {
    // SAFETY: `name` is NUL-terminated; the lookup only reads it.
    unsafe { bindings::plugsched_ksym_at(name.as_char_ptr(), link_addr as c_ulong) as usize }
}

/// Where vmlinux's `name` (kallsyms position `pos`) is: at its address in
/// the vmlinux built moved by KASLR ([`ksym_at`]), else looked up by name
/// ([`ksym_lookup_pos`]); 0 if neither finds it.
pub(crate) fn ksym_find(name: &CStr, pos: u64, link_addr: u64) -> usize {
    match ksym_at(name, link_addr) {
        0 => ksym_lookup_pos(name, pos),
        at => at,
    }
}

/// Kind of a manifest entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ManifestClass {
    /// Redirected: called from outside the boundary.
    Interface,
    /// Redirected: its address is taken.
    Callback,
    /// Replaced, reached only through the redirected ones.
    Internal,
}

/// One function the module's extracted scheduler replaces.
#[derive(Clone, Copy)]
pub(crate) struct ManifestEntry {
    /// vmlinux symbol name (module rodata, alive while the module is).
    pub(crate) name: &'static CStr,
    /// Its kallsyms position (0: unique).
    pub(crate) sympos: u64,
    /// Its address in the vmlinux built, before KASLR.
    pub(crate) link_addr: u64,
    /// Address of the module's copy.
    pub(crate) new: usize,
    /// Its class.
    pub(crate) class: ManifestClass,
}

/// The safe points of one function: its vmlinux name and sympos, and the
/// offsets of its safe instructions, ascending.
pub(crate) type SafeGroup = (&'static CStr, u64, &'static [u32]);

/// The group behind `p`, a row of a generated safe-point table (or NULL).
fn safe_group(p: *const bindings::plugsched_safepoint) -> Option<SafeGroup> {
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` points to a valid, constant `struct plugsched_safepoint`
    // that lives as long as the module: its name is a NUL-terminated
    // literal, `offsets` an array of `nr` offsets (`ARRAY_SIZE` of it).
    let (e, name, offs) = unsafe {
        let e = &*p;
        let offs = if e.offsets.is_null() {
            &[][..]
        } else {
            core::slice::from_raw_parts(e.offsets, e.nr as usize)
        };
        (e, CStr::from_char_ptr(e.name), offs)
    };
    Some((name, e.sympos as u64, offs))
}

/// Safe-point group `i` of the manifest: a vmlinux function (name, sympos)
/// and the offsets of its safe points.
pub(crate) fn safepoint_get(i: usize) -> Option<SafeGroup> {
    // SAFETY: Returns NULL or a pointer into the module's constant table.
    safe_group(unsafe { bindings::plugsched_safepoint_get(i as c_uint) })
}

/// Number of safe-point groups of the manifest.
pub(crate) fn safepoint_count() -> usize {
    // SAFETY: Reads a constant table; no preconditions.
    unsafe { bindings::plugsched_safepoint_count() as usize }
}

/// Safe-point group `i` of the module's copies: the vmlinux function
/// (name, sympos) whose copy they are in and their offsets from the
/// copy's start.
pub(crate) fn module_safepoint_get(i: usize) -> Option<SafeGroup> {
    // SAFETY: Returns NULL or a pointer into the module's constant table.
    safe_group(unsafe { bindings::plugsched_module_safepoint_get(i as c_uint) })
}

/// Number of safe-point groups of the module's copies.
pub(crate) fn module_safepoint_count() -> usize {
    // SAFETY: Reads a constant table; no preconditions.
    unsafe { bindings::plugsched_module_safepoint_count() as usize }
}

/// Number of entries of the manifest (0 when the module was built without
/// the extracted scheduler).
pub(crate) fn manifest_len() -> usize {
    // SAFETY: Reads a constant table; no preconditions.
    unsafe { bindings::plugsched_manifest_len() as usize }
}

/// Entry `i` of the manifest.
pub(crate) fn manifest_get(i: usize) -> Option<ManifestEntry> {
    // SAFETY: Returns NULL or a pointer into the module's constant tables.
    let p = unsafe { bindings::plugsched_manifest_get(i as c_uint) };
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` points to a valid, constant `struct plugsched_fn` that
    // lives as long as the module; its name is a NUL-terminated literal.
    let (e, name) = unsafe { (&*p, CStr::from_char_ptr((*p).name)) };
    let class = match e.cls {
        c if c == bindings::PLUGSCHED_INTERFACE as c_ulong => ManifestClass::Interface,
        c if c == bindings::PLUGSCHED_CALLBACK as c_ulong => ManifestClass::Callback,
        _ => ManifestClass::Internal,
    };
    Some(ManifestEntry {
        name,
        sympos: e.sympos as u64,
        link_addr: e.link_addr as u64,
        new: e.fn_ as usize,
        class,
    })
}

/// Number of compiler pieces of the replaced functions the build listed
/// (`plugsched init`, pieces.c; 0 without the extracted scheduler).
pub(crate) fn piece_count() -> usize {
    // SAFETY: Reads a constant table; no preconditions.
    unsafe { bindings::plugsched_piece_count() as usize }
}

/// Piece `i`: its vmlinux symbol name, kallsyms position and address in
/// the vmlinux built.
pub(crate) fn piece_get(i: usize) -> Option<(&'static CStr, u64, u64)> {
    // SAFETY: Returns NULL or a pointer into the module's constant table.
    let p = unsafe { bindings::plugsched_piece_get(i as c_uint) };
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` points to a valid, constant `struct plugsched_piece` that
    // lives as long as the module; its name is a NUL-terminated literal.
    let (e, name) = unsafe { (&*p, CStr::from_char_ptr((*p).name)) };
    Some((name, e.sympos as u64, e.link_addr as u64))
}
