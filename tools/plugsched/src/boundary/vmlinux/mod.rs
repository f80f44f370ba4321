// SPDX-License-Identifier: GPL-2.0

//! Build the whole-kernel call graph from a built vmlinux, not from source
//! text, in phases a file each:
//!
//! 1. [`symbols`]: every function symbol (compiler clones included) and
//!    data symbol;
//! 2. [`code`] ([`code_arm64`] on arm64): the machine code, decoded: every direct call and
//!    tail call (static callees included, which carry no relocation), the
//!    functions and variables whose address the code takes;
//! 3. the references that are not calls, from one of two sources
//!    ([`RefSource`]): the relocations kept by `--emit-relocs`
//!    (`vmlinux.unstripped`, [`relocs`]), or, relocation-free, the bytes
//!    themselves: pointer-sized words of data ([`words`]) and the decoded
//!    operands of code (phase 2).  Both give the same classification
//!    (Documentation/boundary.rst, "Relocation-free analysis");
//! 4. [`dwarf`]: each function's and variable's real source file (which is
//!    what makes the unity objects `build_policy.o` / `build_utility.o`
//!    analysable), the identity of every static, every inlined call;
//! 5. [`clones`]: compiler clones linked to their origin.

mod clones;
mod code;
mod code_arm64;
mod dwarf;
#[cfg(test)]
mod e2e;
#[cfg(test)]
mod e2e_arm64;
mod index;
mod relocs;
mod sections;
mod symbols;
#[cfg(test)]
mod testelf;
mod words;

use std::path::Path;

use anyhow::{
    Context,
    Result, //
};
use object::{
    Object,
    ObjectSection, //
};

pub(crate) use self::dwarf::file_name;
use super::algo::Graph;
use crate::arch::Arch;
use symbols::Symbols;

/// Progress callback: a phase name.
pub type Progress<'a> = &'a dyn Fn(&str);

/// Where the references that are not calls come from: which variables a
/// function uses, which functions and variables data points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefSource {
    /// The relocations of the counted code and data sections
    /// (`vmlinux.unstripped`, linked with `--emit-relocs`).
    Relocations,
    /// Relocation-free: the aligned pointer-sized words of the counted
    /// data sections and the operands of the decoded code (a distribution's
    /// debug vmlinux, which keeps no relocations).
    Bytes,
}

impl RefSource {
    /// Relocations if the counted sections of `obj` have any.
    fn of(obj: &object::File<'_>) -> Self {
        let relocated = obj.sections().any(|s| {
            s.name()
                .is_ok_and(|n| sections::is_counted_code(n) || sections::is_counted_data(n))
                && s.relocations().next().is_some()
        });
        if relocated {
            RefSource::Relocations
        } else {
            RefSource::Bytes
        }
    }

    /// How a report names it.
    pub fn describe(self) -> &'static str {
        match self {
            RefSource::Relocations => "relocations",
            RefSource::Bytes => "relocation-free (data words and code operands)",
        }
    }
}

/// Read the graph of the vmlinux at `path` (`vmlinux.unstripped` keeps the
/// relocations; a vmlinux without them is read relocation-free, as it is
/// when `force_bytes` is set).  `src` is the source tree, to make DWARF
/// paths relative.  Returns the graph and where its references came from.
pub fn read_graph(
    path: &Path,
    src: &Path,
    force_bytes: bool,
    progress: Progress<'_>,
) -> Result<(Graph, RefSource)> {
    progress("reading the ELF file");
    let data = crate::file::map(path)?;
    let obj = object::File::parse(&*data).context("not an ELF file")?;
    let arch = Arch::of(&obj)?;
    let refs = if force_bytes {
        RefSource::Bytes
    } else {
        RefSource::of(&obj)
    };
    let mut g = Graph::default();

    progress("symbols");
    let syms = symbols::read(&obj, &mut g);
    progress("decoding machine code");
    match arch {
        Arch::X86_64 => code::walk(&obj, &syms, refs, &mut g),
        Arch::Aarch64 => code_arm64::walk(&obj, &syms, refs, &mut g),
    }
    match refs {
        RefSource::Relocations => {
            progress("references: relocations");
            relocs::read(&obj, arch, &syms, &mut g);
        }
        RefSource::Bytes => {
            progress("references: data words");
            words::scan(&obj, &syms, &mut g);
            if arch == Arch::Aarch64 {
                progress("references: dynamic relocations");
                words::scan_relative(&obj, &syms, &mut g)?;
            }
        }
    }
    progress("DWARF");
    dwarf::read(&obj, src, &syms, &mut g)?;
    clones::link(&mut g, &syms.by_name);
    Ok((g, refs))
}

/// A pointer stored in counted data (a relocation's target, or a word
/// that is an address): the function starting there has its address
/// taken, the variable containing it is referenced by data.
fn pointer_in_data(syms: &Symbols, target: u64, g: &mut Graph) {
    if let Some(v) = syms.vars.containing(target) {
        g.data_referenced.insert(v);
    }
    if let Some(z) = syms.funcs.at(target) {
        g.address_taken.insert(z);
    }
}
