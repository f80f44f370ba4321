// SPDX-License-Identifier: GPL-2.0

//! `plugsched build DIR`: check a development tree's edits against its
//! extraction (`edits.rs`), build `plugsched.ko` from the tree as it is,
//! and say what the module replaces and carries.

use std::path::{
    Path,
    PathBuf, //
};
use std::process::ExitCode;

use anyhow::{
    Context,
    Result, //
};
use serde::Deserialize;

use super::edits::{
    check_file,
    Facts,
    Report, //
};
use super::kernel_args::ProjectArg;
use super::project::Project;
use super::tree::{
    DevTree,
    EDITABLE, //
};

/// Arguments of `build`.
#[derive(clap::Args, Debug)]
#[command(mut_arg("project", |a| a.help(
    "The plugsched-rs checkout (default: the one that made DIR)"
)))]
pub struct Args {
    /// Where to write the module (default: DIR/plugsched.ko).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub checkout: ProjectArg,
    /// Only check the edits; build nothing.
    #[arg(long)]
    pub check_only: bool,
    /// The development tree (made by `plugsched dev`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// The project of a tree: the one given, else the one that made it.
pub fn tree_project(tree: &DevTree, given: Option<&Path>) -> Result<Project> {
    let recorded = super::project::git(&tree.dir, ["config", "plugsched.project"])
        .ok()
        .map(PathBuf::from);
    Project::find(given.or(recorded.as_deref()))
}

/// Run `build`.
pub fn run(args: &Args) -> Result<ExitCode> {
    let dir = std::path::absolute(&args.dir)
        .with_context(|| format!("bad path {}", args.dir.display()))?;
    let tree = DevTree::open(&dir)?;
    let project = tree_project(&tree, args.checkout.project.as_deref())?;
    let kdir = project.script("kernel.sh", ["--kdir", tree.target.as_str()], &[])?;
    tree.check_kdir(&kdir)?;
    let report = check_tree(&tree)?;
    print_findings(&dir, &report);
    if report.has_errors() {
        let n = report.findings.iter().filter(|f| f.error).count();
        eprintln!("plugsched build: {n} edit(s) cannot take effect (above); nothing built");
        return Ok(ExitCode::from(1));
    }
    if args.check_only {
        print_changes(&report);
        return Ok(ExitCode::SUCCESS);
    }
    let ko = project.script(
        "build-module.sh",
        [tree.target.as_str()],
        &[("PLUGSCHED_SCHED_TREE", dir.as_os_str())],
    )?;
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| dir.join("plugsched.ko"));
    let ko = ko.lines().last().unwrap_or_default();
    std::fs::copy(ko, &out).with_context(|| format!("cannot copy {ko} to {}", out.display()))?;
    print_replaced(&dir)?;
    print_changes(&report);
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// Check every file that differs from the extraction.
pub fn check_tree(tree: &DevTree) -> Result<Report> {
    let mut report = Report::default();
    let mut sources = Vec::new();
    for (status, file) in tree.changed_files()? {
        if !file.starts_with(EDITABLE) {
            report.generated(&file);
        } else if status == 'D' {
            report.removed_file(&file);
        } else if status == 'A' {
            report.new_file(&file);
        } else {
            sources.push(file);
        }
    }
    if report.has_errors() {
        return Ok(report);
    }
    let facts = Facts::load(&tree.dir, tree.arch()?)?;
    for file in sources {
        let old = tree.extracted(&file)?.unwrap_or_default();
        let new = std::fs::read_to_string(tree.dir.join(&file))
            .with_context(|| format!("cannot read {file}"))?;
        check_file(&file, &old, &new, &facts, &mut report)?;
    }
    Ok(report)
}

fn print_findings(dir: &Path, report: &Report) {
    for f in &report.findings {
        let level = if f.error { "error" } else { "warning" };
        eprintln!(
            "plugsched build: {level}: {}/{}: {}: {}",
            dir.display(),
            f.file,
            f.what,
            f.why
        );
    }
}

fn print_changes(report: &Report) {
    if report.changed.is_empty() {
        println!("changes: none (the module carries the unmodified extraction)");
        return;
    }
    println!("changes against the extraction ({}):", report.changed.len());
    for (file, what, how) in &report.changed {
        println!("    {file}: {what} ({how})");
    }
}

#[derive(Deserialize)]
struct Counts {
    counts: Vec<(String, usize)>,
}

/// What the module replaces, from the extraction's boundary.json.
fn print_replaced(dir: &Path) -> Result<()> {
    let c: Counts = serde_json::from_str(&std::fs::read_to_string(dir.join("boundary.json"))?)?;
    let n = |class: &str| {
        c.counts
            .iter()
            .find(|(k, _)| k == class)
            .map_or(0, |(_, n)| *n)
    };
    println!(
        "plugsched.ko replaces the scheduler: {} vmlinux functions redirected ({} interfaces, \
         {} callbacks), {} internal functions of its own, {} functions left in vmlinux",
        n("interface") + n("callback"),
        n("interface"),
        n("callback"),
        n("internal"),
        n("external")
    );
    Ok(())
}
