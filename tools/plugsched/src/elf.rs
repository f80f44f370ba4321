// SPDX-License-Identifier: GPL-2.0

//! Relocatable 64-bit little-endian ELF files (kernel modules and `ld -r`
//! objects), read with the `object` crate's ELF reader and rewritten with
//! its ELF builder.
//!
//! A rewrite keeps every section and symbol at its index and the contents
//! of every section it does not edit; the symbol and string tables and the
//! relocation sections are serialised again by the builder.

use anyhow::{
    bail,
    ensure,
    Context,
    Result, //
};
use object::build::elf::{
    Builder,
    Relocation,
    SectionData,
    SectionId,
    SymbolId, //
};
use object::build::Id;
use object::elf::{
    FileHeader64,
    ET_REL,
    SHT_SYMTAB, //
};
use object::read::elf::{
    FileHeader,
    SectionHeader,
    SectionTable,
    Sym, //
};
use object::Endianness;

pub use object::elf::{
    SHN_UNDEF,
    SHT_RELA, //
};

/// `SHF_ALLOC`
pub const SHF_ALLOC: u64 = object::elf::SHF_ALLOC as u64;
/// `SHF_INFO_LINK`
pub const SHF_INFO_LINK: u64 = object::elf::SHF_INFO_LINK as u64;
/// `SHF_RELA_LIVEPATCH` (include/uapi/linux/elf.h)
pub const SHF_RELA_LIVEPATCH: u64 = 0x0010_0000;
/// `SHN_LIVEPATCH` (include/uapi/linux/elf.h)
pub const SHN_LIVEPATCH: u16 = 0xff20;

/// Size of one `Elf64_Rela`.
const RELA_SIZE: u64 = std::mem::size_of::<object::elf::Rela64<Endianness>>() as u64;

/// One symbol table entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Symbol {
    /// Its name.
    pub name: String,
    /// `st_info`
    pub info: u8,
    /// `st_shndx`
    pub shndx: u16,
    /// `st_value`
    pub value: u64,
    /// `st_size`
    pub size: u64,
}

impl Symbol {
    /// `ELF64_ST_TYPE`: 1 object, 2 function, 3 section.
    pub fn st_type(&self) -> u8 {
        self.info & 0xf
    }
}

/// One `Elf64_Rela`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rela {
    /// `r_offset`
    pub offset: u64,
    /// Symbol index (`ELF64_R_SYM`), 0 for none.
    pub sym: u32,
    /// Relocation type (`ELF64_R_TYPE`).
    pub rtype: u32,
    /// `r_addend`
    pub addend: i64,
}

/// `ELF64_ST_BIND`: 0 local, 1 global, 2 weak.
pub fn st_bind(info: u8) -> u8 {
    info >> 4
}

/// The file header of `data`, which must be a relocatable ELF64 LE file.
pub(crate) fn header(data: &[u8]) -> Result<(&FileHeader64<Endianness>, Endianness)> {
    let h = FileHeader64::<Endianness>::parse(data).context("not a 64-bit ELF file")?;
    let endian = h.endian().context("not a 64-bit ELF file")?;
    ensure!(
        endian == Endianness::Little,
        "only little-endian ELF is supported"
    );
    ensure!(
        h.e_type(endian) == ET_REL,
        "not a relocatable object (ET_REL)"
    );
    Ok((h, endian))
}

/// All symbols of the symbol table of `data`, by index (0: the null
/// symbol).  Reads any relocatable file, rewritten ones included.
pub fn symbols(data: &[u8]) -> Result<Vec<Symbol>> {
    let (h, endian) = header(data)?;
    Ok(symbol_table(&h.sections(endian, data)?, endian, data)?.0)
}

/// The symbols of the symbol table in `sections` (the section table of
/// `data`), by index, and that table's section index.
pub(crate) fn symbol_table(
    sections: &SectionTable<'_, FileHeader64<Endianness>>,
    endian: Endianness,
    data: &[u8],
) -> Result<(Vec<Symbol>, usize)> {
    let table = sections.symbols(endian, data, SHT_SYMTAB)?;
    ensure!(!table.is_empty(), "no symbol table");
    let syms = table
        .iter()
        .map(|s| {
            Ok(Symbol {
                name: String::from_utf8_lossy(table.symbol_name(endian, s)?).into_owned(),
                info: s.st_info(),
                shndx: s.st_shndx(endian),
                value: s.st_value(endian),
                size: s.st_size(endian),
            })
        })
        .collect::<Result<_>>()?;
    Ok((syms, table.section().0))
}

/// Whether `data` has a relocation section for the livepatch loader
/// (`.klp.rela.*`, what `klp-convert` adds).
fn has_livepatch_relocations(data: &[u8]) -> Result<bool> {
    let (h, endian) = header(data)?;
    let sections = h.sections(endian, data)?;
    Ok(sections
        .iter()
        .any(|s| s.sh_flags(endian) & SHF_RELA_LIVEPATCH != 0))
}

/// A relocation section against the symbol table, with the section its
/// relocations apply to.
#[derive(Clone, Debug)]
pub struct RelaSection {
    id: SectionId,
    symtab: SectionId,
    target: SectionId,
    /// Name of the section the relocations apply to.
    pub target_name: String,
    /// `sh_flags` of that section.
    pub target_flags: u64,
}

impl RelaSection {
    /// Its index in the file's section table.
    pub fn index(&self) -> usize {
        self.id.index() + 1
    }
}

/// A relocatable ELF64 LE file being edited.  Symbols and sections are
/// named by their index in the file, as [`symbols`] and relocations do;
/// the builder numbers them in file order from 0, the null entry left out.
pub struct Elf<'d> {
    builder: Builder<'d>,
    /// Symbol ids by symbol index - 1 (the null symbol has none).
    symbols: Vec<SymbolId>,
    /// Section ids by section index - 1.
    sections: Vec<SectionId>,
}

/// `SHT_LLVM_ADDRSIG`: clang's table of address-significant symbols.
const SHT_LLVM_ADDRSIG: u32 = 0x6fff_4c03;

/// `data`, with clang's `.llvm_addrsig` (symbol indices, an input of the
/// linker's identical code folding, which the kernel's links do not use)
/// made a plain section that [`Elf::parse`] drops: the ELF builder reads
/// no such section, and the symbol indices it holds would go stale.  An
/// object without one (gcc's) is returned as it is.
pub fn without_addrsig(data: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>> {
    let word = |at: usize, n: usize| -> Result<u64> {
        let b = data.get(at..at + n).context("truncated ELF header")?;
        Ok(b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
    };
    let (shoff, shentsize, shnum) = (word(0x28, 8)?, word(0x3a, 2)?, word(0x3c, 2)?);
    let types: Vec<usize> = (0..shnum)
        .map(|k| (shoff + k * shentsize + 4) as usize)
        .filter(|&at| word(at, 4).is_ok_and(|t| t == u64::from(SHT_LLVM_ADDRSIG)))
        .collect();
    if types.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(data));
    }
    let mut out = data.to_vec();
    for at in types {
        out[at..at + 4].copy_from_slice(&object::elf::SHT_PROGBITS.to_le_bytes());
        // sh_link (the symbol table) means nothing for a plain section.
        out[at + 20..at + 24].copy_from_slice(&[0; 4]);
    }
    Ok(std::borrow::Cow::Owned(out))
}

impl<'d> Elf<'d> {
    /// Read a relocatable ELF64 little-endian file for editing.
    pub fn parse(data: &'d [u8]) -> Result<Self> {
        header(data)?;
        if has_livepatch_relocations(data)? {
            bail!(
                "it already has .klp.rela sections, so it was rewritten once: \
                 rebuild it from its objects instead of rewriting it again"
            );
        }
        let mut builder = Builder::read64(data).context(
            "the ELF builder cannot read it (an object of clang's: give it through without_addrsig)",
        )?;
        for sec in builder.sections.iter_mut() {
            if sec.name.as_slice() == b".llvm_addrsig" {
                sec.delete = true;
            }
        }
        let symbols = builder.symbols.iter().map(|s| s.id()).collect();
        let sections = builder.sections.iter().map(|s| s.id()).collect();
        // clang names sections from the symbols' string table; the builder
        // writes section names to a .shstrtab of their own.
        if !builder
            .sections
            .iter()
            .any(|s| matches!(s.data, SectionData::SectionString))
        {
            let s = builder.sections.add();
            s.name = b".shstrtab"[..].into();
            s.sh_type = object::elf::SHT_STRTAB;
            s.sh_addralign = 1;
            s.data = SectionData::SectionString;
        }
        Ok(Elf {
            builder,
            symbols,
            sections,
        })
    }

    fn symbol_id(&self, idx: usize) -> SymbolId {
        self.symbols[idx - 1]
    }

    /// Give symbol `idx` a new name and the special section index `shndx`
    /// (`SHN_LIVEPATCH`, ...).
    pub fn set_symbol(&mut self, idx: usize, name: String, shndx: u16) {
        let s = self.builder.symbols.get_mut(self.symbol_id(idx));
        s.name = name.into_bytes().into();
        s.section = None;
        s.st_shndx = shndx;
    }

    /// Every `SHT_RELA` section against the symbol table that applies to
    /// a section, in section order.
    pub fn rela_sections(&self) -> Vec<RelaSection> {
        let by_index = |i: u32| (i as usize).checked_sub(1).map(|i| self.sections[i]);
        self.builder
            .sections
            .iter()
            .filter(|s| s.sh_type == SHT_RELA && matches!(s.data, SectionData::Relocation(_)))
            .filter_map(|s| {
                let target = s.sh_info_section.or_else(|| by_index(s.sh_info))?;
                let t = self.builder.sections.get(target);
                Some(RelaSection {
                    id: s.id(),
                    symtab: s.sh_link_section?,
                    target,
                    target_name: String::from_utf8_lossy(&t.name).into_owned(),
                    target_flags: t.sh_flags,
                })
            })
            .collect()
    }

    fn relocations(&self, s: &RelaSection) -> &[Relocation] {
        match &self.builder.sections.get(s.id).data {
            SectionData::Relocation(r) => r,
            _ => unreachable!("rela_sections() lists relocation sections only"),
        }
    }

    fn relocations_mut(&mut self, s: &RelaSection) -> &mut Vec<Relocation> {
        match &mut self.builder.sections.get_mut(s.id).data {
            SectionData::Relocation(r) => r,
            _ => unreachable!("rela_sections() lists relocation sections only"),
        }
    }

    fn to_rela(r: &Relocation) -> Rela {
        Rela {
            offset: r.r_offset,
            sym: r.symbol.map_or(0, |id| id.index() as u32 + 1),
            rtype: r.r_type,
            addend: r.r_addend,
        }
    }

    fn to_relocation(&self, r: &Rela) -> Relocation {
        Relocation {
            r_offset: r.offset,
            symbol: (r.sym != 0).then(|| self.symbol_id(r.sym as usize)),
            r_type: r.rtype,
            r_addend: r.addend,
        }
    }

    /// The relocations of `s`.
    pub fn relas(&self, s: &RelaSection) -> Vec<Rela> {
        self.relocations(s).iter().map(Self::to_rela).collect()
    }

    /// Overwrite the relocations of `s` (same count).
    pub fn set_relas(&mut self, s: &RelaSection, relas: &[Rela]) {
        let new: Vec<Relocation> = relas.iter().map(|r| self.to_relocation(r)).collect();
        let old = self.relocations_mut(s);
        assert_eq!(old.len(), new.len());
        *old = new;
    }

    /// Add an undefined global symbol named `name`; returns its index (the
    /// builder writes the locals first, relocations follow their symbols).
    pub fn add_undefined(&mut self, name: String) -> usize {
        let s = self.builder.symbols.add();
        s.name = name.into_bytes().into();
        s.st_info = (object::elf::STB_GLOBAL << 4) | object::elf::STT_NOTYPE;
        s.section = None;
        s.st_shndx = SHN_UNDEF;
        let id = s.id();
        self.symbols.push(id);
        self.symbols.len()
    }

    /// Give symbol `idx` a new name, keeping where it is defined.
    pub fn rename_symbol(&mut self, idx: usize, name: String) {
        let s = self.builder.symbols.get_mut(self.symbol_id(idx));
        s.name = name.into_bytes().into();
    }

    /// Add a relocation section named `name` with `flags`, applying
    /// `relas` to the section `like` applies to (against the same symbol
    /// table).
    pub fn add_rela_section(
        &mut self,
        name: String,
        flags: u64,
        like: &RelaSection,
        relas: &[Rela],
    ) {
        let relocations = relas.iter().map(|r| self.to_relocation(r)).collect();
        let s = self.builder.sections.add();
        s.name = name.into_bytes().into();
        s.sh_type = SHT_RELA;
        s.sh_flags = flags;
        s.sh_link_section = Some(like.symtab);
        s.sh_info_section = Some(like.target);
        s.sh_addralign = 8;
        s.sh_entsize = RELA_SIZE;
        s.data = SectionData::Relocation(relocations);
    }

    /// Serialise the edited file.
    pub fn write(self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.builder
            .write(&mut out)
            .context("the ELF builder cannot write the edited file")?;
        Ok(out)
    }
}

/// Rename every global symbol defined in `data` (and every local symbol
/// `base.suffix` whose `base` is such a global: compiler pieces such as
/// `.cold`) to `prefix` + name.  Undefined symbols keep their names.
/// Returns the new file and the number of renamed symbols.
pub fn prefix_defined_globals(data: &[u8], prefix: &str) -> Result<(Vec<u8>, usize)> {
    let plain = without_addrsig(data)?;
    let mut elf = Elf::parse(&plain)?;
    let syms = symbols(data)?;
    let picked = defined_globals_and_pieces(&syms);
    for &i in &picked {
        elf.rename_symbol(i, format!("{prefix}{}", syms[i].name));
    }
    Ok((elf.write()?, picked.len()))
}

/// Indices of the named, defined symbols that are global or weak, or
/// local pieces (`base.suffix`) of such a global.
fn defined_globals_and_pieces(syms: &[Symbol]) -> Vec<usize> {
    let defined = |s: &Symbol| !s.name.is_empty() && s.shndx != SHN_UNDEF;
    let globals: std::collections::HashSet<&str> = syms
        .iter()
        .filter(|s| st_bind(s.info) != 0 && defined(s))
        .map(|s| s.name.as_str())
        .collect();
    syms.iter()
        .enumerate()
        .filter(|(_, s)| {
            defined(s)
                && (st_bind(s.info) != 0
                    || s.name
                        .split_once('.')
                        .is_some_and(|(base, _)| globals.contains(base)))
        })
        .map(|(i, _)| i)
        .collect()
}

/// What the `object` crate's ELF reader sees in a file: tests check the
/// builder's output with it.
#[cfg(test)]
pub(crate) mod read_back {
    use object::elf::{
        FileHeader64,
        SHT_SYMTAB, //
    };
    use object::read::elf::{
        FileHeader,
        SectionHeader, //
    };
    use object::{
        Endianness,
        SymbolIndex, //
    };

    /// One section header and its contents.
    #[derive(Debug)]
    pub struct Sec {
        pub name: String,
        pub sh_type: u32,
        pub flags: u64,
        pub link: u32,
        pub info: u32,
        pub data: Vec<u8>,
    }

    /// Every section, by index.
    pub fn sections(data: &[u8]) -> Vec<Sec> {
        let h = FileHeader64::<Endianness>::parse(data).unwrap();
        let e = h.endian().unwrap();
        let table = h.sections(e, data).unwrap();
        table
            .iter()
            .map(|s| Sec {
                name: String::from_utf8_lossy(table.section_name(e, s).unwrap()).into_owned(),
                sh_type: s.sh_type(e),
                flags: s.sh_flags(e),
                link: s.sh_link(e),
                info: s.sh_info(e),
                data: s.data(e, data).unwrap_or(&[]).to_vec(),
            })
            .collect()
    }

    /// (symbol name, type) of every relocation of the section `name`.
    pub fn relocations(data: &[u8], name: &str) -> Vec<(String, u32)> {
        let h = FileHeader64::<Endianness>::parse(data).unwrap();
        let e = h.endian().unwrap();
        let table = h.sections(e, data).unwrap();
        let syms = table.symbols(e, data, SHT_SYMTAB).unwrap();
        let (_, sec) = table
            .section_by_name(e, name.as_bytes())
            .unwrap_or_else(|| panic!("no section {name}"));
        let (relas, _) = sec.rela(e, data).unwrap().expect("a SHT_RELA section");
        relas
            .iter()
            .map(|r| {
                // (No symbol: an empty name.)
                let n = match r.r_sym(e, false) {
                    0 => &[][..],
                    i => {
                        let sym = syms.symbol(SymbolIndex(i as usize)).unwrap();
                        syms.symbol_name(e, sym).unwrap()
                    }
                };
                (String::from_utf8_lossy(n).into_owned(), r.r_type(e, false))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{
        run,
        Scratch, //
    };

    /// Compile `src` with `cc ARGS` in `t` and return the output file.
    fn cc(t: &Scratch, src: &str, args: &[&str]) -> Vec<u8> {
        std::fs::write(t.join("a.c"), src).unwrap();
        run(
            t.path(),
            "cc",
            &[args, &["-O1", "-o", "a.out", "a.c"]].concat(),
        );
        std::fs::read(t.join("a.out")).unwrap()
    }

    /// `nm` of the object `data`.
    fn nm(t: &Scratch, data: &[u8]) -> String {
        std::fs::write(t.join("b.o"), data).unwrap();
        run(t.path(), "nm", &["b.o"])
    }

    const SRC: &str = "extern int wake_up_process(void *p);\n\
         static int helper(int x) { return x + 1; }\n\
         int schedule(int x) { return wake_up_process(0) + helper(x); }\n\
         int runqueues = 3;\n\
         static int counter;\n\
         const char *name(void) { counter++; return \"rq\"; }\n";

    #[test]
    fn prefix_defined_globals_renames_definitions_only() {
        let t = Scratch::new("elf", "prefix");
        let data = cc(&t, SRC, &["-c"]);
        let (new, n) = prefix_defined_globals(&data, "__p_").unwrap();
        let nm = nm(&t, &new);
        assert_eq!(n, 3, "{nm}");
        assert!(nm.contains(" T __p_schedule"), "{nm}");
        assert!(nm.contains(" D __p_runqueues"), "{nm}");
        assert!(nm.contains(" T __p_name"), "{nm}");
        assert!(nm.contains(" U wake_up_process"), "{nm}");
        assert!(!nm.contains("__p_helper"), "{nm}");
        assert!(!nm.contains("__p_counter"), "{nm}");
        assert!(!nm.contains("__p_wake_up_process"), "{nm}");
        // Only the names changed.
        let (a, b) = (symbols(&data).unwrap(), symbols(&new).unwrap());
        assert_eq!(a.len(), b.len());
        for (a, b) in a.iter().zip(&b) {
            assert_eq!((a.info, a.shndx), (b.info, b.shndx));
            assert!(b.name == a.name || b.name == format!("__p_{}", a.name));
        }
    }

    #[test]
    fn pieces_of_globals_are_renamed_with_them() {
        let sym = |name: &str, info: u8, shndx: u16| Symbol {
            name: name.into(),
            info,
            shndx,
            ..Symbol::default()
        };
        let syms = [
            sym("", 0, 0),
            sym("f", 0x12, 1),
            sym("f.cold", 0x02, 1),
            sym("g.part.0", 0x02, 1),
            sym("u", 0x10, SHN_UNDEF),
            sym("w", 0x22, 1),
        ];
        assert_eq!(defined_globals_and_pieces(&syms), [1, 2, 5]);
    }

    #[test]
    fn rewrite_without_edits_keeps_sections_symbols_and_relocations() {
        let t = Scratch::new("elf", "same");
        let data = cc(&t, SRC, &["-c", "-g"]);
        let out = Elf::parse(&data).unwrap().write().unwrap();
        let (s0, s1) = (read_back::sections(&data), read_back::sections(&out));
        assert_eq!(s0.len(), s1.len());
        let rewritten = |s: &read_back::Sec| {
            s.sh_type == SHT_RELA || [".strtab", ".shstrtab", ".symtab"].contains(&s.name.as_str())
        };
        for (a, b) in s0.iter().zip(&s1) {
            assert_eq!(
                (&a.name, a.sh_type, a.flags, a.link, a.info),
                (&b.name, b.sh_type, b.flags, b.link, b.info)
            );
            if !rewritten(a) {
                assert_eq!(a.data, b.data, "{}", a.name);
            }
        }
        assert_eq!(symbols(&data).unwrap(), symbols(&out).unwrap());
        for s in s0.iter().filter(|s| s.sh_type == SHT_RELA) {
            assert_eq!(
                read_back::relocations(&data, &s.name),
                read_back::relocations(&out, &s.name),
                "{}",
                s.name
            );
        }
    }

    #[test]
    fn added_relocation_section_reads_back() {
        let t = Scratch::new("elf", "add");
        let data = cc(&t, SRC, &["-c"]);
        let syms = symbols(&data).unwrap();
        let wake = syms
            .iter()
            .position(|s| s.name == "wake_up_process")
            .unwrap();
        let mut elf = Elf::parse(&data).unwrap();
        elf.set_symbol(
            wake,
            ".klp.sym.vmlinux.wake_up_process,0".into(),
            SHN_LIVEPATCH,
        );
        let text = elf
            .rela_sections()
            .into_iter()
            .find(|r| r.target_name == ".text")
            .unwrap();
        assert_ne!(text.target_flags & SHF_ALLOC, 0);
        let mut relas = elf.relas(&text);
        let moved: Vec<Rela> = relas
            .iter()
            .filter(|r| r.sym as usize == wake)
            .copied()
            .collect();
        assert_eq!(moved.len(), 1);
        for r in relas.iter_mut().filter(|r| r.sym as usize == wake) {
            r.rtype = 0;
        }
        elf.set_relas(&text, &relas);
        let flags = SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH;
        elf.add_rela_section(".klp.rela.vmlinux..text".into(), flags, &text, &moved);
        let out = elf.write().unwrap();

        let secs = read_back::sections(&out);
        let k = secs.last().unwrap();
        assert_eq!(
            (k.name.as_str(), k.sh_type, k.flags),
            (".klp.rela.vmlinux..text", SHT_RELA, flags)
        );
        assert_eq!(secs[k.info as usize].name, ".text");
        assert_eq!(secs[k.link as usize].name, ".symtab");
        assert_eq!(
            read_back::relocations(&out, ".klp.rela.vmlinux..text"),
            [(
                ".klp.sym.vmlinux.wake_up_process,0".to_string(),
                moved[0].rtype
            )]
        );
        let plain = read_back::relocations(&out, ".rela.text");
        assert!(plain.contains(&(".klp.sym.vmlinux.wake_up_process,0".to_string(), 0)));
        let s = &symbols(&out).unwrap()[wake];
        assert_eq!(s.shndx, SHN_LIVEPATCH);

        // A rewritten module is not rewritten again.
        let e = Elf::parse(&out).err().unwrap().to_string();
        assert!(e.contains("rebuild it"), "{e}");
    }

    #[test]
    fn refuses_what_it_cannot_edit() {
        let t = Scratch::new("elf", "bad");
        let e = |d: &[u8]| format!("{:#}", Elf::parse(d).err().unwrap());
        assert!(e(b"#!/bin/sh\n").contains("not a 64-bit ELF file"));
        let exe = cc(&t, "int main(void) { return 0; }\n", &[]);
        assert!(e(&exe).contains("not a relocatable object"));
        assert!(symbols(b"").is_err());
    }
}
