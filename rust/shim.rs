// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers around the C shims of `c_shims/`, and the Rust functions the
//! C side calls back.  The declarations of `c_shims/shims.h` come from
//! bindgen ([`crate::bindings`]); the callbacks are checked against them.
//!
//! This is one of the few files of the crate that contain `unsafe` code.

use kernel::{
    error::to_result,
    prelude::*, //
    str::CStrExt,
};

use crate::{
    bindings,
    state, //
};

/// Address of `plugsched_test_park`, in which test threads sleep.
#[cfg(CONFIG_KUNIT = "y")]
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
#[cfg(CONFIG_KUNIT = "y")]
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
#[cfg(CONFIG_KUNIT = "y")]
unsafe extern "C" fn drop_test_owned<T>(ctx: *mut c_void) {
    // SAFETY: The caller passes the box's pointer, once.
    drop(unsafe { KBox::from_raw(ctx.cast::<T>()) });
}

#[cfg(CONFIG_KUNIT = "y")]
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

#[cfg(CONFIG_KUNIT = "y")]
impl<T: Send> core::ops::Deref for TestOwned<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: The value is dropped only by `drop` or at the end of the
        // test, after which this test-thread-bound object is gone.
        unsafe { self.value.as_ref() }
    }
}

#[cfg(CONFIG_KUNIT = "y")]
impl<T: Send> core::ops::DerefMut for TestOwned<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: As in `deref`; `&mut self` makes the access exclusive.
        unsafe { self.value.as_mut() }
    }
}

#[cfg(CONFIG_KUNIT = "y")]
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
#[cfg(CONFIG_KUNIT = "y")]
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
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) fn test_skip(reason: &CStr) {
    // SAFETY: `reason` is NUL-terminated; it is copied before this returns.
    unsafe { bindings::plugsched_test_skip(reason.as_char_ptr()) };
}

/// Sleeping kernel threads (one set at a time), stopped when dropped or at
/// the end of the test.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) struct TestThreads(());

#[cfg(CONFIG_KUNIT = "y")]
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

#[cfg(CONFIG_KUNIT = "y")]
impl Drop for TestThreads {
    fn drop(&mut self) {
        // SAFETY: Process context; `self` owns the set `start` started.
        unsafe { bindings::plugsched_test_threads_stop() };
    }
}

/// A kprobe on the function at `addr` (one at a time), removed when dropped
/// or at the end of the test.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) struct TestKprobe(());

#[cfg(CONFIG_KUNIT = "y")]
impl TestKprobe {
    /// Register the kprobe.
    pub(crate) fn arm(addr: usize) -> Result<TestOwned<Self>> {
        // SAFETY: Process context; the C side refuses a second kprobe
        // (EBUSY), so `self` owns the one registered.
        to_result(unsafe { bindings::plugsched_test_kprobe_arm(addr as c_ulong) })?;
        TestOwned::new(TestKprobe(()))
    }
}

#[cfg(CONFIG_KUNIT = "y")]
impl Drop for TestKprobe {
    fn drop(&mut self) {
        // SAFETY: Process context; `self` owns the kprobe `arm` registered.
        unsafe { bindings::plugsched_test_kprobe_disarm() };
    }
}

/// An ftrace user (a function-tracer-like `ftrace_ops`) on the function at
/// `addr` (one at a time), unregistered when dropped or at the end of the
/// test.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) struct TestFtrace(());

#[cfg(CONFIG_KUNIT = "y")]
impl TestFtrace {
    /// Register it.
    pub(crate) fn arm(addr: usize) -> Result<TestOwned<Self>> {
        // SAFETY: Process context; the C side refuses a second user (EBUSY).
        to_result(unsafe { bindings::plugsched_test_ftrace_arm(addr as c_ulong) })?;
        TestOwned::new(TestFtrace(()))
    }
}

#[cfg(CONFIG_KUNIT = "y")]
impl Drop for TestFtrace {
    fn drop(&mut self) {
        // SAFETY: Process context; `self` owns the user `arm` registered.
        unsafe { bindings::plugsched_test_ftrace_disarm() };
    }
}

/// Walk the stack of every task that is not running: `(checked, with a
/// return address in this module, not walkable reliably)`.
#[cfg(CONFIG_KUNIT = "y")]
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
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) unsafe fn test_call_syscall(f: usize, arg: usize) -> c_long {
    // SAFETY: The caller's contract: `f` is such a function.
    unsafe { bindings::plugsched_test_call_syscall(f as c_ulong, arg as c_ulong) }
}

/// The `/sys/kernel/plugsched/` directory; removed when dropped.
pub(crate) struct Sysfs(());

impl Sysfs {
    /// Create `/sys/kernel/plugsched/` and its attributes.
    ///
    /// One at a time (the C side keeps one kobject): `EBUSY` while
    /// another exists.  The module owns it for its whole lifetime.
    pub(crate) fn create() -> Result<Self> {
        // SAFETY: Process context; the C side refuses a second kobject, so
        // `self` owns the one it creates.
        to_result(unsafe { bindings::plugsched_sysfs_create() })?;
        Ok(Sysfs(()))
    }
}

impl Drop for Sysfs {
    fn drop(&mut self) {
        // SAFETY: `self` proves the kobject was created and not yet removed;
        // after this call no attribute callback can run any more.
        unsafe { bindings::plugsched_sysfs_destroy() };
    }
}

/// Read attribute `name` of `/sys/kernel/plugsched/` through its sysfs node
/// (for the KUnit suites)
/// and show() method; returns the length shown (at most `buf.len()` copied).
#[cfg(CONFIG_KUNIT = "y")]
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

/// Build IDs are at most this long (BUILD_ID_SIZE_MAX), zero-padded.
pub(crate) const BUILD_ID_BYTES: usize = 20;
/// A build ID in hex, with its NUL.
pub(crate) const BUILD_ID_HEX: usize = 2 * BUILD_ID_BYTES + 1;

/// Check that the running kernel is the build this module was built for
/// (or, for tests, the build ID `expected`).  Returns the running build ID
/// (NUL-terminated hex) either way, with `ENOEXEC` on a mismatch.
pub(crate) fn check_build_id(expected: Option<&CStr>) -> (Result, [u8; BUILD_ID_HEX]) {
    build_id_matches(expected, None)
}

/// Compare the build ID `id` (`None`: the running kernel's) with the hex
/// string `expected` (`None`: the one this module was built for); `id` in
/// hex either way.
pub(crate) fn build_id_matches(
    expected: Option<&CStr>,
    id: Option<&[u8; BUILD_ID_BYTES]>,
) -> (Result, [u8; BUILD_ID_HEX]) {
    let mut hex = [0u8; BUILD_ID_HEX];
    let p = expected.map_or(core::ptr::null(), |e| e.as_char_ptr());
    let id = id.map_or(core::ptr::null(), |b| b.as_ptr());
    // SAFETY: `p` is NULL or NUL-terminated; `id` is NULL or
    // BUILD_ID_SIZE_MAX readable bytes; `hex` has room for the hex build ID
    // and its NUL.
    let r = unsafe { bindings::plugsched_check_build_id(p, id, hex.as_mut_ptr()) };
    (to_result(r), hex)
}

/// The build ID this module was built for (empty if none was recorded).
pub(crate) fn built_for_build_id() -> &'static CStr {
    // SAFETY: Returns a string literal of the C shim, NUL-terminated and
    // static.
    unsafe { CStr::from_char_ptr(bindings::plugsched_built_for_build_id()) }
}

/// Address of the vmlinux symbol `name` (0 if none), by kallsyms.
pub(crate) fn ksym_lookup(name: &CStr) -> usize {
    // SAFETY: `name` is a valid NUL-terminated string; kallsyms_lookup_name
    // only reads it.
    unsafe { bindings::plugsched_ksym_lookup(name.as_char_ptr()) as usize }
}

/// Address of vmlinux's non-exported `text_mutex`, as bound by the loader.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) fn text_mutex_addr() -> usize {
    // SAFETY: Takes the address of a static object; no preconditions.
    unsafe { bindings::plugsched_ksym_text_mutex() as usize }
}

/// The name of the current state (`/sys/kernel/plugsched/state`).
#[no_mangle]
pub(crate) extern "C" fn plugsched_rs_state_name() -> *const c_char {
    state::current().name().as_char_ptr()
}

/// Whether the engine's self-test is applied (`selftest`).
#[no_mangle]
pub(crate) extern "C" fn plugsched_rs_selftest_active() -> bool {
    crate::selftest::is_active()
}

/// Called by the C `selftest` store() callback: `apply` or `revert`.
///
/// # Safety
///
/// `buf` must be valid for reads of `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn plugsched_rs_selftest_store(
    buf: *const c_char,
    len: usize,
) -> c_int {
    // SAFETY: The caller guarantees `buf` is valid for `len` bytes.
    let cmd = unsafe { core::slice::from_raw_parts(buf, len) };
    let cmd = cmd.strip_suffix(b"\n").unwrap_or(cmd);
    match crate::selftest::control(cmd) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Called by the C `enable` store() callback: `1` upgrades, `0` rolls back.
///
/// # Safety
///
/// `buf` must be valid for reads of `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn plugsched_rs_enable_store(buf: *const c_char, len: usize) -> c_int {
    // SAFETY: The caller guarantees `buf` is valid for `len` bytes.
    let cmd = unsafe { core::slice::from_raw_parts(buf, len) };
    let cmd = cmd.strip_suffix(b"\n").unwrap_or(cmd);
    let r = match cmd {
        b"1" => crate::live::request(true),
        b"0" => crate::live::request(false),
        _ => Err(EINVAL),
    };
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The value of statistic `name` (`enable` and the one-value statistics
/// files, see `engine::last_switch_stat` and `live::stat`): 0 and the
/// value in `*value`, or `-ENOENT`.
///
/// # Safety
///
/// `name` must be a NUL-terminated string; `value` must be valid for a
/// write.
#[no_mangle]
pub(crate) unsafe extern "C" fn plugsched_rs_stat(name: *const c_char, value: *mut i64) -> c_int {
    // SAFETY: The caller guarantees `name` is NUL-terminated.
    let name = unsafe { CStr::from_char_ptr(name) }.to_bytes();
    match crate::live::stat(name).or_else(|| crate::engine::last_switch_stat(name)) {
        Some(v) => {
            // SAFETY: The caller guarantees `value` is valid for a write.
            unsafe { value.write(v) };
            0
        }
        None => ENOENT.to_errno(),
    }
}

/// The hash of the text at every patch site (`text_hash`), in `*hash`;
/// `false` (nothing written) before there is a plan.
///
/// # Safety
///
/// `hash` must be valid for a write.
#[no_mangle]
pub(crate) unsafe extern "C" fn plugsched_rs_text_hash(hash: *mut u64) -> bool {
    let Some(h) = crate::live::text_hash() else {
        return false;
    };
    // SAFETY: The caller guarantees `hash` is valid for a write.
    unsafe { hash.write(h) };
    true
}

// The functions above that C calls are the ones `c_shims/shims.h` declares:
// each must have the type bindgen generated from its declaration, or this
// does not compile.
const _: () = {
    const fn same<T: Copy>(_declared: T, _defined: T) {}
    same::<unsafe extern "C" fn() -> _>(bindings::plugsched_rs_state_name, plugsched_rs_state_name);
    same::<unsafe extern "C" fn() -> _>(
        bindings::plugsched_rs_selftest_active,
        plugsched_rs_selftest_active,
    );
    same::<unsafe extern "C" fn(_, _) -> _>(
        bindings::plugsched_rs_selftest_store,
        plugsched_rs_selftest_store,
    );
    same::<unsafe extern "C" fn(_, _) -> _>(
        bindings::plugsched_rs_enable_store,
        plugsched_rs_enable_store,
    );
    same::<unsafe extern "C" fn(_, _) -> _>(bindings::plugsched_rs_stat, plugsched_rs_stat);
    same::<unsafe extern "C" fn(_) -> _>(bindings::plugsched_rs_text_hash, plugsched_rs_text_hash);
};
