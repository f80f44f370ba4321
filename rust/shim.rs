// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers around the C shims of `c_shims/`, and the Rust functions the
//! C side calls back.  The declarations mirror `c_shims/shims.h`.
//!
//! This is one of the few files of the crate that contain `unsafe` code.

use kernel::{
    error::to_result,
    prelude::*, //
    str::CStrExt,
};

use crate::state;

mod ffi {
    use kernel::prelude::*;

    extern "C" {
        pub(super) fn plugsched_sysfs_create() -> c_int;
        pub(super) fn plugsched_sysfs_destroy();
        #[cfg(CONFIG_KUNIT = "y")]
        pub(super) fn plugsched_sysfs_read(
            name: *const c_char,
            buf: *mut c_char,
            len: usize,
        ) -> isize;
        pub(super) fn plugsched_ksym_lookup(name: *const c_char) -> c_ulong;
        pub(super) fn plugsched_check_build_id(
            expected: *const c_char,
            id: *const u8,
            hex: *mut c_char,
        ) -> c_int;
        pub(super) fn plugsched_built_for_build_id() -> *const c_char;
        #[cfg(CONFIG_KUNIT = "y")]
        pub(super) fn plugsched_ksym_text_mutex() -> c_ulong;
    }

    #[cfg(CONFIG_KUNIT = "y")]
    extern "C" {
        pub(super) fn plugsched_test_park();
        pub(super) fn plugsched_test_threads_start(n: c_uint, in_target: c_uint) -> c_int;
        pub(super) fn plugsched_test_threads_stop();
        pub(super) fn plugsched_test_call_syscall(f: c_ulong, arg: c_ulong) -> c_long;
        pub(super) fn plugsched_test_kprobe_arm(addr: c_ulong) -> c_int;
        pub(super) fn plugsched_test_kprobe_disarm();
        pub(super) fn plugsched_test_ftrace_arm(addr: c_ulong) -> c_int;
        pub(super) fn plugsched_test_ftrace_disarm(addr: c_ulong);
        pub(super) fn plugsched_test_sleeper_stacks(
            hits: *mut c_ulong,
            unreliable: *mut c_ulong,
        ) -> c_ulong;
    }
}

/// Address of `plugsched_test_park`, in which test threads sleep.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) fn test_park_addr() -> usize {
    ffi::plugsched_test_park as usize
}

/// Start `n` sleeping kernel threads, `in_target` of them inside
/// `plugsched_test_park`; returns once all are asleep where they belong.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) fn test_threads_start(n: u32, in_target: u32) -> Result {
    // SAFETY: Process context; the threads are stopped by
    // `test_threads_stop`, also on the C side's error paths.
    to_result(unsafe { ffi::plugsched_test_threads_start(n, in_target) })
}

/// Release and reap the threads of [`test_threads_start`].
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) fn test_threads_stop() {
    // SAFETY: Process context; safe to call with no threads started.
    unsafe { ffi::plugsched_test_threads_stop() };
}

/// A kprobe on the function at `addr`, removed when dropped (one at a time).
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) struct TestKprobe(());

#[cfg(CONFIG_KUNIT = "y")]
impl TestKprobe {
    /// Register the kprobe.
    pub(crate) fn arm(addr: usize) -> Result<Self> {
        // SAFETY: Process context; only one TestKprobe exists at a time (the
        // KUnit cases of a suite run one after the other).
        to_result(unsafe { ffi::plugsched_test_kprobe_arm(addr as c_ulong) })?;
        Ok(TestKprobe(()))
    }
}

#[cfg(CONFIG_KUNIT = "y")]
impl Drop for TestKprobe {
    fn drop(&mut self) {
        // SAFETY: The kprobe was registered by `arm`.
        unsafe { ffi::plugsched_test_kprobe_disarm() };
    }
}

/// An ftrace user (a function-tracer-like `ftrace_ops`) on the function at
/// `addr`, unregistered when dropped (one at a time).
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) struct TestFtrace(usize);

#[cfg(CONFIG_KUNIT = "y")]
impl TestFtrace {
    /// Register it.
    pub(crate) fn arm(addr: usize) -> Result<Self> {
        // SAFETY: Process context; one TestFtrace at a time (KUnit cases
        // run one after the other).
        to_result(unsafe { ffi::plugsched_test_ftrace_arm(addr as c_ulong) })?;
        Ok(TestFtrace(addr))
    }
}

#[cfg(CONFIG_KUNIT = "y")]
impl Drop for TestFtrace {
    fn drop(&mut self) {
        // SAFETY: Registered by `arm`.
        unsafe { ffi::plugsched_test_ftrace_disarm(self.0 as c_ulong) };
    }
}

/// Walk the stack of every task that is not running: `(checked, with a
/// return address in this module, not walkable reliably)`.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) fn test_sleeper_stacks() -> (usize, usize, usize) {
    let (mut hits, mut unreliable) = (0, 0);
    // SAFETY: Process context; the pointers are valid for writes.
    let n = unsafe { ffi::plugsched_test_sleeper_stacks(&mut hits, &mut unreliable) };
    (n as usize, hits as usize, unreliable as usize)
}

/// Call the system call entry point at `f` through a function pointer, with
/// first argument `arg`.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) fn test_call_syscall(f: usize, arg: usize) -> c_long {
    // SAFETY: Callers pass the address of a vmlinux system call entry point
    // (or of its replacement), which takes a `struct pt_regs *`.
    unsafe { ffi::plugsched_test_call_syscall(f as c_ulong, arg as c_ulong) }
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
        to_result(unsafe { ffi::plugsched_sysfs_create() })?;
        Ok(Sysfs(()))
    }
}

impl Drop for Sysfs {
    fn drop(&mut self) {
        // SAFETY: `self` proves the kobject was created and not yet removed;
        // after this call no attribute callback can run any more.
        unsafe { ffi::plugsched_sysfs_destroy() };
    }
}

/// Read attribute `name` of `/sys/kernel/plugsched/` through its sysfs node
/// (for the KUnit suites)
/// and show() method; returns the length shown (at most `buf.len()` copied).
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) fn sysfs_read(name: &CStr, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: `name` is NUL-terminated and `buf` is valid for writes of
    // `buf.len()` bytes for the duration of the call.
    let ret = unsafe { ffi::plugsched_sysfs_read(name.as_char_ptr(), buf.as_mut_ptr(), buf.len()) };
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
    let r = unsafe { ffi::plugsched_check_build_id(p, id, hex.as_mut_ptr()) };
    (to_result(r), hex)
}

/// The build ID this module was built for (empty if none was recorded).
pub(crate) fn built_for_build_id() -> &'static CStr {
    // SAFETY: Returns a string literal of the C shim, NUL-terminated and
    // static.
    unsafe { CStr::from_ptr(ffi::plugsched_built_for_build_id().cast()) }
}

/// Address of the vmlinux symbol `name` (0 if none), by kallsyms.
pub(crate) fn ksym_lookup(name: &CStr) -> usize {
    // SAFETY: `name` is a valid NUL-terminated string; kallsyms_lookup_name
    // only reads it.
    unsafe { ffi::plugsched_ksym_lookup(name.as_char_ptr()) as usize }
}

/// Address of vmlinux's non-exported `text_mutex`, as bound by the loader.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) fn text_mutex_addr() -> usize {
    // SAFETY: Takes the address of a static object; no preconditions.
    unsafe { ffi::plugsched_ksym_text_mutex() as usize }
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
    let name = unsafe { CStr::from_ptr(name.cast()) }.to_bytes();
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
