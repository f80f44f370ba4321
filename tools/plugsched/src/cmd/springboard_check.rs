// SPDX-License-Identifier: GPL-2.0

//! `plugsched springboard-check VMLINUX MODULE.ko`: the module's
//! `__schedule` agrees with vmlinux's at the context switch (see
//! `springboard.rs`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{
    Context,
    Result, //
};

use crate::springboard;

/// Arguments of `springboard-check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The target kernel's vmlinux with its symbol table
    /// (`KDIR/vmlinux.unstripped`).
    #[arg(value_name = "VMLINUX")]
    pub vmlinux: PathBuf,
    /// The built module whose `__schedule` continues in vmlinux's.
    #[arg(value_name = "MODULE.ko")]
    pub module: PathBuf,
}

/// Run `springboard-check`.
pub fn run(args: &Args) -> Result<ExitCode> {
    let vm = crate::file::map(&args.vmlinux)?;
    let facts = springboard::from_vmlinux(&vm).with_context(|| {
        format!(
            "cannot derive the split from {}'s __schedule",
            args.vmlinux.display()
        )
    })?;
    let m = crate::file::map(&args.module)?;
    springboard::check_module_file(&m, &facts).with_context(|| {
        format!(
            "{}: its __schedule cannot finish in vmlinux's; rebuild the module against \
             this vmlinux, and keep sched-changes/ from altering __schedule's frame \
             (Documentation/live-update.rst)",
            args.module.display()
        )
    })?;
    println!("springboard: {}", springboard::describe(&facts));
    Ok(ExitCode::SUCCESS)
}
