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

// The hooks only the KUnit suites use.
#[cfg(CONFIG_KUNIT = "y")]
mod kunit;
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) use kunit::*;

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
