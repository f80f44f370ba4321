// SPDX-License-Identifier: GPL-2.0

//! Pure, `no_std` logic of plugsched-rs: everything the live-update engine
//! decides without touching the kernel.  The kernel module compiles these
//! files as its `pcore` module (`rust/pcore.rs`); this crate root builds
//! them for the host so that `cargo test` can check them, including property
//! tests against naive implementations.

#![no_std]

#[cfg(test)]
extern crate std;

pub mod arm64;
pub mod hash;
pub mod partition;
pub mod ranges;
pub mod rendezvous;
pub mod taskmap;
pub mod windows;
pub mod x86;

#[cfg(test)]
mod tests_util;
