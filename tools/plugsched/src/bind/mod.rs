// SPDX-License-Identifier: GPL-2.0

//! `plugsched bind-data --bindings FILE IN.o OUT.o`: make
//! the module's scheduler object (the `ld -r` of its compiled files) use
//! vmlinux's data wherever state or an address could outlive the module,
//! and refuse it when that cannot be done (Documentation/live-update.rst,
//! "Data").
//!
//! 1. Every static the module defines that is a static of vmlinux's
//!    scheduler (same [`StaticKey`]: unit, function, name, rank) and that
//!    `bindings.json` says is shared or external becomes vmlinux's: its
//!    references are redirected to an undefined
//!    `__plugsched_vmlinux_<name>,<sympos>`, which klp-convert binds.  Its
//!    size must be vmlinux's.  The module's copy stays, unused.
//!    A constant is vmlinux's only if its address leaves the module (and
//!    its bytes are vmlinux's): else the module's copy is as good.
//! 2. Every reference to a string literal whose address leaves the module
//!    (a lock's name) and that vmlinux's scheduler uses (same bytes)
//!    becomes a reference to vmlinux's.
//! 3. No address of the module's own memory may leave its code
//!    (`check.rs`, `escape.rs`): the build fails naming the variable or
//!    function, how it leaves, and where.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{
    Context,
    Result, //
};

use crate::boundary::bindings::Bindings;

pub mod check;
pub mod elf_read;
pub mod escape;
pub mod keeps;
pub mod module;
pub mod plan;
pub mod rewrite;
#[cfg(test)]
mod test_cases;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_arm64;

/// Arguments of `bind-data`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// `bindings.json` written by `plugsched init`: vmlinux's statics and
    /// string literals, and the config's `module_private`.
    #[arg(long, value_name = "FILE")]
    pub bindings: PathBuf,
    /// The module's scheduler object (relocatable, with DWARF).
    #[arg(value_name = "IN.o")]
    pub input: PathBuf,
    /// Where to write the bound object.
    #[arg(value_name = "OUT.o")]
    pub output: PathBuf,
}

/// Run `bind-data`: exit 1, naming every object, if an address of the
/// module's own memory leaves it or a shared static changed size.
pub fn run(args: &Args) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.bindings)
        .with_context(|| format!("cannot read {}", args.bindings.display()))?;
    let bindings: Bindings = serde_json::from_str(&text).with_context(|| {
        format!(
            "cannot parse {} (written by plugsched init: run it again)",
            args.bindings.display()
        )
    })?;
    let allowed: BTreeSet<String> = bindings.module_private.iter().cloned().collect();
    let data = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let (out, summary) =
        bind(data, &bindings, &allowed).with_context(|| format!("{}", args.input.display()))?;
    match out {
        Ok(bytes) => {
            std::fs::write(&args.output, bytes)
                .with_context(|| format!("cannot write {}", args.output.display()))?;
            print!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("bind-data: {e}");
            }
            eprintln!(
                "bind-data: {} error(s): the module's scheduler would leave its own memory in kernel objects that outlive it, or changes data it shares with vmlinux (Documentation/live-update.rst, \"Data\")",
                errors.len()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The bound object, or why the module's scheduler is refused.
pub type Bound = std::result::Result<Vec<u8>, Vec<String>>;

/// Bind and check `data`: the new object, or the errors; and a summary.
pub fn bind(
    data: Vec<u8>,
    bindings: &Bindings,
    allowed: &BTreeSet<String>,
) -> Result<(Bound, String)> {
    let m = module::Module::parse(data.clone())?;
    let keys = module::static_keys(&data, &m).context("DWARF")?;
    let mut plan = plan::statics(&m, &keys, bindings);
    let fates = check::fates(&m, &plan);
    let (targets, syms) = check::leaving(&fates);

    plan.redirect(&m, bindings, &targets, &syms);
    let leaks = check::leaks(&m, &keys, &plan, &fates, allowed);
    let mut errors = plan.errors.clone();
    for l in &leaks {
        errors.push(format!(
            "{}: the module's own, and its address leaves the module's scheduler: {}; make it vmlinux's (a variable vmlinux has, a callback referenced by its vmlinux name), or list it under module_private in the boundary config with the reason it cannot outlive the module",
            l.what, l.how
        ));
    }
    let mut summary = String::new();
    for (&sym, v) in &plan.bound {
        summary.push_str(&format!(
            "  BIND    {:<60} -> {},{}\n",
            keys.get(&sym).map(plan::describe).unwrap_or_default(),
            v.symbol,
            v.sympos
        ));
    }
    summary.push_str(&format!(
        "bind-data: {} statics of the module's scheduler are vmlinux's, {} references to them and {} to vmlinux's string literals redirected; {} addresses taken, none of the module's own leaves\n",
        plan.bound.len(),
        plan.redirects.len() - plan.strings,
        plan.strings,
        fates.len()
    ));
    if !errors.is_empty() {
        return Ok((Err(errors), summary));
    }
    Ok((Ok(rewrite::apply(&data, &plan.redirects)?), summary))
}
