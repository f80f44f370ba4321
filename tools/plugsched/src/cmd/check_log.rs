// SPDX-License-Identifier: GPL-2.0

//! `plugsched check-log`: judge the serial console log of a QEMU run (see
//! `ktap.rs` for what counts as a failure).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{
    Context,
    Result, //
};

use crate::ktap;

/// Arguments of `check-log`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A KTAP suite the run must report (repeat for each); a missing one
    /// fails the check.
    #[arg(long = "suite", value_name = "NAME")]
    pub suites: Vec<String>,
    /// Name of the run in the summary line `LABEL: N passed, N failed, N
    /// skipped`.
    #[arg(long, value_name = "LABEL", default_value = "kunit")]
    pub label: String,
    /// The serial console log of the run (`build/TARGET/SCENARIO.log`).
    #[arg(value_name = "LOG")]
    pub log: PathBuf,
}

/// Run `check-log`: exit 1 unless the log shows a clean, complete run.
pub fn run(args: &Args) -> Result<ExitCode> {
    let log = args.log.display();
    let text = std::fs::read(&args.log).with_context(|| {
        format!("cannot read the console log {log} (scripts/qemu-run.sh writes it)")
    })?;
    let report = ktap::check(&String::from_utf8_lossy(&text), &args.suites);
    print!("{report}");
    println!(
        "{}: {} passed, {} failed, {} skipped",
        args.label, report.passed, report.failed, report.skipped
    );
    if report.ok() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{}: FAILED (log: {log})", args.label);
    Ok(ExitCode::FAILURE)
}
