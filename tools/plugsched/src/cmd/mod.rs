// SPDX-License-Identifier: GPL-2.0

//! The small subcommands: their arguments and what they run.  (`init` and
//! `layout-check` live with their analyses, in `init.rs` and `layout/`.)

pub mod bench_report;
pub mod check_log;
pub mod klp_convert;
pub mod module_safepoints;
pub mod prefix_globals;
pub mod springboard_check;
