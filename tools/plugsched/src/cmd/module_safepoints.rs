// SPDX-License-Identifier: GPL-2.0

//! `plugsched module-safepoints --manifest manifest.json MODULE.ko OUT.c`:
//! the safe points of the module's copies of the replaced functions (what
//! a rollback may let stay on a stack), as the C table compiled into the
//! module (see `safepoints.rs`, Documentation/live-update.rst, "Safe
//! points").  With `--check`, OUT.c must already hold exactly that table
//! (the build's second pass: the table compiled in is the module's own).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{
    Context,
    Result, //
};

use crate::safepoints;

/// Arguments of `module-safepoints`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The manifest of the extracted scheduler (`plugsched init`'s
    /// manifest.json): vmlinux name, sympos and module copy of each
    /// replaced function.
    #[arg(long, value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// Fail (exit 1) if OUT.c differs from the table found, instead of
    /// writing it.
    #[arg(long)]
    pub check: bool,
    /// The module as linked, before klp-convert.
    #[arg(value_name = "MODULE.ko")]
    pub module: PathBuf,
    /// The C file to write (only if it changes) or to check.
    #[arg(value_name = "OUT.c")]
    pub out: PathBuf,
}

/// Exit status when OUT.c was rewritten: the module must be built again
/// (2 is an error, as for every subcommand).
const REWRITTEN: u8 = 3;

/// Run `module-safepoints`; exit 3 if OUT.c was rewritten (the module must
/// be built again), 1 if `--check` found it different.
pub fn run(args: &Args) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.manifest)
        .with_context(|| format!("cannot read {}", args.manifest.display()))?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a manifest", args.manifest.display()))?;
    let mut copies = Vec::new();
    for r in &rows {
        let field = |k: &str| {
            r.get(k)
                .with_context(|| format!("{}: an entry without {k}", args.manifest.display()))
        };
        copies.push(safepoints::ModuleCopy {
            vmlinux: field("vmlinux")?.as_str().unwrap_or_default().to_string(),
            sympos: field("sympos")?.as_u64().unwrap_or_default(),
            module: field("module")?.as_str().unwrap_or_default().to_string(),
        });
    }
    let image = crate::file::map(&args.module)?;
    let obj = object::File::parse(&*image)
        .with_context(|| format!("{}: not an ELF file", args.module.display()))?;
    let arch = crate::arch::Arch::of(&obj)?;
    let table = if arch == crate::arch::Arch::X86_64 {
        safepoints::module_safe_points(&obj, &copies)
            .with_context(|| format!("cannot analyse {}", args.module.display()))?
    } else {
        // arm64: no safe points yet, the rollback's checks stay strict.
        safepoints::ModuleTable::default()
    };
    let c = safepoints::module_table_c(&table);
    let old = std::fs::read_to_string(&args.out).unwrap_or_default();
    let summary = format!(
        "module safe points: {} instructions ({} of {} return addresses), in {} functions ({} not analysed)",
        table.instructions(),
        table.returns,
        table.calls,
        table.funcs,
        table.skipped.len()
    );
    if !table.skipped.is_empty() {
        // (No symbol of that name, or several: those copies have no safe
        // points, their frames stay busy.)
        println!("not analysed: {}", table.skipped.join(", "));
    }
    if old == c {
        println!("{summary}; {} is up to date", args.out.display());
        return Ok(ExitCode::SUCCESS);
    }
    if args.check {
        eprintln!(
            "{summary}; but {} holds another table: the module's code moved between builds",
            args.out.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    std::fs::write(&args.out, c).with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("{summary}; written to {}", args.out.display());
    Ok(ExitCode::from(REWRITTEN))
}
