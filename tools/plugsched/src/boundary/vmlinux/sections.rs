// SPDX-License-Identifier: GPL-2.0

//! What vmlinux's sections are to the analysis: which code and which data
//! hold the references that count, and which data is state and which
//! constants.  Both ways of finding references (relocations, or the bytes
//! themselves) use these same predicates.

use object::{
    Object,
    ObjectSection,
    ObjectSymbol, //
};

use super::super::algo::VarKind;

/// Code whose references count: the kernel's text and init text.  Not the
/// alternative replacements (`.altinstr_replacement`, `.altinstr_aux`,
/// patched in over counted code) nor `.exit.text` (never run built in).
pub(super) fn is_counted_code(name: &str) -> bool {
    matches!(name, ".text" | ".init.text")
}

/// Data whose pointers count: the data and constants the kernel
/// dereferences (ops tables, registration structures, module
/// parameters), per-CPU data included.  Not the metadata tables that
/// point at every function (ORC, ENDBR seal lists, call/return sites,
/// alternatives, bug and exception tables, kallsyms, ksymtab), each in a
/// section of its own, and not `.init.data`: its tables, such as
/// `__mcount_loc`, point at every traceable function, and it is gone
/// after boot.
pub(super) fn is_counted_data(name: &str) -> bool {
    matches!(name, ".data" | "__param") || name.starts_with(".data.") || name.starts_with(".rodata")
}

/// Where vmlinux keeps state and where constants: `.rodata` holds the
/// `__ro_after_init` data too (between `__start_ro_after_init` and
/// `__end_ro_after_init`), which is state set at boot.
pub(super) struct DataLayout {
    rodata: Option<(u64, u64)>,
    ro_after_init: Option<(u64, u64)>,
}

impl DataLayout {
    pub(super) fn new(obj: &object::File<'_>) -> Self {
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
    pub(super) fn is_const(&self, a: u64) -> bool {
        Self::within(self.rodata, a) && !Self::within(self.ro_after_init, a)
    }

    /// The kind of a variable of `section` at `addr`.
    pub(super) fn kind(&self, section: &str, addr: u64) -> VarKind {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_sections() {
        for s in [".text", ".init.text"] {
            assert!(is_counted_code(s), "{s}");
            assert!(!is_counted_data(s), "{s}");
        }
        for s in [".altinstr_replacement", ".altinstr_aux", ".exit.text"] {
            assert!(!is_counted_code(s), "{s}");
        }
        for s in [".data", ".data..percpu", ".rodata", "__param"] {
            assert!(is_counted_data(s), "{s}");
        }
        for s in [
            ".init.data",
            "__ex_table",
            "__bug_table",
            ".orc_unwind",
            "__ksymtab",
            ".call_sites",
            ".data_nosave",
        ] {
            assert!(!is_counted_data(s), "{s}");
        }
    }
}
