// SPDX-License-Identifier: GPL-2.0

//! The pure logic of `rust/plugsched_core/`, compiled into the module.  The
//! same files form the host crate `plugsched-core`, where `cargo test`
//! checks them.

#[cfg(CONFIG_ARM64)]
#[path = "plugsched_core/arm64.rs"]
pub mod arm64;
#[path = "plugsched_core/hash.rs"]
pub mod hash;
#[path = "plugsched_core/partition.rs"]
pub mod partition;
#[path = "plugsched_core/ranges.rs"]
pub mod ranges;
#[path = "plugsched_core/rendezvous.rs"]
pub mod rendezvous;
#[path = "plugsched_core/taskmap.rs"]
pub mod taskmap;
#[path = "plugsched_core/windows.rs"]
pub mod windows;
#[cfg(CONFIG_X86_64)]
#[path = "plugsched_core/x86.rs"]
pub mod x86;
