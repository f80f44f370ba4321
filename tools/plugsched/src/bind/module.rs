// SPDX-License-Identifier: GPL-2.0

//! The module's scheduler object (`ld -r` of the extracted scheduler's
//! objects, before its globals are renamed) as `bind-data` sees it: its
//! symbols, the relocations of its loaded sections, the machine code of its
//! functions, and the [`StaticKey`] of each variable it defines (DWARF).

use std::collections::BTreeMap;

use anyhow::{
    anyhow,
    Result, //
};
use gimli::{
    AttributeValue,
    EndianSlice,
    LittleEndian, //
};
use iced_x86::{
    ConstantOffsets,
    Decoder,
    DecoderOptions,
    Instruction, //
};

pub use super::elf_read::Reloc;
use super::elf_read::{
    self,
    Sec, //
};
use crate::arch::{
    arm64,
    Arch, //
};
use crate::boundary::statics::{
    self,
    Decl,
    Scopes,
    StaticKey, //
};
use crate::elf::Symbol;

const SHF_ALLOC: u64 = 0x2;
const SHF_EXECINSTR: u64 = 0x4;
const SHN_UNDEF: u16 = 0;
const SHF_MERGE: u64 = 0x10;
const SHF_STRINGS: u64 = 0x20;
const STT_OBJECT: u8 = 1;
const STT_FUNC: u8 = 2;

/// x86-64 relocation types relative to the place they patch.  (An
/// arm64 relocation names its target exactly, symbol plus addend, for the
/// PC-relative forms too: no bias.)
pub fn is_pc_relative(rtype: u32) -> bool {
    matches!(rtype, 2 | 4 | 24) // R_X86_64_PC32, PLT32, PC64
}

/// Whether a relocation of type `rtype` names data (or a function's
/// address) rather than a call's target, a GOT entry or a TLS offset.
pub fn is_data_reference(arch: Arch, rtype: u32) -> bool {
    match arch {
        // R_X86_64_64, PC32, 32, 32S, PC64
        Arch::X86_64 => matches!(rtype, 1 | 2 | 10 | 11 | 24),
        // R_AARCH64_ABS64, ABS32, PREL64, PREL32, LD_PREL_LO19,
        // ADR_PREL_LO21, ADR_PREL_PG_HI21(_NC), ADD_ABS_LO12_NC,
        // LDST{8,16,32,64,128}_ABS_LO12_NC
        Arch::Aarch64 => matches!(rtype, 257 | 258 | 260 | 261 | 273..=278 | 284..=286 | 299),
    }
}

/// An arm64 function's machine code (addresses are offsets in its
/// section).
pub struct Code64 {
    pub sym: usize,
    pub sec: usize,
    pub insns: Vec<arm64::Insn>,
}

impl Code64 {
    /// The instruction starting at section offset `at`.
    pub fn index_of(&self, at: u64) -> Option<usize> {
        let first = self.insns.first()?.addr;
        let k = usize::try_from(at.checked_sub(first)? / 4).ok()?;
        (at % 4 == first % 4 && k < self.insns.len()).then_some(k)
    }
}

/// A function's machine code, decoded (instruction pointers are offsets in
/// its section).
pub struct Code {
    pub sym: usize,
    pub sec: usize,
    pub insns: Vec<Instruction>,
    /// Where each instruction's displacement and immediate are.
    pub offsets: Vec<ConstantOffsets>,
}

impl Code {
    /// The instruction starting at section offset `ip`.
    pub fn index_of(&self, ip: u64) -> Option<usize> {
        self.insns.binary_search_by_key(&ip, |i| i.ip()).ok()
    }

    /// The instruction covering section offset `at`.
    pub fn covering(&self, at: u64) -> Option<usize> {
        let i = self.insns.partition_point(|i| i.ip() <= at);
        let k = i.checked_sub(1)?;
        (at < self.insns[k].next_ip()).then_some(k)
    }
}

/// Where a relocation points: a section and an offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub sec: usize,
    pub offset: u64,
}

/// The object.
pub struct Module {
    /// The object's bytes.
    pub data: Vec<u8>,
    pub sections: Vec<Sec>,
    pub syms: Vec<Symbol>,
    /// The relocations of its loaded (`SHF_ALLOC`) sections.
    pub relocs: Vec<Reloc>,
    /// The relocations of its other sections (`.debug_info`, ...).
    unloaded: Vec<Reloc>,
    /// The instruction set (`code` is x86_64's, `code64` arm64's).
    pub arch: Arch,
    pub code: Vec<Code>,
    pub code64: Vec<Code64>,
    /// Defined data and function symbols of each section, by start.
    by_sec: BTreeMap<usize, Vec<(u64, u64, usize)>>,
    /// `(section, offset)` of a relocation -> its index in `relocs`.
    reloc_at: BTreeMap<(usize, u64), usize>,
    /// Function symbol -> its index in `code`.
    code_of: BTreeMap<usize, usize>,
}

impl Module {
    /// Parse the object and decode its functions.
    pub fn parse(data: Vec<u8>) -> Result<Self> {
        let arch = Arch::of_elf(&data)?;
        let obj = elf_read::read(&data)?;
        let (sections, syms) = (obj.sections, obj.syms);
        let (relocs, unloaded): (Vec<Reloc>, Vec<Reloc>) = obj.relas.into_iter().partition(|r| {
            sections
                .get(r.sec)
                .is_some_and(|t| t.flags & SHF_ALLOC != 0)
        });
        let mut by_sec: BTreeMap<usize, Vec<(u64, u64, usize)>> = BTreeMap::new();
        for (i, s) in syms.iter().enumerate() {
            let defined = s.shndx != SHN_UNDEF && usize::from(s.shndx) < sections.len();
            if defined && matches!(s.st_type(), STT_OBJECT | STT_FUNC) {
                by_sec
                    .entry(usize::from(s.shndx))
                    .or_default()
                    .push((s.value, s.size, i));
            }
        }
        for v in by_sec.values_mut() {
            v.sort();
        }
        let reloc_at = relocs
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.sec, r.offset), i))
            .collect();
        let mut m = Module {
            data,
            sections,
            syms,
            relocs,
            unloaded,
            arch,
            code: Vec::new(),
            code64: Vec::new(),
            by_sec,
            reloc_at,
            code_of: BTreeMap::new(),
        };
        match arch {
            Arch::X86_64 => {
                m.code = m.decode();
                m.code_of = m.code.iter().enumerate().map(|(i, c)| (c.sym, i)).collect();
            }
            Arch::Aarch64 => {
                m.code64 = m
                    .functions()
                    .map(|(sym, sec, start, b)| Code64 {
                        sym,
                        sec,
                        insns: arm64::decode(b, start),
                    })
                    .collect();
                m.code_of = m
                    .code64
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.sym, i))
                    .collect();
            }
        }
        Ok(m)
    }

    /// Every function of the code sections: symbol, section, start and
    /// bytes.
    fn functions(&self) -> impl Iterator<Item = (usize, usize, u64, &[u8])> + '_ {
        self.by_sec.iter().flat_map(move |(&sec, list)| {
            let s = &self.sections[sec];
            let code = s.flags & SHF_EXECINSTR != 0 && s.len != 0;
            let bytes = if code { self.section_data(sec) } else { &[] };
            list.iter().filter_map(move |&(start, size, sym)| {
                if !code || self.syms[sym].st_type() != STT_FUNC || size == 0 {
                    return None;
                }
                let b = bytes.get(start as usize..(start + size) as usize)?;
                Some((sym, sec, start, b))
            })
        })
    }

    fn decode(&self) -> Vec<Code> {
        let mut out = Vec::new();
        for (sym, sec, start, b) in self.functions() {
            let mut dec = Decoder::with_ip(64, b, start, DecoderOptions::NONE);
            let (mut insns, mut offsets) = (Vec::new(), Vec::new());
            while dec.can_decode() {
                let ins = dec.decode();
                offsets.push(dec.get_constant_offsets(&ins));
                insns.push(ins);
            }
            out.push(Code {
                sym,
                sec,
                insns,
                offsets,
            });
        }
        out
    }

    /// The defined data or function symbol covering `t`; a zero-sized one
    /// only when it starts there and no sized symbol covers `t` (the
    /// compiler may put an empty object at the address of the next one).
    pub fn symbol_at(&self, t: Target) -> Option<usize> {
        let list = self.by_sec.get(&t.sec)?;
        let i = list.partition_point(|&(a, _, _)| a <= t.offset);
        let covering = |&&(a, size, _): &&(u64, u64, usize)| t.offset < a + size;
        let empty_here = |&&(a, size, _): &&(u64, u64, usize)| size == 0 && a == t.offset;
        let found = list[..i].iter().rev().find(covering);
        found
            .or_else(|| list[..i].iter().rev().find(empty_here))
            .map(|&(_, _, s)| s)
    }

    /// The relocation patching `offset` of section `sec`, if any.
    pub fn reloc_at(&self, sec: usize, offset: u64) -> Option<&Reloc> {
        self.reloc_at.get(&(sec, offset)).map(|&i| &self.relocs[i])
    }

    /// Where relocation `r` points.  A PC-relative one in code is biased by
    /// the distance from its field to the end of the instruction, which
    /// `insn_end` gives.
    pub fn target(&self, r: &Reloc, insn_end: Option<u64>) -> Option<Target> {
        let s = self.syms.get(r.sym)?;
        if s.shndx == SHN_UNDEF || usize::from(s.shndx) >= self.sections.len() {
            return None;
        }
        let pcrel = self.arch == Arch::X86_64 && is_pc_relative(r.rtype);
        let bias = match (pcrel, insn_end) {
            (true, Some(end)) => end - r.offset,
            _ => 0,
        };
        let offset = s.value.wrapping_add(r.addend as u64).wrapping_add(bias);
        Some(Target {
            sec: usize::from(s.shndx),
            offset,
        })
    }

    /// Whether section `sec` holds C string literals (`.rodata.str*`).
    pub fn is_string_section(&self, sec: usize) -> bool {
        let f = self.sections[sec].flags;
        f & SHF_MERGE != 0 && f & SHF_STRINGS != 0
    }

    /// The NUL-terminated string at `t` of a string section.
    pub fn string_at(&self, t: Target) -> Option<&[u8]> {
        let rest = self.section_data(t.sec).get(t.offset as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(&rest[..end])
    }

    /// The bytes `[start, start + size)` of section `sec` (zeros in a
    /// section without bytes: `.bss`).
    pub fn bytes(&self, sec: usize, start: u64, size: u64) -> Option<Vec<u8>> {
        if self.sections[sec].sh_type == object::elf::SHT_NOBITS {
            return Some(vec![0; usize::try_from(size).ok()?]);
        }
        let d = self.section_data(sec);
        d.get(usize::try_from(start).ok()?..usize::try_from(start + size).ok()?)
            .map(<[u8]>::to_vec)
    }

    /// Whether relocations patch `[start, start + size)` of section `sec`.
    pub fn relocs_within(&self, sec: usize, start: u64, size: u64) -> bool {
        self.reloc_at
            .range((sec, start)..(sec, start + size))
            .next()
            .is_some()
    }

    /// Whether relocation type `rtype` names data (see
    /// [`is_data_reference`]).
    pub fn is_data_reference(&self, rtype: u32) -> bool {
        is_data_reference(self.arch, rtype)
    }

    /// Whether section `sec` is code.
    pub fn is_code(&self, sec: usize) -> bool {
        self.sections[sec].flags & SHF_EXECINSTR != 0
    }

    /// The function (index in `code`) and instruction covering offset
    /// `at` of code section `sec`.
    pub fn code_at(&self, sec: usize, at: u64) -> Option<(usize, usize)> {
        let sym = self.symbol_at(Target { sec, offset: at })?;
        let c = self.code_of(sym)?;
        Some((c, self.code[c].covering(at)?))
    }

    /// The index in `code` of function symbol `sym`.
    pub fn code_of(&self, sym: usize) -> Option<usize> {
        self.code_of.get(&sym).copied()
    }

    /// Where relocation `r` points, with the bias of a PC-relative one in
    /// code taken from the instruction it is in.
    pub fn reloc_target(&self, r: &Reloc) -> Option<Target> {
        let x86 = self.arch == Arch::X86_64;
        let end = if x86 && self.is_code(r.sec) && is_pc_relative(r.rtype) {
            let (c, i) = self.code_at(r.sec, r.offset)?;
            Some(self.code[c].insns[i].next_ip())
        } else {
            None
        };
        self.target(r, end)
    }

    /// The bytes of section `sec` in the file (none for `.bss`).
    pub fn section_data(&self, sec: usize) -> &[u8] {
        let s = &self.sections[sec];
        &self.data[s.offset..s.offset + s.len]
    }

    /// Name of section `sec`.
    pub fn section_name(&self, sec: usize) -> &str {
        &self.sections[sec].name
    }
}

type R<'a> = EndianSlice<'a, LittleEndian>;

/// The [`StaticKey`] of every variable of `data` (an object with DWARF)
/// that DWARF places at an address: symbol index -> key.
pub fn static_keys(data: &[u8], m: &Module) -> Result<BTreeMap<usize, StaticKey>> {
    use object::{
        Object,
        ObjectSection, //
    };
    let obj = object::File::parse(data)?;
    let sections = gimli::DwarfSections::load(|id| crate::layout::dwarf::load_section(&obj, id))?;
    let dwarf = sections.borrow(|s| EndianSlice::new(s, LittleEndian));
    let info_sec = obj
        .section_by_name(".debug_info")
        .ok_or_else(|| anyhow!("no .debug_info (built without -g?)"))?;
    let relas = m.relocs_of(info_sec.index().0);
    // DWARF 5 (clang) names addresses by index in .debug_addr, whose
    // entries the relocations fill.
    let addr_relas = obj
        .section_by_name(".debug_addr")
        .map(|s| m.relocs_of(s.index().0))
        .unwrap_or_default();
    let info_start = {
        use gimli::Section;
        *dwarf.debug_info.reader()
    };
    let mut found: Vec<(usize, Decl)> = Vec::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let cu = unit
            .name
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let unit_key = statics::unit_key(&cu);
        let mut entries = unit.entries();
        let mut depth = 0isize;
        let mut scopes = Scopes::default();
        while let Some((delta, e)) = entries.next_dfs()? {
            depth += delta;
            scopes.enter(depth);
            match e.tag() {
                gimli::DW_TAG_subprogram => {
                    // Callbacks are renamed __cb_<name> by the extraction.
                    let name = statics::die_name(&dwarf, &unit, e).unwrap_or_default();
                    let name = name
                        .strip_prefix("__cb_")
                        .map(str::to_string)
                        .unwrap_or(name);
                    scopes.push(depth, name);
                }
                gimli::DW_TAG_variable => {
                    let at = Relocated {
                        info: &info_start,
                        relas: &relas,
                        addr_relas: &addr_relas,
                    };
                    let Some(sym) = location_symbol(e, &unit, &at, m) else {
                        continue;
                    };
                    let seq = found.len();
                    let Some(d) = Decl::of(&dwarf, &unit, &unit_key, &scopes, e, seq) else {
                        continue;
                    };
                    found.push((sym, d));
                }
                _ => {}
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    found.retain(|(s, _)| seen.insert(*s));
    let decls: Vec<Decl> = found.iter().map(|(_, d)| d.clone()).collect();
    Ok(found
        .iter()
        .map(|(s, _)| *s)
        .zip(statics::rank(&decls))
        .collect())
}

/// Where the relocations of the DWARF of a relocatable object are:
/// `.debug_info` (for `DW_OP_addr`) and `.debug_addr` (`DW_OP_addrx`),
/// each sorted.
struct Relocated<'a, 'r> {
    info: &'r R<'a>,
    relas: &'r [Reloc],
    addr_relas: &'r [Reloc],
}

/// The symbol a `DW_AT_location` of `DW_OP_addr` or `DW_OP_addrx`
/// designates: the relocation of its operand in `.debug_info`, or of its
/// entry in `.debug_addr`, says which section and offset (every section of
/// a relocatable object starts at 0).
fn location_symbol(
    e: &gimli::DebuggingInformationEntry<'_, '_, R<'_>>,
    unit: &gimli::Unit<R<'_>>,
    at: &Relocated<'_, '_>,
    m: &Module,
) -> Option<usize> {
    let AttributeValue::Exprloc(expr) = e.attr_value(gimli::DW_AT_location).ok()?? else {
        return None;
    };
    let bytes = expr.0.slice();
    let (field, relas) = match *bytes.first()? {
        op if op == gimli::DW_OP_addr.0 => (expr.0.offset_from(*at.info) as u64 + 1, at.relas),
        op if op == gimli::DW_OP_addrx.0 || op == gimli::DW_OP_GNU_addr_index.0 => {
            let mut rest = EndianSlice::new(&bytes[1..], LittleEndian);
            let index = gimli::leb128::read::unsigned(&mut rest).ok()?;
            let size = u64::from(unit.encoding().address_size);
            (unit.addr_base.0 as u64 + index * size, at.addr_relas)
        }
        _ => return None,
    };
    let i = relas.binary_search_by_key(&field, |r| r.offset).ok()?;
    let t = m.target(&relas[i], None)?;
    m.symbol_at(t)
        .filter(|&s| m.syms[s].st_type() == STT_OBJECT)
}

impl Module {
    /// The relocations of section `sec`, sorted by offset.
    fn relocs_of(&self, sec: usize) -> Vec<Reloc> {
        let mut out: Vec<Reloc> = self
            .relocs
            .iter()
            .chain(&self.unloaded)
            .filter(|r| r.sec == sec)
            .copied()
            .collect();
        out.sort_by_key(|r| r.offset);
        out
    }
}
