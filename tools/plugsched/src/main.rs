// SPDX-License-Identifier: GPL-2.0

//! `plugsched`: host tooling of plugsched-rs.
//!
//! Subcommands:
//!
//! * `check-log [--suite NAME]... [--label LABEL] LOG` checks the serial log
//!   of a QEMU run: KTAP results, planned suites, the scenario's exit code
//!   and kernel splats.  Prints a summary ending in
//!   `LABEL: N passed, N failed, N skipped` and exits 1 unless all is well.
//! * `klp-convert --system-map F --symvers F [--sympos F] MODULE.ko` binds
//!   the module's non-exported vmlinux references through klp relocations
//!   (see `klp.rs`), rewriting the file in place.
//! * `layout-check [--config FILE] VMLINUX OBJECT...` compares the layouts
//!   of the types the module's scheduler shares with vmlinux (see
//!   `layout/`).

use std::process::ExitCode;

use anyhow::{
    bail,
    Context,
    Result, //
};

mod boundary;
mod elf;
mod init;
mod klp;
mod ktap;
mod layout;
mod springboard;

const USAGE: &str = "\
usage: plugsched <command> [args]

commands:
  check-log [--suite NAME]... [--label LABEL] LOG
      check the serial console log of a QEMU run (KTAP, planned suites,
      scenario exit code, WARNING/BUG/Call Trace/lockdep splats)
  init [--config FILE] KDIR WORKDIR
      boundary analysis of the scheduler of the built kernel in KDIR; writes
      WORKDIR/boundary.json
  prefix-globals PREFIX IN.o OUT.o
      rename the global symbols IN.o defines (and their clone pieces)
  springboard-check VMLINUX MODULE.ko
      check that the module's __schedule can finish in vmlinux's (the split)
  layout-check [--config FILE] [--partial] [--list] VMLINUX OBJECT...
      check that the module's scheduler objects lay out every type they
      share with vmlinux as vmlinux does (DWARF of both)
  klp-convert --system-map FILE --symvers FILE [--sympos FILE] MODULE.ko
      turn references to non-exported vmlinux symbols into klp relocations
      resolved by the kernel's module loader (in place)
";

fn check_log(args: &[String]) -> Result<ExitCode> {
    let mut planned = Vec::new();
    let mut label = "kunit".to_string();
    let mut log = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--suite" => planned.push(it.next().context("--suite needs a name")?.clone()),
            "--label" => label = it.next().context("--label needs a value")?.clone(),
            s if s.starts_with('-') => bail!("unknown option {s}"),
            s if log.is_none() => log = Some(s.to_string()),
            s => bail!("unexpected argument {s}"),
        }
    }
    let log = log.context("missing LOG")?;
    let text = std::fs::read(&log).with_context(|| {
        format!("cannot read the console log {log} (scripts/qemu-run.sh writes it)")
    })?;
    let report = ktap::check(&String::from_utf8_lossy(&text), &planned);
    print!("{report}");
    println!(
        "{label}: {} passed, {} failed, {} skipped",
        report.passed, report.failed, report.skipped
    );
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        eprintln!("{label}: FAILED (log: {log})");
        ExitCode::FAILURE
    })
}

fn read_text(path: &str, what: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {path}"))
}

fn klp_convert(args: &[String]) -> Result<ExitCode> {
    let (mut map, mut symvers, mut sympos, mut ko) = (None, None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--system-map" => map = Some(val()?),
            "--symvers" => symvers = Some(val()?),
            "--sympos" => sympos = Some(val()?),
            s if s.starts_with('-') => bail!("unknown option {s}"),
            s if ko.is_none() => ko = Some(s.to_string()),
            s => bail!("unexpected argument {s}"),
        }
    }
    let ko = ko.context("missing MODULE.ko")?;
    let map_path = map.context("missing --system-map")?;
    let map = klp::SymbolMap::parse(&read_text(&map_path, "System.map")?).context(map_path)?;
    let symvers = symvers.context("missing --symvers")?;
    let exported = klp::parse_symvers(&read_text(&symvers, "Module.symvers")?);
    let hints = match sympos {
        Some(p) => klp::parse_sympos(&read_text(&p, "the sympos file")?).context(p)?,
        None => Default::default(),
    };
    let data = std::fs::read(&ko).with_context(|| format!("cannot read the module {ko}"))?;
    let (out, conv) = klp::convert(data, &map, &exported, &hints)
        .with_context(|| format!("cannot convert {ko}"))?;
    let tmp = format!("{ko}.klp-tmp");
    std::fs::write(&tmp, out).with_context(|| format!("cannot write {tmp}"))?;
    std::fs::rename(&tmp, &ko).with_context(|| format!("cannot replace {ko}"))?;
    for c in &conv {
        println!(
            "  KLP     {:<40} sympos {} ({}) {} reloc(s)",
            c.name, c.sympos, c.kind, c.relocs
        );
    }
    println!(
        "klp-convert: {ko}: {} symbol(s) bound through klp relocations",
        conv.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `prefix-globals PREFIX IN OUT`: rename every global symbol an object
/// defines (and its `.cold`/`.part`/... pieces) to PREFIX+name, so that
/// nothing linked with it can bind to those names.
fn prefix_globals(args: &[String]) -> Result<ExitCode> {
    let [prefix, input, output] = args else {
        bail!("usage: plugsched prefix-globals PREFIX IN.o OUT.o");
    };
    let data = std::fs::read(input).with_context(|| format!("cannot read {input}"))?;
    let (out, n) = elf::prefix_defined_globals(data, prefix)
        .with_context(|| format!("cannot rename the symbols of {input}"))?;
    std::fs::write(output, out).with_context(|| format!("cannot write {output}"))?;
    eprintln!("prefix-globals: {n} symbol(s) of {input} renamed with {prefix}");
    Ok(ExitCode::SUCCESS)
}

/// `springboard-check VMLINUX MODULE.ko`: the module's `__schedule` agrees
/// with vmlinux's at the context switch (see `springboard.rs`).
fn springboard_check(args: &[String]) -> Result<ExitCode> {
    let [vmlinux, ko] = args else {
        bail!("usage: plugsched springboard-check VMLINUX MODULE.ko");
    };
    let vm = std::fs::read(vmlinux).with_context(|| format!("cannot read {vmlinux}"))?;
    let facts = springboard::from_vmlinux(&vm)
        .with_context(|| format!("cannot derive the split from {vmlinux}'s __schedule"))?;
    let m = std::fs::read(ko).with_context(|| format!("cannot read {ko}"))?;
    springboard::check_module_file(&m, &facts).with_context(|| {
        format!(
            "{ko}: its __schedule cannot finish in vmlinux's; rebuild the module against \
             this vmlinux, and keep sched-changes/ from altering __schedule's frame \
             (Documentation/live-update.rst)"
        )
    })?;
    println!(
        "springboard: the module's __schedule enters vmlinux's at +{:#x} with rsp = rbp-{:#x} (pushes {:?}, canary rbp{:+})",
        facts.offset, facts.rsp_below_rbp, facts.prologue.pushes, facts.prologue.canary
    );
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("check-log") => check_log(&args[1..]),
        Some("klp-convert") => klp_convert(&args[1..]),
        Some("init") => init::run(&args[1..]),
        Some("prefix-globals") => prefix_globals(&args[1..]),
        Some("springboard-check") => springboard_check(&args[1..]),
        Some("layout-check") => layout::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(anyhow::anyhow!("missing or unknown command\n{USAGE}")),
    };
    result.unwrap_or_else(|e| {
        eprintln!("plugsched: {e:#}");
        ExitCode::from(2)
    })
}
