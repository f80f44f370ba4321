// SPDX-License-Identifier: GPL-2.0

//! `plugsched export DIR`: the commits of a development tree since its
//! extraction, as patches for `sched-changes/linux-7.3/` (what
//! `scripts/build-module.sh` applies to the extraction, in order).

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{
    bail,
    Context,
    Result, //
};

use super::build::{
    check_tree,
    tree_project, //
};
use super::kernel_args::ProjectArg;
use super::project::git;
use super::tree::{
    DevTree,
    BASE_TAG, //
};

/// Arguments of `export`.
#[derive(clap::Args, Debug)]
#[command(mut_arg("project", |a| a.help(
    "The plugsched-rs checkout (default: the one that made the tree)"
)))]
pub struct Args {
    /// Where to write the patches (default: the project's
    /// sched-changes/linux-7.3/, whose patches they replace).
    #[arg(long, short, value_name = "DIR")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub checkout: ProjectArg,
    /// The development tree (made by `plugsched dev`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Run `export`.
pub fn run(args: &Args) -> Result<ExitCode> {
    let tree = DevTree::open(&args.dir)?;
    let dirty = git(&tree.dir, ["status", "--porcelain", "--untracked-files=no"])?;
    if !dirty.is_empty() {
        bail!(
            "{} has uncommitted changes; commit them (git commit -a) or stash them first",
            args.dir.display()
        );
    }
    // What is exported must be something the build accepts.
    let report = check_tree(&tree)?;
    if report.has_errors() {
        bail!(
            "the tree has edits that cannot take effect; `plugsched build --check-only {}` names them",
            args.dir.display()
        );
    }
    let out = match &args.output {
        Some(o) => o.clone(),
        None => tree_project(&tree, args.checkout.project.as_deref())?
            .top
            .join("sched-changes/linux-7.3"),
    };
    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let old: Vec<PathBuf> = fs::read_dir(&out)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    for p in &old {
        fs::remove_file(p).with_context(|| format!("cannot remove {}", p.display()))?;
    }
    let written = git(
        &tree.dir,
        [
            "format-patch".as_ref(),
            "--quiet".as_ref(),
            "--no-signature".as_ref(),
            "--zero-commit".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
            format!("{BASE_TAG}..HEAD").as_ref(),
        ],
    )?;
    let n = written.lines().count();
    for line in written.lines() {
        println!("{line}");
    }
    println!(
        "{n} patch(es) in {} (replacing {} there); the next `make module` builds them",
        out.display(),
        old.len()
    );
    Ok(ExitCode::SUCCESS)
}
