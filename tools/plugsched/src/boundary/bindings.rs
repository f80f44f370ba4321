// SPDX-License-Identifier: GPL-2.0

//! `bindings.json`: what `plugsched bind-data` needs to know about vmlinux
//! to make the module's scheduler use vmlinux's data where it must
//! (Documentation/live-update.rst, "Data").
//!
//! * every `static` of vmlinux's scheduler units, named by its
//!   [`StaticKey`] (the module compiles the same source, so its own copy of
//!   a static has the same key), with its symbol, sympos and class: the
//!   module's references to its copy of a shared or external static become
//!   references to vmlinux's (function-scope statics, such as the
//!   `lock_class_key` that `raw_spin_lock_init()` defines, cannot be made
//!   `extern` in the source);
//! * every string literal that vmlinux's scheduler code uses and that
//!   exists once among those uses, as a kallsyms anchor symbol and an
//!   offset: the module's references to a string of the same bytes become
//!   references to vmlinux's.  A lock's name is kept by lockdep (the lock
//!   and its class point to it), and lockdep requires the name of a class
//!   to be the same pointer for every lock of that key.

use std::collections::BTreeMap;

use serde::{
    Deserialize,
    Serialize, //
};

use super::algo::{
    Classification,
    DataClass,
    Graph,
    VarKind, //
};
use super::statics::StaticKey;
use crate::klp::SymbolMap;

/// A static of vmlinux's scheduler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticBinding {
    #[serde(flatten)]
    pub key: StaticKey,
    /// vmlinux symbol and its kallsyms position.
    pub symbol: String,
    pub sympos: u64,
    pub size: u64,
    /// `shared`, `external`, `private`, or `unused` (not used by the code
    /// the module replaces).
    pub class: String,
    /// `state`, `const` or `other`.
    pub kind: String,
    /// For a constant: [`fnv`] of its bytes in vmlinux (a module copy with
    /// other bytes is the module's own: a change edited it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

impl StaticBinding {
    /// Whether the module must use vmlinux's copy: not when it is the
    /// module's own (private), nor when vmlinux's may be gone (init data).
    pub fn binds(&self) -> bool {
        self.class != "private" && self.kind != "other"
    }
}

/// A string literal of vmlinux's scheduler code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StringBinding {
    /// The bytes, in hex, without the terminating NUL.
    pub hex: String,
    /// A kallsyms symbol before it in `.rodata`, and the string's offset
    /// from it.
    pub anchor: String,
    pub sympos: u64,
    pub offset: u64,
}

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bindings {
    pub statics: Vec<StaticBinding>,
    pub strings: Vec<StringBinding>,
    /// The config's `module_private`: objects of the module's own whose
    /// address may leave its code.
    #[serde(default)]
    pub module_private: Vec<String>,
}

/// The units of vmlinux the module's scheduler is built from.
pub fn is_sched_unit(unit: &str) -> bool {
    unit.starts_with("kernel/sched/")
}

fn class_name(c: Option<&DataClass>) -> &'static str {
    match c {
        Some(DataClass::Shared) => "shared",
        Some(DataClass::External) => "external",
        Some(DataClass::Private) => "private",
        None => "unused",
    }
}

fn kind_name(k: VarKind) -> &'static str {
    match k {
        VarKind::State => "state",
        VarKind::Const => "const",
        VarKind::Other => "other",
    }
}

/// FNV-1a of `bytes`, in hex.
pub fn fnv(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{h:016x}")
}

/// The statics of the scheduler units (those kallsyms knows).
pub fn statics(
    g: &Graph,
    c: &Classification,
    map: &SymbolMap,
    rodata: &Rodata<'_>,
) -> Vec<StaticBinding> {
    let mut out: Vec<StaticBinding> = g
        .vars
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.global && v.decl.is_known() && is_sched_unit(&v.decl.unit))
        .filter_map(|(i, v)| {
            Some(StaticBinding {
                key: v.decl.clone(),
                symbol: v.name.clone(),
                sympos: map.sympos_at(&v.name, v.addr)?,
                size: v.size,
                class: class_name(c.data.get(&i)).into(),
                kind: kind_name(v.kind).into(),
                hash: (v.kind == VarKind::Const)
                    .then(|| rodata.bytes_at(v.addr, v.size).map(fnv))
                    .flatten(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out.dedup_by(|a, b| a.key == b.key);
    out
}

/// `.rodata` of vmlinux: its address and bytes.
pub struct Rodata<'a> {
    pub addr: u64,
    pub bytes: &'a [u8],
}

impl Rodata<'_> {
    /// The `size` bytes at `addr`.
    fn bytes_at(&self, addr: u64, size: u64) -> Option<&[u8]> {
        let off = usize::try_from(addr.checked_sub(self.addr)?).ok()?;
        self.bytes.get(off..off + usize::try_from(size).ok()?)
    }

    /// The NUL-terminated string at `addr` (at most 4096 bytes).
    fn string_at(&self, addr: u64) -> Option<&[u8]> {
        let off = usize::try_from(addr.checked_sub(self.addr)?).ok()?;
        let rest = self.bytes.get(off..)?;
        let end = rest.iter().take(4096).position(|&b| b == 0)?;
        Some(&rest[..end])
    }
}

/// `bytes` in hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The string literals that the scheduler's functions (`in_boundary`)
/// take the address of and that exist at one address among those uses,
/// each with the nearest constant symbol of kallsyms at or before it.
pub fn strings(
    g: &Graph,
    in_boundary: &dyn Fn(usize) -> bool,
    rodata: &Rodata<'_>,
    map: &SymbolMap,
) -> Vec<StringBinding> {
    let mut at: BTreeMap<&[u8], Vec<u64>> = BTreeMap::new();
    for &(f, a) in &g.const_refs {
        if !in_boundary(f) {
            continue;
        }
        if let Some(s) = rodata.string_at(a) {
            let v = at.entry(s).or_default();
            if !v.contains(&a) {
                v.push(a);
            }
        }
    }
    let end = rodata.addr + rodata.bytes.len() as u64;
    let mut anchors: Vec<(u64, &str)> = map
        .entries()
        // (vmlinux's .rodata is writable until boot ends: nm says d/D.)
        .filter(|(_, s)| {
            matches!(s.kind, 'r' | 'R' | 'd' | 'D') && s.addr >= rodata.addr && s.addr < end
        })
        .map(|(n, s)| (s.addr, n))
        .collect();
    anchors.sort();
    let mut out = Vec::new();
    for (bytes, addrs) in at {
        let [a] = addrs[..] else { continue };
        let i = anchors.partition_point(|&(x, _)| x <= a);
        let Some(&(base, name)) = i.checked_sub(1).and_then(|i| anchors.get(i)) else {
            continue;
        };
        let Some(sympos) = map.sympos_at(name, base) else {
            continue;
        };
        out.push(StringBinding {
            hex: hex(bytes),
            anchor: name.to_string(),
            sympos,
            offset: a - base,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::algo::{
        Func,
        Var, //
    };

    fn map() -> SymbolMap {
        SymbolMap::parse(
            "ffffffff82000000 R first_table\n\
             ffffffff82000100 r __key.9\n\
             ffffffff82000200 r dup\n\
             ffffffff82000300 r dup\n\
             ffffffff83000010 b __key.9\n\
             ffffffff83000020 b cgroup_mode\n",
        )
        .unwrap()
    }

    #[test]
    fn fnv_is_fnv_1a() {
        assert_eq!(fnv(b""), "cbf29ce484222325");
        assert_eq!(fnv(b"a"), "af63dc4c8601ec8c");
    }

    #[test]
    fn strings_used_once_are_anchored_to_the_symbol_before_them() {
        let mut g = Graph {
            funcs: vec![
                Func {
                    name: "sched_tick_start".into(),
                    ..Default::default()
                },
                Func {
                    name: "outsider".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        // "&cfs_b->lock" at +0x10, "x" at +0x20 (and a copy at +0x30),
        // "y" at +0x208 (after the second dup), "z" used outside only.
        let mut bytes = vec![0u8; 0x400];
        for (o, s) in [
            (0x10, &b"&cfs_b->lock"[..]),
            (0x20, b"x"),
            (0x30, b"x"),
            (0x308, b"y"),
            (0x40, b"z"),
        ] {
            bytes[o..o + s.len()].copy_from_slice(s);
        }
        let base = 0xffffffff82000000;
        g.const_refs = vec![
            (0, base + 0x10),
            (0, base + 0x10),
            (0, base + 0x20),
            (0, base + 0x30),
            (0, base + 0x308),
            (1, base + 0x40),
        ];
        let rodata = Rodata {
            addr: base,
            bytes: &bytes,
        };
        let s = strings(&g, &|f| f == 0, &rodata, &map());
        let got: Vec<(String, &str, u64, u64)> = s
            .iter()
            .map(|b| (b.hex.clone(), b.anchor.as_str(), b.sympos, b.offset))
            .collect();
        assert_eq!(
            got,
            vec![
                (hex(b"&cfs_b->lock"), "first_table", 0, 0x10),
                (hex(b"y"), "dup", 2, 0x8),
            ]
        );
    }

    #[test]
    fn statics_of_the_scheduler_units_with_class_and_sympos() {
        let mut g = Graph::default();
        let var = |name: &str, addr, scope: &str, unit: &str, kind| Var {
            name: name.into(),
            addr,
            size: 16,
            kind,
            decl: StaticKey {
                unit: unit.into(),
                scope: scope.into(),
                name: name.split('.').next().unwrap().into(),
                ordinal: 0,
            },
            ..Default::default()
        };
        g.vars = vec![
            var(
                "__key.9",
                0xffffffff83000010,
                "sched_tick_start",
                "kernel/sched/core.c",
                VarKind::State,
            ),
            var(
                "cgroup_mode",
                0xffffffff83000020,
                "",
                "kernel/sched/build_utility.c",
                VarKind::State,
            ),
            var(
                "__key.9",
                0xffffffff82000100,
                "f",
                "mm/slub.c",
                VarKind::State,
            ),
            var(
                "missing",
                0xffffffff83000030,
                "",
                "kernel/sched/core.c",
                VarKind::State,
            ),
        ];
        let mut c = Classification::default();
        c.data.insert(0, DataClass::Shared);
        let rodata = Rodata {
            addr: 0xffffffff82000000,
            bytes: &[0; 0x400],
        };
        let s = statics(&g, &c, &map(), &rodata);
        let got: Vec<(&str, u64, &str, bool)> = s
            .iter()
            .map(|b| (b.symbol.as_str(), b.sympos, b.class.as_str(), b.binds()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("cgroup_mode", 0, "unused", true),
                ("__key.9", 2, "shared", true),
            ]
        );
    }
}
