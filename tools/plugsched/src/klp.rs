// SPDX-License-Identifier: GPL-2.0

//! `klp-convert`: let a module use non-exported vmlinux symbols, resolved by
//! the kernel's own module loader.
//!
//! Linux's loader hands every section flagged `SHF_RELA_LIVEPATCH`
//! (`.klp.rela.vmlinux.<sec>`) to `klp_apply_section_relocs()`, for any
//! module, which resolves each `SHN_LIVEPATCH` symbol named
//! `.klp.sym.vmlinux.<name>,<sympos>` through kallsyms (so KASLR does not
//! matter) and applies the relocation.  `sympos` 0 means "must be unique";
//! `n > 0` picks the n-th symbol of that name in kallsyms (address) order.
//!
//! This pass rewrites a linked module: every undefined symbol that the
//! target vmlinux does not export (per its `Module.symvers`) becomes such a
//! klp symbol, with its sympos computed from the target's `System.map`.
//! The kernel looks a klp symbol up once per relocation of a klp section,
//! and the look-up gives the symbol its address (`st_value`); it applies
//! relocation sections in section order.  So the first relocation against
//! each symbol is copied into a `.klp.rela.vmlinux.<sec>` section, the
//! others into plain relocation sections `.klp.bound.<sec>` after every
//! klp section, which the kernel applies against the resolved symbol like
//! relocations against a defined one: one kallsyms look-up per symbol
//! instead of one per relocation.  The originals become `R_*_NONE` (as
//! objtool's `klp post-link` does).
//!
//! binutils' `strip` (2.40), which the build runs and distributions run
//! on modules, rewrites relocation sections whose names start with
//! `.rela` from its own model of relocations, in which one against a
//! `SHN_LIVEPATCH` symbol loses its symbol; it copies other relocation
//! sections with their symbol indices renumbered.  So the module's own
//! `.rela*` sections keep no relocation against a klp symbol, and the
//! added sections' names do not start with `.rela` (host tests strip a
//! converted object and compare).
//!
//! A symbol that is missing, ambiguous, or exists only as a compiler clone
//! fails the conversion with a message naming it.  The rewrite is done
//! once at build time, so the module can be signed afterwards.

use std::collections::{
    BTreeMap,
    HashMap,
    HashSet, //
};

use anyhow::{
    bail,
    Context,
    Result, //
};

use crate::elf::{
    self,
    Elf, //
};

/// One symbol of a `System.map`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSym {
    /// Address (as linked; kallsyms order is address order).
    pub addr: u64,
    /// `nm` type letter (`T`, `t`, `D`, `d`, `b`, ...).
    pub kind: char,
}

impl MapSym {
    fn global(&self) -> bool {
        self.kind.is_ascii_uppercase()
    }
}

/// The symbols of a target vmlinux, by name, each list in address order.
#[derive(Default)]
pub struct SymbolMap {
    by_name: HashMap<String, Vec<MapSym>>,
    /// Clone suffixes seen per base name (`foo` -> `foo.isra.0`, ...).
    clones: HashMap<String, Vec<String>>,
}

impl SymbolMap {
    /// Parse `System.map` (`nm -n` format: `addr type name`).
    pub fn parse(text: &str) -> Result<Self> {
        let mut m = SymbolMap::default();
        for (n, line) in text.lines().enumerate() {
            let mut it = line.split_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let addr = u64::from_str_radix(addr, 16)
                .with_context(|| format!("System.map line {}: bad address '{addr}'", n + 1))?;
            let kind = kind.chars().next().unwrap_or('?');
            if let Some((base, _)) = name.split_once('.') {
                if !base.is_empty() {
                    m.clones
                        .entry(base.to_string())
                        .or_default()
                        .push(name.to_string());
                }
            }
            m.by_name
                .entry(name.to_string())
                .or_default()
                .push(MapSym { addr, kind });
        }
        for v in m.by_name.values_mut() {
            v.sort_by_key(|s| s.addr);
        }
        if m.by_name.is_empty() {
            bail!("System.map has no symbols");
        }
        Ok(m)
    }

    /// All symbols named `name`, in kallsyms order.
    pub fn get(&self, name: &str) -> &[MapSym] {
        self.by_name.get(name).map_or(&[], |v| v.as_slice())
    }

    /// Every symbol, by name (in no particular order).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &MapSym)> {
        self.by_name
            .iter()
            .flat_map(|(n, v)| v.iter().map(move |s| (n.as_str(), s)))
    }

    /// The sympos of the symbol `name` at `addr` (0 when the name is
    /// unique), if there is one.
    pub fn sympos_at(&self, name: &str, addr: u64) -> Option<u64> {
        let c = self.get(name);
        let i = c.iter().position(|s| s.addr == addr)?;
        Some(if c.len() == 1 { 0 } else { i as u64 + 1 })
    }
}

/// Names exported by vmlinux, from `Module.symvers`
/// (`crc<TAB>name<TAB>module<TAB>export<TAB>namespace`).
pub fn parse_symvers(text: &str) -> HashSet<String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (_, name, module) = (f.next()?, f.next()?, f.next()?);
            (module == "vmlinux").then(|| name.to_string())
        })
        .collect()
}

/// Explicit sympos choices: lines `name sympos` (`#` starts a comment).
pub fn parse_sympos(text: &str) -> Result<HashMap<String, u64>> {
    let mut m = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut it = line.split_whitespace();
        let (Some(name), Some(pos), None) = (it.next(), it.next(), it.next()) else {
            bail!("sympos line {}: expected 'name sympos'", n + 1);
        };
        let pos = pos
            .parse()
            .with_context(|| format!("sympos line {}: bad position '{pos}'", n + 1))?;
        m.insert(name.to_string(), pos);
    }
    Ok(m)
}

/// How one undefined symbol was converted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Converted {
    /// The symbol's name.
    pub name: String,
    /// Its sympos (0: unique in vmlinux).
    pub sympos: u64,
    /// `nm` type in vmlinux.
    pub kind: char,
    /// Relocations moved into `.klp.rela.vmlinux.*` sections.
    pub relocs: usize,
}

/// Decide the sympos of `name`, or explain why it cannot be bound.
fn sympos_of(
    name: &str,
    map: &SymbolMap,
    hints: &HashMap<String, u64>,
) -> Result<(u64, char), String> {
    if name.contains('.') {
        return Err(format!(
            "'{name}' is a compiler clone name; clones cannot be referenced (their ABI is private)"
        ));
    }
    let cands = map.get(name);
    if cands.is_empty() {
        if let Some(clones) = map.clones.get(name) {
            return Err(format!(
                "'{name}' is not in vmlinux; only its clone(s) {} exist",
                clones.join(", ")
            ));
        }
        return Err(format!(
            "'{name}' is neither exported nor defined in vmlinux"
        ));
    }
    if let Some(&pos) = hints.get(name) {
        if pos == 0 && cands.len() > 1 || pos as usize > cands.len() {
            return Err(format!(
                "'{name}': sympos {pos} given, but vmlinux has {} symbol(s) of that name",
                cands.len()
            ));
        }
        let kind = cands[(pos as usize).max(1) - 1].kind;
        return Ok((pos, kind));
    }
    if cands.len() == 1 {
        return Ok((0, cands[0].kind));
    }
    // An `extern` declaration binds to the one global definition, if any.
    let globals: Vec<usize> = (0..cands.len()).filter(|&i| cands[i].global()).collect();
    if globals.len() == 1 {
        let i = globals[0];
        return Ok((i as u64 + 1, cands[i].kind));
    }
    let list: Vec<String> = cands
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}: {:#x} {}", i + 1, s.addr, s.kind))
        .collect();
    Err(format!(
        "'{name}' is ambiguous in vmlinux ({}); give its sympos",
        list.join(", ")
    ))
}

/// Undefined symbols named with this prefix always mean the vmlinux symbol
/// after it, even where the module has its own symbol of that name (the
/// `__schedule` split jumps into vmlinux's `__schedule`).  A `,N` suffix
/// gives the sympos (`__plugsched_vmlinux___key.9,2`: `plugsched
/// bind-data` names vmlinux's statics so, dots and all).
pub const VMLINUX_PREFIX: &str = "__plugsched_vmlinux_";

/// The vmlinux name an undefined symbol of the module refers to.
fn vmlinux_name(name: &str) -> &str {
    match name.strip_prefix(VMLINUX_PREFIX) {
        Some(rest) => rest.split_once(',').map_or(rest, |(n, _)| n),
        None => name,
    }
}

/// The sympos an undefined symbol's name gives (`,N` after an explicit
/// vmlinux name), if any.
fn named_sympos(name: &str) -> Option<Result<u64, String>> {
    let (_, pos) = name.strip_prefix(VMLINUX_PREFIX)?.split_once(',')?;
    Some(
        pos.parse()
            .map_err(|_| format!("'{name}': bad sympos '{pos}'")),
    )
}

/// The vmlinux symbol named with its sympos: it must exist there.
fn given_sympos(name: &str, pos: u64, map: &SymbolMap) -> Result<(u64, char), String> {
    let cands = map.get(name);
    let ok = if pos == 0 {
        cands.len() == 1
    } else {
        pos as usize <= cands.len()
    };
    if !ok {
        return Err(format!(
            "'{name}': sympos {pos} given, but vmlinux has {} symbol(s) of that name",
            cands.len()
        ));
    }
    Ok((pos, cands[(pos as usize).max(1) - 1].kind))
}

/// Convert `ko` in memory.  Returns the new file and what was converted.
pub fn convert(
    ko: Vec<u8>,
    map: &SymbolMap,
    exported: &HashSet<String>,
    hints: &HashMap<String, u64>,
) -> Result<(Vec<u8>, Vec<Converted>)> {
    let syms = elf::symbols(&ko)?;

    // 1. Decide every symbol first, so all errors are reported together.
    let mut chosen: BTreeMap<usize, (u64, char)> = BTreeMap::new();
    let mut errors = Vec::new();
    for (i, s) in syms.iter().enumerate().skip(1) {
        let explicit = s.name.starts_with(VMLINUX_PREFIX);
        if s.shndx != elf::SHN_UNDEF
            || s.name.is_empty()
            || (exported.contains(&s.name) && !explicit)
        {
            continue;
        }
        let decided = match named_sympos(&s.name) {
            Some(pos) => pos.and_then(|p| given_sympos(vmlinux_name(&s.name), p, map)),
            None => sympos_of(vmlinux_name(&s.name), map, hints),
        };
        match decided {
            Ok(p) => {
                chosen.insert(i, p);
            }
            Err(e) if elf::st_bind(s.info) == 2 && map.get(&s.name).is_empty() => {
                // An unresolved weak reference is legal; the loader leaves it 0.
                let _ = e;
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        bail!(
            "{} symbol(s) cannot be bound to vmlinux:\n  {}",
            errors.len(),
            errors.join("\n  ")
        );
    }
    if chosen.is_empty() {
        return Ok((ko, Vec::new())); // untouched, byte for byte
    }
    let plain = elf::without_addrsig(&ko)?;
    let mut elf = Elf::parse(&plain)?;

    // 2. Rename the symbols and mark them SHN_LIVEPATCH.
    for (&i, &(pos, _)) in &chosen {
        let name = format!(".klp.sym.vmlinux.{},{pos}", vmlinux_name(&syms[i].name));
        elf.set_symbol(i, name, elf::SHN_LIVEPATCH);
    }

    // 3. Move their relocations out of the module's own sections: the
    //    first against each symbol into .klp.rela.vmlinux.<target>, the
    //    others into .klp.bound.<target>, after every klp section (see
    //    the top of this file).
    let mut counts: HashMap<usize, usize> = HashMap::new();
    let mut moved = Vec::new();
    for r in elf.rela_sections() {
        if r.target_flags & elf::SHF_ALLOC == 0 && r.target_name != ".data..percpu" {
            continue; // the loader never applies these
        }
        let mut relas = elf.relas(&r);
        let (mut first, mut later) = (Vec::new(), Vec::new());
        for rel in relas.iter_mut() {
            if rel.rtype != 0 && chosen.contains_key(&(rel.sym as usize)) {
                let n = counts.entry(rel.sym as usize).or_default();
                if *n == 0 {
                    first.push(*rel)
                } else {
                    later.push(*rel)
                }
                *n += 1;
                rel.rtype = 0; // R_X86_64_NONE / R_AARCH64_NONE
            }
        }
        if !first.is_empty() || !later.is_empty() {
            elf.set_relas(&r, &relas);
            moved.push((r, first, later));
        }
    }
    for (r, first, _) in moved.iter().filter(|m| !m.1.is_empty()) {
        elf.add_rela_section(
            format!(".klp.rela.vmlinux.{}", r.target_name),
            elf::SHF_ALLOC | elf::SHF_INFO_LINK | elf::SHF_RELA_LIVEPATCH,
            r,
            first,
        );
    }
    for (r, _, later) in moved.iter().filter(|m| !m.2.is_empty()) {
        elf.add_rela_section(
            format!(".klp.bound.{}", r.target_name),
            elf::SHF_INFO_LINK,
            r,
            later,
        );
    }

    let report = chosen
        .iter()
        .map(|(&i, &(sympos, kind))| Converted {
            name: syms[i].name.clone(),
            sympos,
            kind,
            relocs: counts.get(&i).copied().unwrap_or(0),
        })
        .collect();
    Ok((elf.write()?, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::read_back;
    use crate::test_util::{
        run,
        Scratch, //
    };
    use std::path::Path;

    fn cc(dir: &Path, name: &str, src: &str) {
        std::fs::write(dir.join(format!("{name}.c")), src).unwrap();
        let c = format!("{name}.c");
        let o = format!("{name}.o");
        run(
            dir,
            "cc",
            &[
                "-c",
                "-O1",
                "-fno-pic",
                "-fno-asynchronous-unwind-tables",
                &c,
                "-o",
                &o,
            ],
        );
    }

    /// A fake "vmlinux" with two static `dup`s, linked for real, and its
    /// System.map made by `nm -n` as the kernel's mksysmap does.
    fn fake_vmlinux(dir: &Path) -> SymbolMap {
        cc(
            dir,
            "a",
            "static int __attribute__((noinline)) dup(int x) { return x + 1; }\n\
             int use_a(int x) { return dup(x); }\n\
             int hidden_fn(int x) { return x * 3; }\n\
             int hidden_var = 5;\n\
             int exported_fn(void) { return 7; }\n",
        );
        cc(
            dir,
            "b",
            "static int __attribute__((noinline)) dup(int x) { return x + 2; }\n\
             int use_b(int x) { return dup(x); }\n",
        );
        run(dir, "ld", &["-e", "0", "a.o", "b.o", "-o", "vmlinux"]);
        let nm = run(dir, "nm", &["-n", "vmlinux"]);
        assert_eq!(nm.matches(" dup\n").count(), 2, "{nm}");
        SymbolMap::parse(&nm).unwrap()
    }

    const MODULE: &str = "extern int hidden_fn(int);\n\
         extern int hidden_var;\n\
         extern int exported_fn(void);\n\
         extern int dup(int);\n\
         int f(void) { return hidden_fn(hidden_var) + exported_fn() + dup(1); }\n\
         int g(void) { return hidden_fn(2); }\n";

    /// The part of `readelf -r` output `relocs` that lists the section
    /// `name`.
    fn readelf_section<'a>(relocs: &'a str, name: &str) -> &'a str {
        let header = format!("Relocation section '{name}'");
        let after = relocs
            .split(header.as_str())
            .nth(1)
            .unwrap_or_else(|| panic!("{name} not listed by readelf:\n{relocs}"));
        after.split("Relocation section").next().unwrap_or_default()
    }

    fn exported() -> HashSet<String> {
        parse_symvers("0x00000000\texported_fn\tvmlinux\tEXPORT_SYMBOL\t\n0x0\tother\tdrivers/x\tEXPORT_SYMBOL\t\n")
    }

    #[test]
    fn explicit_vmlinux_names() {
        assert_eq!(vmlinux_name("__plugsched_vmlinux___schedule"), "__schedule");
        assert_eq!(vmlinux_name("__schedule"), "__schedule");
        assert_eq!(vmlinux_name("__plugsched_foo"), "__plugsched_foo");
        assert_eq!(vmlinux_name("__plugsched_vmlinux___key.9,2"), "__key.9");
        assert_eq!(named_sympos("__plugsched_vmlinux___key.9,2"), Some(Ok(2)));
        assert_eq!(named_sympos("__plugsched_vmlinux___schedule"), None);
        assert!(named_sympos("__plugsched_vmlinux_x,y").unwrap().is_err());
        let map = SymbolMap::parse(
            "ffffffff83000010 b __key.9
ffffffff83000020 b __key.9
ffffffff83000030 b once
",
        )
        .unwrap();
        assert_eq!(given_sympos("__key.9", 2, &map), Ok((2, 'b')));
        assert_eq!(given_sympos("once", 0, &map), Ok((0, 'b')));
        assert!(given_sympos("__key.9", 0, &map).is_err());
        assert!(given_sympos("__key.9", 3, &map).is_err());
        assert!(given_sympos("gone", 1, &map).is_err());
    }

    #[test]
    fn converts_module_and_readelf_agrees() {
        let t = Scratch::new("klp", "ok");
        let map = fake_vmlinux(t.path());
        cc(t.path(), "mod", MODULE);
        let before = std::fs::read(t.join("mod.o")).unwrap();
        let hints = parse_sympos("# the second dup\ndup 2\n").unwrap();
        let (after, conv) = convert(before.clone(), &map, &exported(), &hints).unwrap();

        let mut got: Vec<(String, u64, usize)> = conv
            .iter()
            .map(|c| (c.name.clone(), c.sympos, c.relocs))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("dup".into(), 2, 1),
                ("hidden_fn".into(), 0, 2),
                ("hidden_var".into(), 0, 1)
            ]
        );

        // An independent parser (binutils) reads the result.
        std::fs::write(t.join("out.o"), &after).unwrap();
        let relocs = run(t.path(), "readelf", &["-rW", "out.o"]);
        let klp = readelf_section(&relocs, ".klp.rela.vmlinux..text");
        // One relocation per symbol in the klp section; g's call of
        // hidden_fn, its second, is a plain relocation after it.
        assert_eq!(
            klp.matches(".klp.sym.vmlinux.hidden_fn,0").count(),
            1,
            "{relocs}"
        );
        let bound = readelf_section(&relocs, ".klp.bound..text");
        assert_eq!(
            bound.matches(".klp.sym.vmlinux.hidden_fn,0").count(),
            1,
            "{relocs}"
        );
        assert_eq!(bound.matches("R_X86_64_").count(), 1, "{relocs}");
        assert_eq!(
            klp.matches(".klp.sym.vmlinux.hidden_var,0").count(),
            1,
            "{relocs}"
        );
        assert_eq!(klp.matches(".klp.sym.vmlinux.dup,2").count(), 1, "{relocs}");
        assert!(!klp.contains("exported_fn"), "{relocs}");
        let plain = readelf_section(&relocs, ".rela.text");
        assert_eq!(plain.matches("R_X86_64_NONE").count(), 4, "{relocs}");
        assert!(plain.contains("exported_fn"), "{relocs}");
        let sections = run(t.path(), "readelf", &["-SW", "out.o"]);
        let line = sections
            .lines()
            .find(|l| l.contains(".klp.rela.vmlinux..text"))
            .unwrap();
        assert!(line.contains(" RELA "), "{line}");
        let syms = run(t.path(), "readelf", &["-sW", "out.o"]);
        assert!(syms.contains(".klp.sym.vmlinux.hidden_var,0"), "{syms}");

        // The object crate's reader: headers, relocations, symbol section
        // index, untouched sections.
        let s0 = read_back::sections(&before);
        let s1 = read_back::sections(&after);
        let k = s1
            .iter()
            .position(|s| s.name == ".klp.rela.vmlinux..text")
            .unwrap();
        assert_eq!(s1[k].sh_type, elf::SHT_RELA);
        assert_eq!(
            s1[k].flags,
            elf::SHF_ALLOC | elf::SHF_INFO_LINK | elf::SHF_RELA_LIVEPATCH
        );
        assert_eq!(s1[s1[k].info as usize].name, ".text");
        assert_eq!(s1[s1[k].link as usize].name, ".symtab");
        let mut klp = read_back::relocations(&after, ".klp.rela.vmlinux..text");
        klp.sort();
        let pc32 = object::elf::R_X86_64_PC32;
        let plt32 = object::elf::R_X86_64_PLT32;
        assert!(
            klp.iter().all(|(_, t)| [pc32, plt32].contains(t)),
            "{klp:?}"
        );
        let names: Vec<&str> = klp.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                ".klp.sym.vmlinux.dup,2",
                ".klp.sym.vmlinux.hidden_fn,0",
                ".klp.sym.vmlinux.hidden_var,0"
            ]
        );
        // The kernel applies relocation sections in section order: the
        // later relocations come after the klp section that resolves
        // their symbol.
        let b = s1
            .iter()
            .position(|s| s.name == ".klp.bound..text")
            .unwrap();
        assert!(b > k);
        assert_eq!(s1[b].sh_type, elf::SHT_RELA);
        assert_eq!(s1[b].flags, elf::SHF_INFO_LINK);
        assert_eq!(s1[s1[b].info as usize].name, ".text");
        assert_eq!(s1[s1[b].link as usize].name, ".symtab");
        let bound = read_back::relocations(&after, ".klp.bound..text");
        assert_eq!(bound.len(), 1);
        assert_eq!(bound[0].0, ".klp.sym.vmlinux.hidden_fn,0");
        let plain = read_back::relocations(&after, ".rela.text");
        assert_eq!(plain.iter().filter(|(_, t)| *t == 0).count(), 4);
        for s in elf::symbols(&after).unwrap() {
            if s.name.starts_with(".klp.sym.") {
                assert_eq!(s.shndx, elf::SHN_LIVEPATCH);
            }
        }
        assert_eq!(s1.len(), s0.len() + 2);
        for (a, b) in s0.iter().zip(&s1) {
            assert_eq!((&a.name, a.sh_type, a.flags), (&b.name, b.sh_type, b.flags));
            let edited = [".strtab", ".shstrtab", ".symtab"].contains(&a.name.as_str());
            if a.sh_type != elf::SHT_RELA && !edited {
                assert_eq!(a.data, b.data, "{}", a.name);
            }
        }
    }

    /// arm64: the relocations a module's code has against vmlinux
    /// (`bl`, `b`, `adrp` + `ldr`) move as they are, the first against
    /// each symbol to the klp section, the others to the plain one after
    /// it; the originals become R_AARCH64_NONE.  clang's object (its
    /// `.llvm_addrsig`, section names in `.strtab`) is read and written.
    #[test]
    fn converts_an_arm64_module() {
        let t = Scratch::new("klp", "arm64");
        let map = fake_vmlinux(t.path());
        std::fs::write(t.join("mod64.c"), MODULE).unwrap();
        run(
            t.path(),
            "clang",
            &[
                "--target=aarch64-linux-gnu",
                "-c",
                "-O1",
                "-fno-pic",
                "-fno-asynchronous-unwind-tables",
                "mod64.c",
                "-o",
                "mod64.o",
            ],
        );
        let before = std::fs::read(t.join("mod64.o")).unwrap();
        let hints = parse_sympos("dup 2\n").unwrap();
        let (after, conv) = convert(before, &map, &exported(), &hints).unwrap();
        assert_eq!(conv.len(), 3);
        let mut klp = read_back::relocations(&after, ".klp.rela.vmlinux..text");
        klp.sort();
        use object::elf::{
            R_AARCH64_ADR_PREL_PG_HI21 as HI21,
            R_AARCH64_CALL26 as CALL26,
            R_AARCH64_JUMP26 as JUMP26,
            R_AARCH64_LDST32_ABS_LO12_NC as LO12, //
        };
        // The first relocation against each symbol (in section order),
        // then the others (g's call is a tail call).
        let mut all = klp.clone();
        all.extend(read_back::relocations(&after, ".klp.bound..text"));
        all.sort();
        assert_eq!(
            all,
            [
                (".klp.sym.vmlinux.dup,2".to_string(), CALL26),
                (".klp.sym.vmlinux.hidden_fn,0".to_string(), JUMP26),
                (".klp.sym.vmlinux.hidden_fn,0".to_string(), CALL26),
                (".klp.sym.vmlinux.hidden_var,0".to_string(), HI21),
                (".klp.sym.vmlinux.hidden_var,0".to_string(), LO12),
            ]
        );
        assert_eq!(klp.len(), 3, "{klp:?}");
        std::fs::write(t.join("out.o"), &after).unwrap();
        let relocs = run(t.path(), "llvm-readelf", &["-rW", "out.o"]);
        let plain = readelf_section(&relocs, ".rela.text");
        assert_eq!(plain.matches("R_AARCH64_NONE").count(), 5, "{relocs}");
        assert!(plain.contains("exported_fn"), "{relocs}");
        strip_keeps_relocations(t.path(), "aarch64-linux-gnu-strip", "out.o");
    }

    #[test]
    fn converting_a_converted_module_changes_nothing() {
        let t = Scratch::new("klp", "twice");
        let map = fake_vmlinux(t.path());
        cc(t.path(), "mod", MODULE);
        let ko = std::fs::read(t.join("mod.o")).unwrap();
        let hints = parse_sympos("dup 2\n").unwrap();
        let (once, conv) = convert(ko, &map, &exported(), &hints).unwrap();
        assert_eq!(conv.len(), 3);
        let (twice, conv) = convert(once.clone(), &map, &exported(), &hints).unwrap();
        assert!(conv.is_empty());
        assert_eq!(once, twice);
    }

    /// Strip `file` in `dir` with binutils' `strip` (`tool`) as the build
    /// does (scripts/build-module.sh), and check that every relocation section the kernel reads
    /// still names the same symbols, in the same order of sections.
    fn strip_keeps_relocations(dir: &Path, tool: &str, file: &str) {
        let converted = std::fs::read(dir.join(file)).unwrap();
        run(dir, tool, &["--strip-debug", "--discard-locals", file]);
        let stripped = std::fs::read(dir.join(file)).unwrap();
        let names = |d: &[u8]| -> Vec<String> {
            read_back::sections(d)
                .into_iter()
                .map(|s| s.name)
                .filter(|n| n.starts_with(".klp.") || n == ".rela.text")
                .collect()
        };
        assert_eq!(
            names(&converted),
            [".rela.text", ".klp.rela.vmlinux..text", ".klp.bound..text"]
        );
        assert_eq!(names(&stripped), names(&converted));
        // (strip drops the symbol of an R_*_NONE.)
        let used = |d: &[u8], name: &str| -> Vec<(String, u32)> {
            let mut v = read_back::relocations(d, name);
            v.retain(|r| r.1 != 0);
            v
        };
        for name in names(&converted) {
            assert_eq!(used(&stripped, &name), used(&converted, &name), "{name}");
        }
    }

    #[test]
    fn strip_keeps_the_relocations() {
        let t = Scratch::new("klp", "strip");
        let map = fake_vmlinux(t.path());
        std::fs::write(t.join("mod.c"), MODULE).unwrap();
        // With DWARF, and its relocations, for strip to remove.
        run(
            t.path(),
            "cc",
            &["-c", "-g", "-O1", "-fno-pic", "mod.c", "-o", "mod.o"],
        );
        let ko = std::fs::read(t.join("mod.o")).unwrap();
        let hints = parse_sympos("dup 2\n").unwrap();
        let (after, _) = convert(ko, &map, &exported(), &hints).unwrap();
        std::fs::write(t.join("out.o"), after).unwrap();
        strip_keeps_relocations(t.path(), "strip", "out.o");
    }

    #[test]
    fn nothing_to_convert_is_byte_identical() {
        let t = Scratch::new("klp", "noop");
        let map = fake_vmlinux(t.path());
        cc(
            t.path(),
            "m",
            "extern int exported_fn(void);\nint f(void) { return exported_fn(); }\n",
        );
        let before = std::fs::read(t.join("m.o")).unwrap();
        let (after, conv) = convert(before.clone(), &map, &exported(), &HashMap::new()).unwrap();
        assert!(conv.is_empty());
        assert_eq!(before, after);
    }

    #[test]
    fn ambiguous_and_missing_symbols_fail_naming_them() {
        let t = Scratch::new("klp", "bad");
        let map = fake_vmlinux(t.path());
        cc(
            t.path(),
            "m",
            "extern int dup(int);\nextern int nowhere(void);\n\
             int f(void) { return dup(1) + nowhere(); }\n",
        );
        let ko = std::fs::read(t.join("m.o")).unwrap();
        let e = convert(ko.clone(), &map, &exported(), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("2 symbol(s)"), "{e}");
        assert!(e.contains("'dup' is ambiguous in vmlinux (1: 0x"), "{e}");
        assert!(
            e.contains("'nowhere' is neither exported nor defined"),
            "{e}"
        );
        // A sympos beyond the number of candidates is refused too.
        let hints = parse_sympos("dup 3\nnowhere 0\n").unwrap();
        let e = convert(ko, &map, &exported(), &hints)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'dup': sympos 3 given, but vmlinux has 2"),
            "{e}"
        );
    }

    #[test]
    fn sympos_rules() {
        let map = SymbolMap::parse(
            "ffffffff81000000 t helper\n\
             ffffffff81000100 T helper\n\
             ffffffff81000200 t helper\n\
             ffffffff81000300 t only.isra.0\n\
             ffffffff81000400 t only.cold\n\
             ffffffff81000500 d lonely\n",
        )
        .unwrap();
        let none = HashMap::new();
        // The single global among duplicates is what an extern binds to.
        assert_eq!(sympos_of("helper", &map, &none), Ok((2, 'T')));
        assert_eq!(sympos_of("lonely", &map, &none), Ok((0, 'd')));
        let e = sympos_of("only", &map, &none).unwrap_err();
        assert!(
            e.contains("only its clone(s) only.isra.0, only.cold"),
            "{e}"
        );
        let e = sympos_of("only.isra.0", &map, &none).unwrap_err();
        assert!(e.contains("compiler clone name"), "{e}");
        let hints = parse_sympos("helper 3").unwrap();
        assert_eq!(sympos_of("helper", &map, &hints), Ok((3, 't')));
        assert!(parse_sympos("helper x").is_err());
        assert!(parse_sympos("helper").is_err());
    }
}
