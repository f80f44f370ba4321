// SPDX-License-Identifier: GPL-2.0

//! `plugsched prefix-globals PREFIX IN.o OUT.o`: rename every global
//! symbol an object defines (and its `.cold`/`.part`/... pieces) to
//! PREFIX+name, so that nothing linked with it can bind to those names.
//! The extracted scheduler's `Kbuild.sched` runs it on the scheduler's
//! `ld -r` object.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{
    Context,
    Result, //
};

use crate::elf;

/// Arguments of `prefix-globals`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Prefix put before every renamed symbol (`__plugsched_`).
    #[arg(value_name = "PREFIX")]
    pub prefix: String,
    /// The relocatable object to read (the output of `ld -r`).
    #[arg(value_name = "IN.o")]
    pub input: PathBuf,
    /// Where to write the renamed object (may be IN.o itself).
    #[arg(value_name = "OUT.o")]
    pub output: PathBuf,
}

/// Run `prefix-globals`.
pub fn run(args: &Args) -> Result<ExitCode> {
    let input = args.input.display();
    let data = crate::file::map(&args.input)?;
    let (out, n) = elf::prefix_defined_globals(&data, &args.prefix)
        .with_context(|| format!("cannot rename the symbols of {input}"))?;
    drop(data);
    std::fs::write(&args.output, out)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "prefix-globals: {n} symbol(s) of {input} renamed with {}",
        args.prefix
    );
    Ok(ExitCode::SUCCESS)
}
