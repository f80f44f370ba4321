// SPDX-License-Identifier: GPL-2.0

//! `plugsched klp-convert`: bind a module's references to non-exported
//! vmlinux symbols through klp relocations (see `klp.rs`), rewriting the
//! module in place.

use std::collections::HashMap;
use std::path::{
    Path,
    PathBuf, //
};
use std::process::ExitCode;

use anyhow::{
    Context,
    Result, //
};

use crate::klp;

/// Arguments of `klp-convert`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The target kernel's `System.map` (`KDIR/System.map`): where every
    /// vmlinux symbol is, for its sympos.
    #[arg(long, value_name = "FILE")]
    pub system_map: PathBuf,
    /// The target kernel's `Module.symvers`: the symbols vmlinux exports,
    /// which stay ordinary references.
    #[arg(long, value_name = "FILE")]
    pub symvers: PathBuf,
    /// Explicit choices among vmlinux symbols of the same name, lines
    /// `name sympos` (`plugsched init` writes WORKDIR/sympos).
    #[arg(long, value_name = "FILE")]
    pub sympos: Option<PathBuf>,
    /// The linked module, rewritten in place.
    #[arg(value_name = "MODULE.ko")]
    pub module: PathBuf,
}

fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// Run `klp-convert`.
pub fn run(args: &Args) -> Result<ExitCode> {
    let ko = args.module.display();
    let map = klp::SymbolMap::parse(&read_text(&args.system_map, "System.map")?)
        .with_context(|| format!("{}", args.system_map.display()))?;
    let exported = klp::parse_symvers(&read_text(&args.symvers, "Module.symvers")?);
    let hints = match &args.sympos {
        Some(p) => klp::parse_sympos(&read_text(p, "the sympos file")?)
            .with_context(|| format!("{}", p.display()))?,
        None => HashMap::new(),
    };
    let data =
        std::fs::read(&args.module).with_context(|| format!("cannot read the module {ko}"))?;
    let (out, conv) = klp::convert(data, &map, &exported, &hints)
        .with_context(|| format!("cannot convert {ko}"))?;
    write_in_place(&args.module, &out)?;
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

/// Replace `path` by `data` atomically (a temporary file renamed over it).
fn write_in_place(path: &Path, data: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".klp-tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, data).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}
