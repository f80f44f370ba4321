// SPDX-License-Identifier: GPL-2.0

//! `plugsched dev [--target T] DIR`: a development tree of the extracted
//! scheduler, as a git repository whose first commit is the unmodified
//! extraction and whose next commits are the project's own changes
//! (`sched-changes/`).

use std::ffi::OsStr;
use std::fs;
use std::path::{
    Path,
    PathBuf, //
};
use std::process::ExitCode;

use anyhow::{
    bail,
    Context,
    Result, //
};
use serde::Deserialize;

use super::kernel_args::TargetArgs;
use super::project::{
    git,
    Project, //
};
use super::tree::{
    BASE_TAG,
    EDITABLE, //
};

/// Arguments of `dev`.
#[derive(clap::Args, Debug)]
#[command(mut_arg("target", |a| a.help(
    "Target kernel: `debian` (Debian's stock kernel) or `test` (our test kernel)"
)))]
#[command(mut_arg("project", |a| a.help(
    "The plugsched-rs checkout (default: the one this program was built in)"
)))]
pub struct Args {
    #[command(flatten)]
    pub kernel: TargetArgs,
    /// Start from the bare extraction, without the project's sched-changes/.
    #[arg(long)]
    pub no_changes: bool,
    /// The new tree (must not exist, or be empty).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Deserialize)]
struct Extraction {
    kdir: String,
    counts: Vec<(String, usize)>,
}

/// Run `dev`.
pub fn run(args: &Args) -> Result<ExitCode> {
    let project = Project::find(args.kernel.checkout.project.as_deref())?;
    if fs::read_dir(&args.dir).is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} exists and is not empty; give a new directory",
            args.dir.display()
        );
    }
    let stage = PathBuf::from(project.script("extract.sh", [&args.kernel.target], &[])?);
    copy_tree(&stage, &args.dir)?;
    let ex: Extraction = serde_json::from_str(
        &fs::read_to_string(stage.join("boundary.json"))
            .context("the extraction's boundary.json")?,
    )?;
    fs::write(
        args.dir.join("README.plugsched"),
        readme(&args.kernel.target, &ex),
    )?;
    let dir = &args.dir;
    git(dir, ["init", "-q"])?;
    for (k, v) in [
        ("plugsched.target", args.kernel.target.as_str()),
        ("plugsched.kdir", ex.kdir.as_str()),
        ("plugsched.project", &project.top.to_string_lossy()),
    ] {
        git(dir, ["config", k, v])?;
    }
    if git(dir, ["config", "user.email"]).is_err() {
        git(dir, ["config", "user.name", "plugsched user"])?;
        git(dir, ["config", "user.email", "plugsched@localhost"])?;
    }
    fs::write(dir.join(".git/info/exclude"), "/plugsched.ko\n")?;
    git(dir, ["add", "-A"])?;
    let msg = format!(
        "extracted scheduler of the {} kernel\n\nMade by `plugsched dev` from {} (unmodified).",
        args.kernel.target, ex.kdir
    );
    git(dir, ["commit", "-q", "-m", &msg])?;
    git(dir, ["tag", BASE_TAG])?;
    let changes = if args.no_changes {
        Vec::new()
    } else {
        apply_project_changes(&project, dir)?
    };
    println!(
        "{}: the extracted scheduler of the {} kernel",
        dir.display(),
        args.kernel.target
    );
    for (class, n) in &ex.counts {
        println!("    {n:4} {class} functions");
    }
    println!("    first commit (tag {BASE_TAG}): the unmodified extraction");
    for c in &changes {
        println!("    then: {c}");
    }
    println!("Edit {EDITABLE} (README.plugsched says what may change), commit, then:");
    println!("    plugsched build {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// Copy the files of `from` into `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for e in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &dest)?;
        } else {
            fs::copy(e.path(), &dest)
                .with_context(|| format!("cannot copy {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// Commit the project's `sched-changes/` on top of the extraction, one
/// commit each; returns their subjects.
fn apply_project_changes(project: &Project, dir: &Path) -> Result<Vec<String>> {
    let folder = project.top.join("sched-changes/linux-7.3");
    let mut patches: Vec<PathBuf> = match fs::read_dir(&folder) {
        Ok(d) => d
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "patch"))
            .collect(),
        Err(_) => Vec::new(),
    };
    patches.sort();
    for p in &patches {
        git(dir, [OsStr::new("am"), OsStr::new("-q"), p.as_os_str()])
            .with_context(|| format!("the project's change {} does not apply", p.display()))?;
    }
    let log = git(
        dir,
        [
            "log",
            "--reverse",
            "--format=%s",
            &format!("{BASE_TAG}..HEAD"),
        ],
    )?;
    Ok(log.lines().map(str::to_string).collect())
}

/// The tree's README: what may be edited and how it is built.
fn readme(target: &str, ex: &Extraction) -> String {
    format!(
        "\
The scheduler of the {target} kernel ({kdir}), as plugsched.ko carries it.

Edit the files of kernel/sched/ and commit (the first commit, tagged
{BASE_TAG}, is the unmodified extraction).  Then:

    plugsched build DIR          check the edits, build DIR/plugsched.ko
    plugsched try DIR            boot the target kernel in QEMU with it
    plugsched load DIR/plugsched.ko / plugsched status / plugsched unload
    plugsched export DIR         your commits as patches for sched-changes/

What takes effect: the body of every function that has one here
(\"internal\" functions; \"interface\" functions, which vmlinux calls, and
callbacks, renamed __cb_NAME, whose parameters and return type are
fixed); new functions, variables and types of the module's own; the
module's own data (variables without a \"shared with vmlinux\" mark).

What cannot, and is refused by plugsched build, naming it and why:
  - a body for a function marked \"plugsched: external\": it stays in
    vmlinux (called from outside the scheduler, or kept there by the
    boundary config); change the module's functions that call it;
  - the type or initial value of a variable marked \"shared with
    vmlinux\": the module uses vmlinux's; assign it at run time;
  - a structure of the headers or of the shared types (task_struct,
    sched_entity, rq, ...): vmlinux's code lays them out too;
  - init code (removed here: it ran at boot);
  - files outside kernel/sched/ (generated).
An inline function of a header may change, but vmlinux's code that
inlined it keeps the old body (plugsched build warns).
",
        kdir = ex.kdir
    )
}
