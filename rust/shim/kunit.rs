// SPDX-License-Identifier: GPL-2.0

//! The hooks of `c_shims/` that only the KUnit suites use (test threads,
//! probes and tracers owned by a test, sysfs reads, ...), with their safe
//! wrappers.  Compiled only with `CONFIG_KUNIT`; [`crate::shim`] re-exports
//! them.
//!
//! Like `rust/shim.rs`, one of the few files of the crate that contain
//! `unsafe` code.

use kernel::{
    error::to_result,
    prelude::*,
    str::CStrExt, //
};

use crate::bindings;

/// Address of `plugsched_test_park`, in which test threads sleep.
pub(crate) fn test_park_addr() -> usize {
    bindings::plugsched_test_park as usize
}

/// A value owned by the running KUnit test: dropped when the `TestOwned`
/// is, or, if the test ends first, by KUnit's cleanup of the test.  (A
/// failed `assert!` in a test ends the test's thread at once, without
/// running destructors; what a test registers in the kernel must be
/// released all the same.)
///
/// Neither `Send` nor `Sync` (raw pointers): it cannot leave the test's
/// thread, so it is gone when the test has ended.
pub(crate) struct TestOwned<T: Send> {
    value: core::ptr::NonNull<T>,
    test: *mut bindings::kunit,
    /// The deferred action, kept: KUnit finds it by its address.
    action: unsafe extern "C" fn(*mut c_void),
}

/// The action [`TestOwned`] defers: drop the boxed `T` at `ctx`.
///
/// # Safety
///
/// `ctx` must come from `KBox::<T>::leak` and not be used afterwards.
unsafe extern "C" fn drop_test_owned<T>(ctx: *mut c_void) {
    // SAFETY: The caller passes the box's pointer, once.
    drop(unsafe { KBox::from_raw(ctx.cast::<T>()) });
}

impl<T: Send> TestOwned<T> {
    /// Hand `value` to the running test.  On any error (not in a KUnit
    /// test, no memory) `value` has been dropped.
    pub(crate) fn new(value: T) -> Result<Self> {
        let value = core::ptr::NonNull::from(KBox::leak(KBox::new(value, GFP_KERNEL)?));
        let action: unsafe extern "C" fn(*mut c_void) = drop_test_owned::<T>;
        let mut test = core::ptr::null_mut();
        // SAFETY: `value` is a leaked box, handed to the action, which the
        // C side runs exactly once: at the end of the test, from `drop`, or
        // right away if it cannot be deferred (then we return the error and
        // never touch `value` again).  `T: Send`: the test's cleanup may run
        // in another thread.
        let r = unsafe {
            bindings::plugsched_test_defer(&mut test, Some(action), value.as_ptr().cast())
        };
        to_result(r)?;
        Ok(TestOwned {
            value,
            test,
            action,
        })
    }
}

impl<T: Send> core::ops::Deref for TestOwned<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: The value is dropped only by `drop` or at the end of the
        // test, after which this test-thread-bound object is gone.
        unsafe { self.value.as_ref() }
    }
}

impl<T: Send> core::ops::DerefMut for TestOwned<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: As in `deref`; `&mut self` makes the access exclusive.
        unsafe { self.value.as_mut() }
    }
}

impl<T: Send> Drop for TestOwned<T> {
    fn drop(&mut self) {
        // SAFETY: `test`, `action` and the pointer are what `new` deferred;
        // the test is still running (this is its thread), so the action has
        // not run yet: it runs now and is not run again at the test's end.
        unsafe {
            bindings::plugsched_test_release(
                self.test,
                Some(self.action),
                self.value.as_ptr().cast(),
            )
        };
    }
}

/// Run `f` as a KUnit test of its own, nested in the running one, and end
/// it as KUnit ends a test: what [`TestOwned`] values still hold is
/// dropped.  For tests of the cleanup; `f` must not use `assert!`.
pub(crate) fn test_run_nested<F: FnMut()>(mut f: F) -> Result {
    /// # Safety
    ///
    /// `ctx` must point to an `F`, valid and not otherwise used for the
    /// call.
    unsafe extern "C" fn call<F: FnMut()>(ctx: *mut c_void) {
        // SAFETY: The caller passes `&mut f` below, for this call only.
        let f = unsafe { &mut *ctx.cast::<F>() };
        f();
    }
    let ctx: *mut F = &mut f;
    // SAFETY: `ctx` points to `f`, which lives (and is not used otherwise)
    // until the C side, which calls `call` once, returns.
    to_result(unsafe { bindings::plugsched_test_run_nested(Some(call::<F>), ctx.cast()) })
}

/// Mark the running KUnit test skipped, `reason` shown in its result line;
/// the test should return right after.
pub(crate) fn test_skip(reason: &CStr) {
    // SAFETY: `reason` is NUL-terminated; it is copied before this returns.
    unsafe { bindings::plugsched_test_skip(reason.as_char_ptr()) };
}

/// Sleeping kernel threads (one set at a time), stopped when dropped or at
/// the end of the test.
pub(crate) struct TestThreads(());

impl TestThreads {
    /// Start `n` of them, `in_target` of them inside
    /// `plugsched_test_park`; returns once all are asleep where they belong.
    pub(crate) fn start(n: u32, in_target: u32) -> Result<TestOwned<Self>> {
        // SAFETY: Process context; the C side refuses a second set (EBUSY),
        // and leaves no thread on failure.
        to_result(unsafe { bindings::plugsched_test_threads_start(n, in_target) })?;
        TestOwned::new(TestThreads(()))
    }
}

impl Drop for TestThreads {
    fn drop(&mut self) {
        // SAFETY: Process context; `self` owns the set `start` started.
        unsafe { bindings::plugsched_test_threads_stop() };
    }
}

/// A kprobe on the function at `addr` (one at a time), removed when dropped
/// or at the end of the test.
pub(crate) struct TestKprobe(());

impl TestKprobe {
    /// Register the kprobe.
    pub(crate) fn arm(addr: usize) -> Result<TestOwned<Self>> {
        // SAFETY: Process context; the C side refuses a second kprobe
        // (EBUSY), so `self` owns the one registered.
        to_result(unsafe { bindings::plugsched_test_kprobe_arm(addr as c_ulong) })?;
        TestOwned::new(TestKprobe(()))
    }
}

impl Drop for TestKprobe {
    fn drop(&mut self) {
        // SAFETY: Process context; `self` owns the kprobe `arm` registered.
        unsafe { bindings::plugsched_test_kprobe_disarm() };
    }
}

/// An ftrace user (a function-tracer-like `ftrace_ops`) on the function at
/// `addr` (one at a time), unregistered when dropped or at the end of the
/// test.
pub(crate) struct TestFtrace(());

impl TestFtrace {
    /// Register it.
    pub(crate) fn arm(addr: usize) -> Result<TestOwned<Self>> {
        // SAFETY: Process context; the C side refuses a second user (EBUSY).
        to_result(unsafe { bindings::plugsched_test_ftrace_arm(addr as c_ulong) })?;
        TestOwned::new(TestFtrace(()))
    }
}

impl Drop for TestFtrace {
    fn drop(&mut self) {
        // SAFETY: Process context; `self` owns the user `arm` registered.
        unsafe { bindings::plugsched_test_ftrace_disarm() };
    }
}

/// Walk the stack of every task that is not running: `(checked, with a
/// return address in this module, not walkable reliably)`.
pub(crate) fn test_sleeper_stacks() -> (usize, usize, usize) {
    let (mut hits, mut unreliable) = (0, 0);
    // SAFETY: Process context; the pointers are valid for writes.
    let n = unsafe { bindings::plugsched_test_sleeper_stacks(&mut hits, &mut unreliable) };
    (n, hits, unreliable)
}

/// Call the system call entry point at `f` through a function pointer, with
/// first argument `arg` (in a `struct pt_regs` otherwise zeroed).
///
/// # Safety
///
/// `f` must be the address of a function taking a `const struct pt_regs *`
/// and returning `long` (a system call entry point, or its replacement)
/// that may be called from this context with this argument.
pub(crate) unsafe fn test_call_syscall(f: usize, arg: usize) -> c_long {
    // SAFETY: The caller's contract: `f` is such a function.
    unsafe { bindings::plugsched_test_call_syscall(f as c_ulong, arg as c_ulong) }
}

/// Where the die notifiers resume an INT3 met by kernel code at `addr`, or
/// `None` if none of them takes it (the kernel would oops).
pub(crate) fn test_int3_at(addr: u64) -> Option<u64> {
    // SAFETY: The C side only builds registers on its stack and asks the
    // notifiers; nothing runs at `addr`.
    let ip = unsafe { bindings::plugsched_test_int3_at(addr as c_ulong) };
    (ip != 0).then_some(ip as u64)
}

/// Read attribute `name` of `/sys/kernel/plugsched/` through its sysfs node
/// (for the KUnit suites)
/// and show() method; returns the length shown (at most `buf.len()` copied).
pub(crate) fn sysfs_read(name: &CStr, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: `name` is NUL-terminated and `buf` is valid for writes of
    // `buf.len()` bytes for the duration of the call.
    let ret =
        unsafe { bindings::plugsched_sysfs_read(name.as_char_ptr(), buf.as_mut_ptr(), buf.len()) };
    if ret < 0 {
        // The C side returns a kernel error code; it always fits a c_int.
        return Err(Error::from_errno(ret as c_int));
    }
    Ok(ret as usize)
}

/// Address of vmlinux's non-exported `text_mutex`, as bound by the loader.
pub(crate) fn text_mutex_addr() -> usize {
    // SAFETY: Takes the address of a static object; no preconditions.
    unsafe { bindings::plugsched_ksym_text_mutex() as usize }
}
