// SPDX-License-Identifier: GPL-2.0

//! `plugsched try DIR|MODULE.ko`: before a real machine, boot the target
//! kernel in QEMU with a workload and upgrade to the module, show it,
//! roll back (the project's `make demo`, with this module).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{
    bail,
    Result, //
};

use super::build::tree_project;
use super::kernel_args::TargetArgs;
use super::project::Project;
use super::tree::DevTree;

/// Arguments of `try`.
#[derive(clap::Args, Debug)]
#[command(mut_arg("target", |a| a.help(
    "Target kernel of a module given as a file (a tree knows its own)"
)))]
#[command(mut_arg("project", |a| a.help(
    "The plugsched-rs checkout (default: the one that made the tree)"
)))]
pub struct Args {
    #[command(flatten)]
    pub kernel: TargetArgs,
    /// A development tree (its plugsched.ko, from `plugsched build`) or a module.
    #[arg(value_name = "DIR|MODULE.ko")]
    pub what: PathBuf,
}

/// Run `try`.
pub fn run(args: &Args) -> Result<ExitCode> {
    let what = std::path::absolute(&args.what)?;
    let (project, target, module) = if what.is_dir() {
        let tree = DevTree::open(&what)?;
        let ko = what.join("plugsched.ko");
        if !ko.is_file() {
            bail!(
                "{} has no plugsched.ko yet: plugsched build {}",
                what.display(),
                what.display()
            );
        }
        (
            tree_project(&tree, args.kernel.checkout.project.as_deref())?,
            tree.target,
            ko,
        )
    } else {
        (
            Project::find(args.kernel.checkout.project.as_deref())?,
            args.kernel.target.clone(),
            what,
        )
    };
    let summary = project.script(
        "demo.sh",
        std::iter::empty::<&str>(),
        &[
            ("TARGET", target.as_ref()),
            ("PLUGSCHED_MODULE", module.as_os_str()),
        ],
    )?;
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}
