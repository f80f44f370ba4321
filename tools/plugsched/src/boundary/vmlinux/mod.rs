// SPDX-License-Identifier: GPL-2.0

//! Build the whole-kernel call graph from a built vmlinux, not from source
//! text: the x86-64 machine code gives every direct call and tail call
//! (static callees included, which carry no relocation), the relocations
//! kept by `--emit-relocs` (`vmlinux.unstripped`) and RIP-relative or
//! absolute operands give every address-taken function, and DWARF gives
//! each function's real source file (which is what makes the unity objects
//! `build_policy.o` / `build_utility.o` analysable) and every inlined call.

use std::collections::{
    BTreeMap,
    BTreeSet,
    HashMap, //
};
use std::path::Path;

use anyhow::{
    ensure,
    Result, //
};
use gimli::{
    AttributeValue,
    EndianSlice,
    LittleEndian, //
};
use iced_x86::{
    Decoder,
    DecoderOptions,
    FlowControl,
    Instruction,
    Mnemonic,
    OpKind, //
};
use object::{
    Object,
    ObjectSection,
    ObjectSymbol,
    RelocationTarget,
    SectionKind,
    SymbolKind, //
};

use super::algo::{
    Func,
    FuncId,
    Graph,
    Inlined,
    Var,
    VarKind, //
};
use super::statics::{
    self,
    Decl,
    Scopes, //
};

type R<'a> = EndianSlice<'a, LittleEndian>;

/// Progress callback: a phase name.
pub type Progress<'a> = &'a dyn Fn(&str);

/// Function start address -> id, and a sorted list for containment lookups.
struct AddrIndex {
    starts: Vec<(u64, u64, FuncId)>,
    by_start: HashMap<u64, Vec<FuncId>>,
}

impl AddrIndex {
    fn new(funcs: &[Func]) -> Self {
        Self::from_ranges(
            funcs
                .iter()
                .enumerate()
                .map(|(i, f)| (f.addr, f.size, i))
                .collect(),
        )
    }

    fn new_vars(vars: &[Var]) -> Self {
        Self::from_ranges(
            vars.iter()
                .enumerate()
                .map(|(i, v)| (v.addr, v.size, i))
                .collect(),
        )
    }

    fn from_ranges(mut starts: Vec<(u64, u64, usize)>) -> Self {
        starts.sort();
        let mut by_start: HashMap<u64, Vec<FuncId>> = HashMap::new();
        for &(a, _, i) in &starts {
            by_start.entry(a).or_default().push(i);
        }
        AddrIndex { starts, by_start }
    }

    /// The function starting exactly at `addr` (the first of its aliases).
    fn at(&self, addr: u64) -> Option<FuncId> {
        self.by_start.get(&addr).and_then(|v| v.first().copied())
    }

    /// The function containing `addr`.
    fn containing(&self, addr: u64) -> Option<FuncId> {
        let i = self.starts.partition_point(|&(a, _, _)| a <= addr);
        let &(a, s, id) = self.starts.get(i.checked_sub(1)?)?;
        (addr < a + s).then_some(id)
    }

    /// Every symbol (aliases included) starting at `addr`.
    fn all_at(&self, addr: u64) -> &[FuncId] {
        self.by_start.get(&addr).map_or(&[], |v| v.as_slice())
    }
}

/// Read the graph of `vmlinux` (use `vmlinux.unstripped`, which keeps the
/// relocations).  `src` is the source tree, to make DWARF paths relative.
pub fn read_graph(path: &Path, src: &Path, progress: Progress<'_>) -> Result<Graph> {
    progress("reading the ELF file");
    let data = crate::file::map(path)?;
    let obj = object::File::parse(&*data)?;
    ensure!(
        obj.architecture() == object::Architecture::X86_64,
        "only x86_64 vmlinux is supported so far"
    );

    // 1. Function symbols (clones included) and exports.
    progress("symbols");
    let mut g = Graph::default();
    let mut exported = BTreeSet::new();
    let init_text = obj
        .section_by_name(".init.text")
        .map(|s| (s.address(), s.size()));
    let mut seen = BTreeSet::new();
    for s in obj.symbols() {
        let Ok(name) = s.name() else { continue };
        if let Some(e) = name.strip_prefix("__ksymtab_") {
            exported.insert(e.to_string());
        }
        if s.kind() != SymbolKind::Text || s.size() == 0 || name.starts_with("__pfx_") {
            continue;
        }
        if !seen.insert((s.address(), name.to_string())) {
            continue; // aliases of the same symbol
        }
        let init = init_text.is_some_and(|(a, n)| s.address() >= a && s.address() < a + n);
        g.funcs.push(Func {
            name: name.to_string(),
            global: s.is_global(),
            init,
            addr: s.address(),
            size: s.size(),
            ..Default::default()
        });
    }
    // Data symbols (per-CPU variables included), deduplicated likewise.
    let layout = DataLayout::new(&obj);
    let mut seen_vars = BTreeSet::new();
    for s in obj.symbols() {
        let Ok(name) = s.name() else { continue };
        if !matches!(s.kind(), SymbolKind::Data | SymbolKind::Tls) || s.size() == 0 {
            continue;
        }
        if !seen_vars.insert((s.address(), name.to_string())) {
            continue;
        }
        let section = s
            .section_index()
            .and_then(|i| obj.section_by_index(i).ok())
            .and_then(|sec| sec.name().ok().map(str::to_string))
            .unwrap_or_default();
        g.vars.push(Var {
            name: name.to_string(),
            global: s.is_global(),
            addr: s.address(),
            size: s.size(),
            kind: layout.kind(&section, s.address()),
            ..Default::default()
        });
    }
    let var_pos = sympos(g.vars.iter().map(|v| (v.name.as_str(), v.addr)));
    for (v, p) in g.vars.iter_mut().zip(var_pos) {
        v.sympos = p;
    }
    let vars = AddrIndex::new_vars(&g.vars);
    let fn_pos = sympos(g.funcs.iter().map(|f| (f.name.as_str(), f.addr)));
    for (f, p) in g.funcs.iter_mut().zip(fn_pos) {
        f.sympos = p;
    }
    let mut by_name: HashMap<String, Vec<FuncId>> = HashMap::new();
    for (i, f) in g.funcs.iter().enumerate() {
        by_name.entry(f.name.clone()).or_default().push(i);
    }
    for f in g.funcs.iter_mut() {
        f.exported = exported.contains(&f.name);
    }
    let index = AddrIndex::new(&g.funcs);

    // 2. Calls and address-taken functions, from the machine code.
    progress("decoding machine code");
    for sec in obj.sections() {
        if sec.kind() != SectionKind::Text {
            continue;
        }
        let Ok(bytes) = sec.data() else { continue };
        let base = sec.address();
        let funcs: Vec<FuncId> = index
            .starts
            .iter()
            .filter(|&&(a, _, _)| a >= base && a < base + bytes.len() as u64)
            .map(|&(_, _, i)| i)
            .collect();
        for caller in funcs {
            let f = &g.funcs[caller];
            let off = (f.addr - base) as usize;
            let end = (off + f.size as usize).min(bytes.len());
            let mut dec = Decoder::with_ip(64, &bytes[off..end], f.addr, DecoderOptions::NONE);
            while dec.can_decode() {
                let ins = dec.decode();
                match ins.flow_control() {
                    FlowControl::Call
                    | FlowControl::UnconditionalBranch
                    | FlowControl::ConditionalBranch
                        if ins.op0_kind() == OpKind::NearBranch64 =>
                    {
                        let t = ins.near_branch_target();
                        // Jumps inside the same function are not edges.
                        if let Some(z) = index.at(t) {
                            if z != caller {
                                g.calls.insert((caller, z));
                            }
                        }
                        continue;
                    }
                    _ => {}
                }
                if ins.is_ip_rel_memory_operand() {
                    if let Some(z) = index.at(ins.ip_rel_memory_address()) {
                        g.address_taken.insert(z);
                    }
                }
                for v in taken_addresses(&ins) {
                    if let Some(z) = index.at(v) {
                        g.address_taken.insert(z);
                    }
                    if let Some(var) = vars.containing(v) {
                        g.var_addr_taken.insert((caller, var));
                    } else if layout.is_const(v) {
                        g.const_refs.push((caller, v));
                    }
                }
            }
        }
    }

    // 3. Address-taken through relocations (data tables, ops structures).
    progress("relocations");
    let texts: Vec<(u64, &[u8])> = obj
        .sections()
        .filter(|s| s.kind() == SectionKind::Text)
        .filter_map(|s| Some((s.address(), s.data().ok()?)))
        .collect();
    for sec in obj.sections() {
        // (vmlinux's .data is WAX: go by name, not by flags.)
        let text = sec.kind() == SectionKind::Text && sec.name().is_ok_and(|n| n.ends_with("text"));
        // Only code and data that the kernel runs or dereferences: not the
        // metadata tables that point at every function (ORC, ENDBR seal,
        // call/return sites, alternatives, bug/exception tables, DWARF).
        let name = sec.name().unwrap_or("");
        // (.init.data is left out: its tables, such as __mcount_loc, point at
        // every traceable function, and it is gone after boot.)
        let counts = matches!(name, ".text" | ".init.text" | ".data" | "__param")
            || name.starts_with(".data.")
            || name.starts_with(".rodata");
        if !counts {
            continue;
        }
        for (off, rel) in sec.relocations() {
            // A function pointer stored in data is an absolute relocation;
            // relative ones in data are tables of offsets (kallsyms, ksymtab).
            if !text && rel.kind() != object::RelocationKind::Absolute {
                continue;
            }
            let target = match rel.target() {
                RelocationTarget::Symbol(si) => match obj.symbol_by_index(si) {
                    Ok(s) => s.address().wrapping_add(rel.addend() as u64),
                    Err(_) => continue,
                },
                _ => continue,
            };
            // r_offset is a section offset in relocatable files and an
            // address in linked ones (--emit-relocs).
            let at = match obj.kind() {
                object::ObjectKind::Relocatable => sec.address() + off,
                _ => off,
            };
            // Data used by code: (function, variable).  PC-relative
            // operands are biased by -4 (the rest of the instruction).
            if !text {
                if let Some(v) = vars.containing(target) {
                    g.data_referenced.insert(v);
                }
            } else if let Some(f) = index.containing(at) {
                let pcrel = rel.kind() != object::RelocationKind::Absolute;
                let t = if pcrel {
                    target.wrapping_add(4)
                } else {
                    target
                };
                if let Some(v) = vars.containing(t) {
                    g.var_refs.insert((f, v));
                }
            }
            // In code, a PC-relative relocation's addend is biased by the
            // operand's distance to the next instruction (-4 for calls).
            let candidates = if text {
                [target.wrapping_add(4), target]
            } else {
                [target, target]
            };
            for t in candidates {
                if let Some(z) = index.at(t) {
                    // A relocation of a call/jmp operand is a call, not a
                    // reference: those were taken from the code above.
                    let is_call = text && is_branch_operand(&texts, at);
                    if !is_call {
                        g.address_taken.insert(z);
                    }
                    break;
                }
            }
        }
    }

    // 4. Clones: `foo.isra.0` -> `foo`, when `foo` exists (same file checked
    //    once DWARF is read).
    for i in 0..g.funcs.len() {
        if !g.funcs[i].is_clone() {
            continue;
        }
        let base = g.funcs[i].base_name().to_string();
        if let Some(ids) = by_name.get(&base) {
            // Unique base, or the one whose file matches (set after DWARF).
            if ids.len() == 1 {
                g.funcs[i].clone_of = Some(ids[0]);
            }
        }
    }

    progress("DWARF");
    read_dwarf(&obj, src, &index, &vars, &mut g)?;
    // Resolve clones of duplicated names by file.
    for i in 0..g.funcs.len() {
        if g.funcs[i].clone_of.is_some() || !g.funcs[i].is_clone() {
            continue;
        }
        let base = g.funcs[i].base_name().to_string();
        if let Some(ids) = by_name.get(&base) {
            let file = g.funcs[i].file.clone();
            let same: Vec<_> = ids.iter().filter(|&&b| g.funcs[b].file == file).collect();
            if same.len() == 1 {
                g.funcs[i].clone_of = Some(*same[0]);
            }
        }
    }
    Ok(g)
}

/// kallsyms sympos of each (name, address): 0 when the name is unique,
/// else the 1-based position in address order among symbols of that name.
fn sympos<'a>(syms: impl Iterator<Item = (&'a str, u64)>) -> Vec<u32> {
    let syms: Vec<(&str, u64)> = syms.collect();
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (n, _)) in syms.iter().enumerate() {
        by_name.entry(n).or_default().push(i);
    }
    let mut pos = vec![0; syms.len()];
    for ids in by_name.values_mut() {
        if ids.len() > 1 {
            ids.sort_by_key(|&i| syms[i].1);
            for (k, &i) in ids.iter().enumerate() {
                pos[i] = k as u32 + 1;
            }
        }
    }
    pos
}

/// The addresses an instruction takes rather than reads or writes: those
/// of a `lea`, and immediates (`mov $sym, %reg`, `movq $sym, 8(%rbx)`).
fn taken_addresses(ins: &Instruction) -> Vec<u64> {
    let mut out = Vec::new();
    if ins.mnemonic() == Mnemonic::Lea {
        out.push(if ins.is_ip_rel_memory_operand() {
            ins.ip_rel_memory_address()
        } else {
            ins.memory_displacement64()
        });
    }
    for op in 0..ins.op_count() {
        match ins.op_kind(op) {
            OpKind::Immediate32to64 => out.push(ins.immediate32to64() as u64),
            OpKind::Immediate64 => out.push(ins.immediate64()),
            OpKind::Immediate32 => out.push(u64::from(ins.immediate32())),
            _ => {}
        }
    }
    out
}

/// Where vmlinux keeps state and where constants: `.rodata` holds the
/// `__ro_after_init` data too (between `__start_ro_after_init` and
/// `__end_ro_after_init`), which is state set at boot.
struct DataLayout {
    rodata: Option<(u64, u64)>,
    ro_after_init: Option<(u64, u64)>,
}

impl DataLayout {
    fn new(obj: &object::File<'_>) -> Self {
        let rodata = obj
            .section_by_name(".rodata")
            .map(|s| (s.address(), s.address() + s.size()));
        let sym = |n: &str| {
            obj.symbols()
                .find(|s| s.name() == Ok(n))
                .map(|s| s.address())
        };
        let ro_after_init = sym("__start_ro_after_init").zip(sym("__end_ro_after_init"));
        DataLayout {
            rodata,
            ro_after_init,
        }
    }

    fn within(r: Option<(u64, u64)>, a: u64) -> bool {
        r.is_some_and(|(s, e)| s <= a && a < e)
    }

    /// Constant data: `.rodata` outside `__ro_after_init`.
    fn is_const(&self, a: u64) -> bool {
        Self::within(self.rodata, a) && !Self::within(self.ro_after_init, a)
    }

    /// The kind of a variable of `section` at `addr`.
    fn kind(&self, section: &str, addr: u64) -> VarKind {
        if self.is_const(addr) {
            VarKind::Const
        } else if Self::within(self.ro_after_init, addr)
            || [".data", ".bss", ".tbss", ".tdata", ".brk"]
                .iter()
                .any(|p| section.starts_with(p))
        {
            VarKind::State
        } else if section.starts_with(".rodata") {
            VarKind::Const
        } else {
            VarKind::Other
        }
    }
}

/// Whether the 4 bytes at `addr` are the rel32 operand of a call/jmp/jcc.
fn is_branch_operand(texts: &[(u64, &[u8])], addr: u64) -> bool {
    for &(a, d) in texts {
        if addr < a + 2 || addr >= a + d.len() as u64 {
            continue;
        }
        let o = (addr - a) as usize;
        return matches!(d[o - 1], 0xe8 | 0xe9)
            || (d[o - 2] == 0x0f && (0x80..=0x8f).contains(&d[o - 1]));
    }
    false
}

/// The source file of a DIE (`DW_AT_decl_file`), relative to `src`.
fn decl_file<'a>(
    dwarf: &gimli::Dwarf<R<'a>>,
    unit: &gimli::Unit<R<'a>>,
    entry: &gimli::DebuggingInformationEntry<'_, '_, R<'a>>,
    attr: gimli::DwAt,
    src: &str,
) -> Option<String> {
    let idx = match entry.attr_value(attr).ok()?? {
        AttributeValue::FileIndex(i) => i,
        v => v.udata_value()?,
    };
    file_name(dwarf, unit, idx, src)
}

pub(crate) fn file_name<'a>(
    dwarf: &gimli::Dwarf<R<'a>>,
    unit: &gimli::Unit<R<'a>>,
    idx: u64,
    src: &str,
) -> Option<String> {
    let lp = unit.line_program.as_ref()?;
    let header = lp.header();
    let file = header.file(idx)?;
    let mut path = String::new();
    if let Some(dir) = file.directory(header) {
        let d = dwarf.attr_string(unit, dir).ok()?;
        path.push_str(&d.to_string_lossy());
        path.push('/');
    }
    let n = dwarf.attr_string(unit, file.path_name()).ok()?;
    path.push_str(&n.to_string_lossy());
    Some(normalize(&path, src))
}

/// Make a DWARF path relative to the source tree and drop `./` and `..`.
fn normalize(path: &str, src: &str) -> String {
    let p = path
        .strip_prefix(src)
        .unwrap_or(path)
        .trim_start_matches('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// Walk every DIE: attribute out-of-line functions to their source files
/// and collect inlined calls.
fn read_dwarf(
    obj: &object::File<'_>,
    src: &Path,
    index: &AddrIndex,
    vars: &AddrIndex,
    g: &mut Graph,
) -> Result<()> {
    let load = |id: gimli::SectionId| -> Result<R<'_>, gimli::Error> {
        let data = obj
            .section_by_name(id.name())
            .and_then(|s| s.data().ok())
            .unwrap_or(&[]);
        Ok(EndianSlice::new(data, LittleEndian))
    };
    let dwarf = gimli::Dwarf::load(load)?;
    let src = src.to_string_lossy().to_string();
    let mut units = dwarf.units();
    let mut files: BTreeMap<FuncId, (String, u32)> = BTreeMap::new();
    let mut var_files: BTreeMap<usize, String> = BTreeMap::new();
    let mut decls: Vec<(Vec<usize>, Decl)> = Vec::new();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let unit_key = statics::unit_key(&normalize(
            &unit
                .name
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            &src,
        ));
        let mut entries = unit.entries();
        // Stack of (depth, function id) of enclosing out-of-line functions.
        let mut depth = 0isize;
        let mut enclosing: Vec<(isize, FuncId)> = Vec::new();
        let mut scopes = Scopes::default();
        while let Some((delta, entry)) = entries.next_dfs()? {
            depth += delta;
            while enclosing.last().is_some_and(|&(d, _)| d >= depth) {
                enclosing.pop();
            }
            scopes.enter(depth);
            match entry.tag() {
                gimli::DW_TAG_subprogram => {
                    scopes.push(
                        depth,
                        statics::die_name(&dwarf, &unit, entry).unwrap_or_default(),
                    );
                    // Out-of-line code: low_pc, or ranges when the function
                    // was split (hot part + `.cold` part).
                    let mut ids = Vec::new();
                    if let Ok(mut ranges) = dwarf.die_ranges(&unit, entry) {
                        while let Ok(Some(r)) = ranges.next() {
                            ids.extend_from_slice(index.all_at(r.begin));
                        }
                    }
                    let Some(&main) = ids.first() else { continue };
                    let file = match decl_file(&dwarf, &unit, entry, gimli::DW_AT_decl_file, &src) {
                        Some(f) => Some((f, decl_line(entry))),
                        None => origin_file_line(&dwarf, &unit, entry, &src),
                    };
                    if let Some(f) = file {
                        for &id in &ids {
                            files.entry(id).or_insert_with(|| f.clone());
                        }
                    }
                    enclosing.push((depth, main));
                }
                gimli::DW_TAG_variable => {
                    let Ok(Some(AttributeValue::Exprloc(expr))) =
                        entry.attr_value(gimli::DW_AT_location)
                    else {
                        continue;
                    };
                    let mut ops = expr.operations(unit.encoding());
                    let Ok(Some(gimli::Operation::Address { address })) = ops.next() else {
                        continue;
                    };
                    let file = decl_file(&dwarf, &unit, entry, gimli::DW_AT_decl_file, &src)
                        .or_else(|| spec_file(&dwarf, &unit, entry, &src));
                    if let Some(f) = file {
                        for &v in vars.all_at(address) {
                            var_files.entry(v).or_insert_with(|| f.clone());
                        }
                    }
                    let ids = vars.all_at(address);
                    let seq = decls.len();
                    if let Some(d) = (!ids.is_empty())
                        .then(|| Decl::of(&dwarf, &unit, &unit_key, &scopes, entry, seq))
                        .flatten()
                    {
                        decls.push((ids.to_vec(), d));
                    }
                }
                gimli::DW_TAG_inlined_subroutine => {
                    let Some(&(_, into)) = enclosing.last() else {
                        continue;
                    };
                    let Some((name, file)) = origin_name_file(&dwarf, &unit, entry, &src) else {
                        continue;
                    };
                    let call_file = decl_file(&dwarf, &unit, entry, gimli::DW_AT_call_file, &src)
                        .unwrap_or_default();
                    let line = entry
                        .attr_value(gimli::DW_AT_call_line)
                        .ok()
                        .flatten()
                        .and_then(|v| v.udata_value())
                        .unwrap_or(0);
                    g.inlined.push(Inlined {
                        into,
                        name,
                        file,
                        site: format!("{call_file}:{line}"),
                    });
                }
                _ => {}
            }
        }
    }
    for (id, (f, line)) in files {
        g.funcs[id].file = f;
        g.funcs[id].line = line;
    }
    for (id, f) in var_files {
        g.vars[id].file = f;
    }
    // A variable described twice (an abstract and a concrete DIE) keeps
    // its first description.
    let mut seen = BTreeSet::new();
    decls.retain(|(ids, _)| seen.insert(ids[0]));
    let just: Vec<Decl> = decls.iter().map(|(_, d)| d.clone()).collect();
    for ((ids, _), key) in decls.iter().zip(statics::rank(&just)) {
        for &v in ids {
            g.vars[v].decl = key.clone();
        }
    }
    // Functions without DWARF (assembly) keep an empty file.
    Ok(())
}

/// Follow `DW_AT_abstract_origin` / `DW_AT_specification` to the DIE that
/// carries the name and declaration file.
fn origin_name_file<'a>(
    dwarf: &gimli::Dwarf<R<'a>>,
    unit: &gimli::Unit<R<'a>>,
    entry: &gimli::DebuggingInformationEntry<'_, '_, R<'a>>,
    src: &str,
) -> Option<(String, String)> {
    let mut off = match entry.attr_value(gimli::DW_AT_abstract_origin).ok()?? {
        AttributeValue::UnitRef(o) => o,
        _ => return None,
    };
    for _ in 0..4 {
        let e = unit.entry(off).ok()?;
        let name = e
            .attr_value(gimli::DW_AT_name)
            .ok()
            .flatten()
            .and_then(|v| dwarf.attr_string(unit, v).ok())
            .map(|s| s.to_string_lossy().to_string());
        let file = decl_file(dwarf, unit, &e, gimli::DW_AT_decl_file, src);
        if let (Some(n), Some(f)) = (name, file) {
            return Some((n, f));
        }
        match e.attr_value(gimli::DW_AT_specification).ok()?? {
            AttributeValue::UnitRef(o) => off = o,
            _ => return None,
        }
    }
    None
}

/// The declaration file of a variable definition that refers to its
/// declaration through `DW_AT_specification`.
fn spec_file<'a>(
    dwarf: &gimli::Dwarf<R<'a>>,
    unit: &gimli::Unit<R<'a>>,
    entry: &gimli::DebuggingInformationEntry<'_, '_, R<'a>>,
    src: &str,
) -> Option<String> {
    let AttributeValue::UnitRef(off) = entry.attr_value(gimli::DW_AT_specification).ok()?? else {
        return None;
    };
    let e = unit.entry(off).ok()?;
    decl_file(dwarf, unit, &e, gimli::DW_AT_decl_file, src)
}

/// `DW_AT_decl_line` of a DIE, 0 if absent.
fn decl_line(entry: &gimli::DebuggingInformationEntry<'_, '_, R<'_>>) -> u32 {
    entry
        .attr_value(gimli::DW_AT_decl_line)
        .ok()
        .flatten()
        .and_then(|v| v.udata_value())
        .unwrap_or(0) as u32
}

/// File and line of the DIE an out-of-line instance refers to.
fn origin_file_line<'a>(
    dwarf: &gimli::Dwarf<R<'a>>,
    unit: &gimli::Unit<R<'a>>,
    entry: &gimli::DebuggingInformationEntry<'_, '_, R<'a>>,
    src: &str,
) -> Option<(String, u32)> {
    let AttributeValue::UnitRef(off) = entry.attr_value(gimli::DW_AT_abstract_origin).ok()?? else {
        return None;
    };
    let e = unit.entry(off).ok()?;
    let file = decl_file(dwarf, unit, &e, gimli::DW_AT_decl_file, src)?;
    Some((file, decl_line(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sympos_in_address_order() {
        let p = sympos([("a", 30), ("b", 5), ("a", 10), ("a", 20)].into_iter());
        assert_eq!(p, vec![3, 0, 1, 2]);
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(
            normalize("/s/kernel/sched/../sched/core.c", "/s"),
            "kernel/sched/core.c"
        );
        assert_eq!(
            normalize("/s/./kernel/sched/fair.c", "/s/"),
            "kernel/sched/fair.c"
        );
        assert_eq!(
            normalize("include/linux/sched.h", "/s"),
            "include/linux/sched.h"
        );
    }
}

/// End to end on a tiny synthetic "kernel" compiled and linked by the test
/// with the same kind of toolchain (gcc -O2 -g, ld --emit-relocs).
#[cfg(test)]
mod e2e {
    use super::*;
    use crate::boundary::{
        algo::{
            classify,
            Class, //
        },
        config,
    };
    use std::process::Command;

    const CORE: &str = r#"
#define NI __attribute__((noinline, noclone))
struct ops { void (*tick)(int); };
void helper2(int x);
static NI int pick(int x) { return x * 3; }
NI void schedule(int x) { helper2(pick(x)); }
static int state_counter;
static const int weights[4] = { 1, 2, 3, 4 };
static NI void bump(int i) { state_counter += weights[i & 3]; }
NI void task_tick(int x) { bump(pick(x + 1)); }
const struct ops fair_ops = { .tick = task_tick };
NI long __x64_sys_sched_yield(int x) { schedule(x); return 0; }
static inline int inlined_only(int x) { return x + 40; }
NI void helper2(int x) { asm volatile("" :: "r"(inlined_only(x))); }
struct lock_class_key { char k[16]; };
void lock_init(void *l, const char *name, struct lock_class_key *key);
NI void init_lock(void *l) { static struct lock_class_key __key; lock_init(l, "&l->lock", &__key); }
"#;

    const OTHER: &str = r#"
struct ops { void (*tick)(int); };
extern const struct ops fair_ops;
void helper2(int x);
void schedule(int x);
long __x64_sys_sched_yield(int x);
__attribute__((noinline)) void outsider(int x) { helper2(x); }
struct lock_class_key;
void lock_init(void *l, const char *name, struct lock_class_key *key) { asm volatile("" :: "r"(l), "r"(name), "r"(key)); }
void init_lock(void *l);
static long a_lock;
void entry(void) {
    init_lock(&a_lock);
    schedule(1);
    outsider(2);
    fair_ops.tick(3);
    __x64_sys_sched_yield(4);
    for (;;) ;
}
"#;

    #[test]
    fn synthetic_kernel() {
        let dir = std::env::temp_dir().join(format!("plugsched-e2e-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("kernel/sched")).unwrap();
        std::fs::write(dir.join("kernel/sched/core.c"), CORE).unwrap();
        std::fs::write(dir.join("other.c"), OTHER).unwrap();
        let out = Command::new("gcc")
            .current_dir(&dir)
            .args([
                "-O2",
                "-g",
                "-fno-pie",
                "-no-pie",
                "-nostdlib",
                "-fcf-protection=branch",
                "-Wl,--emit-relocs",
                "-Wl,-e,entry",
                "-o",
                "vmlinux",
                "kernel/sched/core.c",
                "other.c",
            ])
            .output()
            .expect("gcc");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let src = dir.canonicalize().unwrap();
        let g = read_graph(&src.join("vmlinux"), &src, &|_| {}).unwrap();
        let id = |n: &str| {
            g.funcs
                .iter()
                .position(|f| f.name == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        assert_eq!(g.funcs[id("pick")].file, "kernel/sched/core.c");
        assert_eq!(g.funcs[id("outsider")].file, "other.c");
        assert!(
            g.calls.contains(&(id("schedule"), id("pick"))),
            "static call"
        );
        assert!(g.calls.contains(&(id("outsider"), id("helper2"))));
        assert!(g.address_taken.contains(&id("task_tick")));
        assert!(!g.address_taken.contains(&id("pick")));
        assert!(g
            .inlined
            .iter()
            .any(|i| i.name == "inlined_only" && i.into == id("helper2")));

        // Variables: where the source declares them, their kind, and
        // whether code takes their address or only reads and writes them.
        let var = |n: &str| {
            g.vars
                .iter()
                .position(|v| v.name == n || v.name.starts_with(&format!("{n}.")))
                .unwrap_or_else(|| panic!("{n}"))
        };
        let key = &g.vars[var("__key")];
        assert_eq!(
            (
                key.decl.unit.as_str(),
                key.decl.scope.as_str(),
                key.decl.name.as_str()
            ),
            ("kernel/sched/core.c", "init_lock", "__key")
        );
        assert_eq!(key.kind, VarKind::State);
        assert_eq!(g.vars[var("weights")].kind, VarKind::Const);
        assert_eq!(g.vars[var("state_counter")].decl.scope, "");
        assert!(g.var_addr_taken.contains(&(id("init_lock"), var("__key"))));
        assert!(g.var_refs.contains(&(id("bump"), var("state_counter"))));
        assert!(!g
            .var_addr_taken
            .contains(&(id("bump"), var("state_counter"))));
        assert!(!g.var_addr_taken.contains(&(id("bump"), var("weights"))));
        assert!(
            g.const_refs.iter().any(|&(f, _)| f == id("init_lock")),
            "the lock's name is taken by init_lock"
        );

        let b = config::parse(
            "files = [\"kernel/sched/core.c\"]\n\
             interface_prefixes = [\"__x64_sys_\"]\n\
             interfaces = [\"schedule\"]\n",
        )
        .unwrap();
        let c = classify(&g, &b);
        let class = |n: &str| c.class[&id(n)];
        assert_eq!(class("schedule"), Class::Interface);
        assert_eq!(class("__x64_sys_sched_yield"), Class::Interface);
        assert_eq!(class("task_tick"), Class::Callback);
        assert_eq!(class("pick"), Class::Internal);
        assert_eq!(class("helper2"), Class::External);
        assert!(!c.class.contains_key(&id("outsider")));
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        // The key (address taken) and the counter (state) are vmlinux's;
        // the constant table the module only reads is its own.
        use crate::boundary::algo::DataClass;
        assert_eq!(c.data[&var("__key")], DataClass::Shared);
        assert_eq!(c.data[&var("state_counter")], DataClass::Shared);
        assert_eq!(c.data[&var("weights")], DataClass::Private);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
