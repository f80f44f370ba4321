// SPDX-License-Identifier: GPL-2.0

//! `plugsched layout-check [--config FILE] [--partial] [--list] VMLINUX
//! OBJECT...`: the module's scheduler objects must lay out every type they
//! share with vmlinux as vmlinux does (Documentation/boundary.rst, "Shared
//! layouts").  A change in `sched-changes/` that adds a field to `struct
//! rq`, say, would otherwise build a module whose code reads vmlinux's
//! runqueues at the wrong offsets.

use std::collections::BTreeSet;
use std::path::{
    Path,
    PathBuf, //
};
use std::process::ExitCode;
use std::time::Instant;

use crate::boundary::config;
use anyhow::{
    Context,
    Result, //
};

pub mod check;
pub mod compare;
pub mod dwarf;
pub mod types;

use check::{
    Coverage,
    Finding,
    Reason,
    Side, //
};

/// Differences shown per type; the rest are counted.
const MAX_LINES: usize = 12;

/// Arguments of `layout-check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Boundary config: its `shared_types` and in-boundary headers.
    #[arg(long, value_name = "FILE", default_value = "boundary/linux-7.3.toml")]
    config: PathBuf,
    /// The OBJECTs are only some of the module's scheduler objects: a listed
    /// type they do not define is not an error.
    #[arg(long)]
    partial: bool,
    /// Print every checked type and why it is checked.
    #[arg(long)]
    list: bool,
    /// vmlinux with DWARF (`vmlinux.unstripped`).
    #[arg(value_name = "VMLINUX")]
    vmlinux: PathBuf,
    /// The module's compiled scheduler objects (`plugsched-sched-parts`
    /// of the extracted scheduler's `Kbuild.sched`).
    #[arg(value_name = "OBJECT", required = true)]
    objects: Vec<PathBuf>,
}

/// Run `layout-check`: exit 1 if a shared type is laid out differently.
pub fn run(args: &Args) -> Result<ExitCode> {
    let t0 = Instant::now();
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("cannot read the boundary config {}", args.config.display()))?;
    // (Only the types of the config are read: the same on every
    // instruction set.)
    let boundary = config::parse(&text, crate::arch::Arch::X86_64)
        .with_context(|| format!("boundary config {}", args.config.display()))?;
    let listed: BTreeSet<String> = boundary
        .shared_types
        .iter()
        .map(|t| check::type_key(t))
        .collect();
    let headers: Vec<String> = boundary
        .files
        .iter()
        .filter(|f| f.ends_with(".h"))
        .cloned()
        .collect();

    let module = module_side(&args.objects)?;
    let sel = check::select(&module, &listed, &headers);
    let vmlinux = vmlinux_side(&args.vmlinux, &|n| sel.contains_key(n))?;
    if args.list {
        for (name, reason) in &sel {
            println!("{name}: {}", why(reason));
        }
    }
    let coverage = if args.partial {
        Coverage::Partial
    } else {
        Coverage::Whole
    };
    let findings = check::check(&module, &vmlinux, &sel, coverage);
    if !findings.is_empty() {
        print!("{}", report(&findings));
        return Ok(ExitCode::FAILURE);
    }
    let count = |f: fn(&Reason) -> bool| sel.values().filter(|r| f(r)).count();
    println!(
        "layout-check: {} types shared with vmlinux agree ({} listed, {} from in-boundary headers, {} held by value in those) in {:.1}s",
        sel.len(),
        count(|r| *r == Reason::Listed),
        count(|r| *r == Reason::Header),
        count(|r| matches!(r, Reason::Embedded(_))),
        t0.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Every definition in the module's objects.
fn module_side(objects: &[PathBuf]) -> Result<Side> {
    let mut defs = Vec::new();
    for o in objects {
        let data = dwarf::read(o)?;
        let d = dwarf::definitions(&data, &|_| true, &|_| true)
            .with_context(|| format!("DWARF of {}", o.display()))?;
        anyhow::ensure!(
            !d.is_empty(),
            "{}: no DWARF type definitions (built without -g?)",
            o.display()
        );
        defs.extend(d);
    }
    Ok(Side::new(defs))
}

/// The `wanted` definitions of vmlinux's scheduler: its compilation units
/// of `kernel/sched/`, the ones the module's objects are built from.
fn vmlinux_side(path: &Path, wanted: &dyn Fn(&str) -> bool) -> Result<Side> {
    let data = dwarf::read(path)?;
    let defs = dwarf::definitions(&data, &is_sched_unit, wanted)
        .with_context(|| format!("DWARF of {}", path.display()))?;
    anyhow::ensure!(
        !defs.is_empty(),
        "{}: no compilation unit of kernel/sched/ with DWARF",
        path.display()
    );
    Ok(Side::new(defs))
}

/// A compilation unit of `kernel/sched/*.c`.
pub fn is_sched_unit(cu: &str) -> bool {
    let mut parts = cu.rsplit('/');
    let file = parts.next().unwrap_or("");
    file.ends_with(".c") && parts.next() == Some("sched") && parts.next() == Some("kernel")
}

/// The failure message: every differing type, then what to do.
fn report(findings: &[Finding]) -> String {
    let mut s = String::new();
    for f in findings {
        let why = why(&f.reason);
        let at = if f.file.is_empty() {
            String::new()
        } else {
            format!("{}, ", short_path(&f.file))
        };
        s.push_str(&format!(
            "layout-check: sched-changes alter {}, shared with vmlinux ({at}{why}):\n",
            f.name
        ));
        for l in f.lines.iter().take(MAX_LINES) {
            s.push_str(&format!("    {l}\n"));
        }
        if f.lines.len() > MAX_LINES {
            s.push_str(&format!("    ... and {} more\n", f.lines.len() - MAX_LINES));
        }
    }
    s.push_str(&format!(
        "layout-check: {} shared type(s) differ; the module must keep vmlinux's layout: put new state \
         in a module-private variable instead (Documentation/boundary.rst, \"Shared layouts\")\n",
        findings.len()
    ));
    s
}

fn why(r: &Reason) -> String {
    match r {
        Reason::Listed => "listed in shared_types".to_string(),
        Reason::Header => "defined in an in-boundary header".to_string(),
        Reason::Embedded(p) => format!("held by value in {p}"),
    }
}

/// A DWARF path from its `kernel/`, `include/` or `arch/` component on.
fn short_path(p: &str) -> &str {
    let parts: Vec<usize> = std::iter::once(0)
        .chain(p.match_indices('/').map(|(i, _)| i + 1))
        .collect();
    parts
        .iter()
        .find(|&&i| {
            ["kernel/", "include/", "arch/"]
                .iter()
                .any(|t| p[i..].starts_with(t))
        })
        .map_or(p, |&i| &p[i..])
}

#[cfg(test)]
mod tests;
