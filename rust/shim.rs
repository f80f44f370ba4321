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
        // SAFETY: Process context; one set at a time (KUnit cases run one
        // after the other, and the previous set was stopped at the end of
        // its test at the latest).  On failure the C side leaves no thread.
        to_result(unsafe { bindings::plugsched_test_threads_start(n, in_target) })?;
        TestOwned::new(TestThreads(()))
    }
}

#[cfg(CONFIG_KUNIT = "y")]
impl Drop for TestThreads {
    fn drop(&mut self) {
        // SAFETY: Process context; the threads were started by `start`.
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
        // SAFETY: Process context; only one TestKprobe exists at a time (the
        // KUnit cases of a suite run one after the other, and each one's
        // kprobe is gone at its end).
        to_result(unsafe { bindings::plugsched_test_kprobe_arm(addr as c_ulong) })?;
        TestOwned::new(TestKprobe(()))
    }
}

#[cfg(CONFIG_KUNIT = "y")]
impl Drop for TestKprobe {
    fn drop(&mut self) {
        // SAFETY: The kprobe was registered by `arm`.
        unsafe { bindings::plugsched_test_kprobe_disarm() };
    }
}

/// An ftrace user (a function-tracer-like `ftrace_ops`) on the function at
/// `addr` (one at a time), unregistered when dropped or at the end of the
/// test.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) struct TestFtrace(usize);

#[cfg(CONFIG_KUNIT = "y")]
impl TestFtrace {
    /// Register it.
    pub(crate) fn arm(addr: usize) -> Result<TestOwned<Self>> {
        // SAFETY: Process context; one TestFtrace at a time (KUnit cases
        // run one after the other, and each one's user is gone at its end).
        to_result(unsafe { bindings::plugsched_test_ftrace_arm(addr as c_ulong) })?;
        TestOwned::new(TestFtrace(addr))
    }
}

#[cfg(CONFIG_KUNIT = "y")]
impl Drop for TestFtrace {
    fn drop(&mut self) {
        // SAFETY: Registered by `arm`.
        unsafe { bindings::plugsched_test_ftrace_disarm(self.0 as c_ulong) };
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
/// first argument `arg`.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) fn test_call_syscall(f: usize, arg: usize) -> c_long {
    // SAFETY: Callers pass the address of a vmlinux system call entry point
    // (or of its replacement), which takes a `struct pt_regs *`.
    unsafe { bindings::plugsched_test_call_syscall(f as c_ulong, arg as c_ulong) }
}

/// The `/sys/kernel/plugsched/` directory; removed when dropped.
pub(crate) struct Sysfs(());

impl Sysfs {
    /// Create `/sys/kernel/plugsched/` and its attributes.
    ///
    /// Only one instance may exist at a time (the C side keeps one kobject);
    /// the module owns it for its whole lifetime.
    pub(crate) fn create() -> Result<Self> {
        // SAFETY: Called from module init only, so no other `Sysfs` exists and
        // the C side's static kobject pointer is not in use.
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

/// Called by the C `state` show() callback of `/sys/kernel/plugsched/state`.
///
/// # Safety
///
/// `buf` must be valid for writes of `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn plugsched_rs_state_show(buf: *mut c_char, len: usize) -> isize {
    // SAFETY: The caller guarantees `buf` is valid for `len` bytes of writes,
    // and sysfs does not touch the page while show() runs.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    state::format(state::current(), out) as isize
}

fn show(text: &[u8], buf: *mut c_char, len: usize) -> isize {
    // SAFETY: The callers pass sysfs's page: `buf` is valid for `len` bytes
    // of writes while show() runs.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let n = text.len().min(len);
    out[..n].copy_from_slice(&text[..n]);
    n as isize
}

/// Called by the C `selftest` show() callback.
///
/// # Safety
///
/// `buf` must be valid for writes of `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn plugsched_rs_selftest_show(buf: *mut c_char, len: usize) -> isize {
    let text: &[u8] = if crate::selftest::is_active() {
        b"applied\n"
    } else {
        b"idle\n"
    };
    show(text, buf, len)
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

/// Called by the C show() callbacks of the one-value statistics files:
/// writes the value of statistic `name` (see `engine::last_switch_stat`).
///
/// # Safety
///
/// `name` must be a NUL-terminated string; `buf` must be valid for writes
/// of `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn plugsched_rs_stat_show(
    name: *const c_char,
    buf: *mut c_char,
    len: usize,
) -> isize {
    // SAFETY: The caller guarantees `name` is NUL-terminated.
    let name = unsafe { CStr::from_char_ptr(name) }.to_bytes();
    let mut text = [0u8; 24];
    let mut w = Cursor {
        buf: &mut text,
        len: 0,
    };
    let written = if name == b"text_hash" {
        match crate::live::text_hash() {
            Some(h) => core::fmt::Write::write_fmt(&mut w, format_args!("{h:016x}\n")),
            None => core::fmt::Write::write_str(&mut w, "none\n"),
        }
    } else {
        let v = crate::live::stat(name).or_else(|| crate::engine::last_switch_stat(name));
        let Some(v) = v else {
            return ENOENT.to_errno() as isize;
        };
        core::fmt::Write::write_fmt(&mut w, format_args!("{v}\n"))
    };
    let _ = written;
    let n = w.len;
    show(&text[..n], buf, len)
}

// The functions above that C calls are the ones `c_shims/shims.h` declares:
// each must have the type bindgen generated from its declaration, or this
// does not compile.
const _: () = {
    const fn same<T: Copy>(_declared: T, _defined: T) {}
    same::<unsafe extern "C" fn(_, _) -> _>(
        bindings::plugsched_rs_state_show,
        plugsched_rs_state_show,
    );
    same::<unsafe extern "C" fn(_, _) -> _>(
        bindings::plugsched_rs_selftest_show,
        plugsched_rs_selftest_show,
    );
    same::<unsafe extern "C" fn(_, _) -> _>(
        bindings::plugsched_rs_selftest_store,
        plugsched_rs_selftest_store,
    );
    same::<unsafe extern "C" fn(_, _) -> _>(
        bindings::plugsched_rs_enable_store,
        plugsched_rs_enable_store,
    );
    same::<unsafe extern "C" fn(_, _, _) -> _>(
        bindings::plugsched_rs_stat_show,
        plugsched_rs_stat_show,
    );
};

/// A `core::fmt::Write` into a fixed buffer (truncating).
struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl core::fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
