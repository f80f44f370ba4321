// SPDX-License-Identifier: GPL-2.0

//! `plugsched`: host tooling of plugsched-rs.
//!
//! Subcommands:
//!
//! * `check-log [--suite NAME]... [--label LABEL] LOG` checks the serial log
//!   of a QEMU run: KTAP results, planned suites, the scenario's exit code
//!   and kernel splats.  Prints a summary ending in
//!   `LABEL: N passed, N failed, N skipped` and exits 1 unless all is well.

use std::process::ExitCode;

mod ktap;

const USAGE: &str = "\
usage: plugsched <command> [args]

commands:
  check-log [--suite NAME]... [--label LABEL] LOG
      check the serial console log of a QEMU run (KTAP, planned suites,
      scenario exit code, WARNING/BUG/Call Trace/lockdep splats)
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("check-log") => check_log(&args[1..]),
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
