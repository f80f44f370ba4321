// SPDX-License-Identifier: GPL-2.0

//! Phase 3 without relocations (Debian's debug vmlinux keeps none):
//! vmlinux is linked at a fixed address, so a pointer in data is stored as
//! the address itself.  Every pointer-sized word of the counted data
//! sections (the sections whose relocations would count) that equals a
//! function's start is an address-taken function, one that falls inside a
//! variable makes that variable referenced by other data.  Words are read
//! at every byte offset, not only at aligned ones: packed structures hold
//! pointers too (`idt_descr`, ACPICA's tables).  The uses of variables by
//! code come from the decoded operands (phase 2).

use anyhow::{
    Context,
    Result, //
};
use object::{
    Object,
    ObjectSection, //
};

use super::super::algo::Graph;
use super::sections::is_counted_data;
use super::symbols::Symbols;

/// Read the pointers of the counted data sections into `g`.
pub(super) fn scan(obj: &object::File<'_>, syms: &Symbols, g: &mut Graph) {
    // (Most words are no address of vmlinux at all: rule them out first.)
    let (funcs, vars) = (syms.funcs.span(), syms.vars.span());
    for sec in obj.sections() {
        if !sec.name().is_ok_and(is_counted_data) {
            continue;
        }
        // (`.bss`-like sections have no bytes, and hold no initial pointer.)
        let Ok(bytes) = sec.data() else { continue };
        for word in words(bytes).filter(|w| funcs.contains(w) || vars.contains(w)) {
            super::pointer_in_data(syms, word, g);
        }
    }
}

/// `R_AARCH64_RELATIVE`: the word at `r_offset` is the load address
/// plus `r_addend`.
const R_AARCH64_RELATIVE: u64 = 1027;

/// arm64 links vmlinux as a PIE with `--no-apply-dynamic-relocs`: a
/// pointer in data is no word of the file but an `R_AARCH64_RELATIVE`
/// entry of `.rela.dyn` (its addend is the pointer, as linked).  Read those
/// whose place is in a counted data section into `g`.
pub(super) fn scan_relative(obj: &object::File<'_>, syms: &Symbols, g: &mut Graph) -> Result<()> {
    let Some(rela) = obj.section_by_name(".rela.dyn") else {
        return Ok(());
    };
    let bytes = rela.data().context(".rela.dyn")?;
    let counted: Vec<(u64, u64)> = obj
        .sections()
        .filter(|s| s.name().is_ok_and(is_counted_data))
        .map(|s| (s.address(), s.address() + s.size()))
        .collect();
    for e in bytes.chunks_exact(24) {
        let word = |k: usize| u64::from_le_bytes(e[k..k + 8].try_into().unwrap_or([0; 8]));
        let (at, info, addend) = (word(0), word(8), word(16));
        if info & 0xffff_ffff != R_AARCH64_RELATIVE {
            continue;
        }
        if counted.iter().any(|&(s, e)| s <= at && at < e) {
            super::pointer_in_data(syms, addend, g);
        }
    }
    Ok(())
}

/// The little-endian 8-byte words of `bytes`, at every byte offset.
fn words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes
        .windows(8)
        .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
}

#[cfg(test)]
mod tests {
    use super::super::testelf;
    use super::*;
    use crate::boundary::algo::FuncId;

    #[test]
    fn words_at_every_offset() {
        let bytes: Vec<u8> = (0u8..10).collect();
        let w: Vec<u64> = words(&bytes).collect();
        assert_eq!(
            w,
            vec![0x0706050403020100, 0x0807060504030201, 0x0908070605040302]
        );
        assert_eq!(words(&bytes[..7]).count(), 0);
    }

    /// Pointers in every kind of data, and words that are not pointers.
    const DATA: &str = r#"
#define NI __attribute__((noinline)) void
#define KEEP __attribute__((used))
NI in_data(void) { asm volatile(""); }
NI in_rodata(void) { asm volatile(""); }
NI in_param(void) { asm volatile(""); }
NI in_metadata(void) { asm volatile(""); }
NI in_init_data(void) { asm volatile(""); }
NI in_packed(void) { asm volatile(""); }
NI nowhere(void) { asm volatile(""); }
struct ops { long id; void (*fn)(void); };
long table[4] = { 1, 2, 3, 4 };
long lonely[2] = { 5, 6 };
long pointed_unaligned[2] = { 7, 8 };
struct __attribute__((packed)) desc { char c; void (*fn)(void); long *data; };
KEEP struct desc packed_desc = { 1, in_packed, &pointed_unaligned[1] };
KEEP struct ops data_ops = { 1, in_data };
KEEP const struct ops ro_ops = { 2, in_rodata };
KEEP long *const middle = &table[2];
KEEP __attribute__((section("__param"))) void (*const param)(void) = in_param;
KEEP __attribute__((section("__bug_table"))) void (*const bug)(void) = in_metadata;
KEEP __attribute__((section(".init.data"))) void (*init_ptr)(void) = in_init_data;
KEEP const unsigned long numbers[2] = { 0x1234, 0xffffffffffffffff };
void entry(void) { for (;;) ; }
"#;

    #[test]
    fn pointers_in_counted_data() {
        let dir = testelf::dir("words");
        let vml = testelf::link(&dir, &[("data.c", DATA)], "vmlinux", false);
        let map = crate::file::map(&vml).unwrap();
        let obj = object::File::parse(&*map).unwrap();
        let mut g = Graph::default();
        let syms = super::super::symbols::read(&obj, &mut g);
        scan(&obj, &syms, &mut g);
        let func = |n: &str| -> FuncId { g.funcs.iter().position(|f| f.name == n).unwrap() };
        let var = |n: &str| g.vars.iter().position(|v| v.name == n).unwrap();
        let taken = |n: &str| g.address_taken.contains(&func(n));
        assert!(taken("in_data"), ".data");
        assert!(taken("in_rodata"), ".rodata");
        assert!(taken("in_param"), "__param");
        assert!(!taken("in_metadata"), "a metadata table does not count");
        assert!(!taken("in_init_data"), ".init.data does not count");
        assert!(taken("in_packed"), "a pointer at an odd address");
        assert!(!taken("nowhere"));
        // A pointer to the middle of a variable references it.
        assert!(g.data_referenced.contains(&var("table")));
        assert!(g.data_referenced.contains(&var("pointed_unaligned")));
        assert!(!g.data_referenced.contains(&var("lonely")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
