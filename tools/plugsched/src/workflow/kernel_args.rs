// SPDX-License-Identifier: GPL-2.0

//! The options the workflow's commands share, flattened into each
//! command's arguments (`#[command(flatten)]`): the plugsched-rs checkout
//! (`--project`) and the target kernel (`--target`).  What their default
//! is differs by command, so each command words their help
//! (`#[command(mut_arg("project", |a| a.help("...")))]`).

use std::path::PathBuf;

/// `--project DIR`: the plugsched-rs checkout.
#[derive(clap::Args, Debug)]
pub struct ProjectArg {
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

/// `--target T` and `--project DIR`: the target kernel (`debian` unless
/// given) and the plugsched-rs checkout.
#[derive(clap::Args, Debug)]
pub struct TargetArgs {
    #[arg(long, default_value = "debian")]
    pub target: String,
    #[command(flatten)]
    pub checkout: ProjectArg,
}
