// SPDX-License-Identifier: GPL-2.0

//! Boundary analysis of the scheduler (the paper's "Scheduler
//! Modularization"): which functions of `kernel/sched` the module replaces,
//! which it redirects, which stay in vmlinux.

pub mod algo;
pub mod bindings;
pub mod config;
pub mod extract;
pub mod statics;
pub mod vmlinux;
