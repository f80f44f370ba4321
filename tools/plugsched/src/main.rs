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

fn check_log(args: &[String]) -> Result<ExitCode, String> {
    let mut planned = Vec::new();
    let mut label = "kunit".to_string();
    let mut log = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--suite" => planned.push(it.next().ok_or("--suite needs a name")?.clone()),
            "--label" => label = it.next().ok_or("--label needs a value")?.clone(),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if log.is_none() => log = Some(s.to_string()),
            s => return Err(format!("unexpected argument {s}")),
        }
    }
    let log = log.ok_or("missing LOG")?;
    let text = std::fs::read(&log).map_err(|e| format!("{log}: {e}"))?;
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

fn read_text(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

fn klp_convert(args: &[String]) -> Result<ExitCode, String> {
    let (mut map, mut symvers, mut sympos, mut ko) = (None, None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--system-map" => map = Some(val()?),
            "--symvers" => symvers = Some(val()?),
            "--sympos" => sympos = Some(val()?),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if ko.is_none() => ko = Some(s.to_string()),
            s => return Err(format!("unexpected argument {s}")),
        }
    }
    let ko = ko.ok_or("missing MODULE.ko")?;
    let map = klp::SymbolMap::parse(&read_text(&map.ok_or("missing --system-map")?)?)?;
    let exported = klp::parse_symvers(&read_text(&symvers.ok_or("missing --symvers")?)?);
    let hints = match sympos {
        Some(p) => klp::parse_sympos(&read_text(&p)?)?,
        None => Default::default(),
    };
    let data = std::fs::read(&ko).map_err(|e| format!("{ko}: {e}"))?;
    let (out, conv) =
        klp::convert(data, &map, &exported, &hints).map_err(|e| format!("{ko}: {e}"))?;
    let tmp = format!("{ko}.klp-tmp");
    std::fs::write(&tmp, out).map_err(|e| format!("{tmp}: {e}"))?;
    std::fs::rename(&tmp, &ko).map_err(|e| format!("{ko}: {e}"))?;
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
fn prefix_globals(args: &[String]) -> Result<ExitCode, String> {
    let [prefix, input, output] = args else {
        return Err("usage: plugsched prefix-globals PREFIX IN.o OUT.o".into());
    };
    let data = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
    let (out, n) =
        elf::prefix_defined_globals(data, prefix).map_err(|e| format!("{input}: {e}"))?;
    std::fs::write(output, out).map_err(|e| format!("{output}: {e}"))?;
    eprintln!("prefix-globals: {n} symbol(s) of {input} renamed with {prefix}");
    Ok(ExitCode::SUCCESS)
}

/// `springboard-check VMLINUX MODULE.ko`: the module's `__schedule` agrees
/// with vmlinux's at the context switch (see `springboard.rs`).
fn springboard_check(args: &[String]) -> Result<ExitCode, String> {
    let [vmlinux, ko] = args else {
        return Err("usage: plugsched springboard-check VMLINUX MODULE.ko".into());
    };
    let vm = std::fs::read(vmlinux).map_err(|e| format!("{vmlinux}: {e}"))?;
    let facts = springboard::from_vmlinux(&vm)?;
    let m = std::fs::read(ko).map_err(|e| format!("{ko}: {e}"))?;
    springboard::check_module_file(&m, &facts).map_err(|e| format!("{ko}: {e}"))?;
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
        _ => Err(format!("missing or unknown command\n{USAGE}")),
    };
    result.unwrap_or_else(|e| {
        eprintln!("plugsched: {e}");
        ExitCode::from(2)
    })
}
