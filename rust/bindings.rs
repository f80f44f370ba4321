// SPDX-License-Identifier: GPL-2.0

//! Rust declarations of the module's C interface (`c_shims/shims.h` and
//! `c_shims/manifest.h`): the `plugsched_*` functions and types, generated
//! at build time by bindgen with the kernel's options and C flags (Kbuild,
//! `c_shims/bindgen_parameters`).  Kernel types they name are opaque.
//!
//! Only `rust/kapi.rs` and `rust/shim.rs` (with `rust/shim/kunit.rs`, the
//! hooks of the KUnit suites) use them, through safe wrappers.
//! The functions the header declares for C to call are defined in Rust
//! (`rust/shim.rs`), which checks that their types are the declared ones.

#![allow(
    clippy::all,
    clippy::as_underscore,
    clippy::cast_lossless,
    clippy::ptr_as_ptr,
    clippy::ref_as_ptr,
    clippy::undocumented_unsafe_blocks,
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    unreachable_pub
)]

use kernel::ffi;

// As in the kernel's bindings: bindgen leaves these out
// (`c_shims/bindgen_parameters`).
type __kernel_size_t = usize;
type __kernel_ssize_t = isize;

include!(env!("PLUGSCHED_SHIMS_GENERATED"));
