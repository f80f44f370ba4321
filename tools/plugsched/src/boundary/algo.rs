// SPDX-License-Identifier: GPL-2.0

//! The boundary classification: the paper's Algorithm 1, plus callbacks.
//!
//! Input is a whole-kernel call graph ([`Graph`]): every function symbol of
//! vmlinux (clones included) attributed to its source file, the direct call
//! edges between them, which functions have their address taken, and where
//! functions were inlined.  Given the in-boundary source files and the
//! interface list, every in-boundary function becomes
//!
//! * an **interface**: named in the config, a syscall entry, or exported
//!   (callable by any module, so never internal);
//! * a **callback**: its address is taken (a function pointer to it may be
//!   stored anywhere, including the vmlinux `sched_class` instances, so its
//!   vmlinux entry must be redirected);
//! * **internal**: reachable only from interfaces, callbacks, init code and
//!   other internal functions.  This is a fixpoint: an internal function
//!   called by anything else is demoted to external, which may demote the
//!   functions it calls, and so on;
//! * **external**: everything else in the boundary files; the module calls
//!   the vmlinux copy.
//!
//! Interfaces and callbacks form the border, whose entries are redirected.
//! A boundary is refused when redirecting would miss calls: an outsider
//! calling a compiler clone of a border function (the clone keeps running
//! old code), or a border function inlined into an outsider.

use std::collections::{
    BTreeMap,
    BTreeSet, //
};

pub use super::statics::StaticKey;

/// Index of a function in [`Graph::funcs`].
pub type FuncId = usize;

/// One function symbol of vmlinux.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Func {
    /// Symbol name, clone suffix included (`foo.isra.0`).
    pub name: String,
    /// Source file it was written in (DWARF `DW_AT_decl_file`).
    pub file: String,
    /// Line of its name in that file (DWARF `DW_AT_decl_line`), 0 if unknown.
    pub line: u32,
    /// kallsyms position among symbols of this name (0 when unique).
    pub sympos: u32,
    /// Global binding (else local / static).
    pub global: bool,
    /// Exported to modules.
    pub exported: bool,
    /// In `.init.text` (freed after boot).
    pub init: bool,
    /// For a compiler clone (`.isra`, `.constprop`, `.part`, `.cold`, ...):
    /// the function it was cloned from, when that still exists.
    pub clone_of: Option<FuncId>,
    /// Address and size in vmlinux.
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
}

impl Func {
    /// The name without a clone suffix.
    pub fn base_name(&self) -> &str {
        self.name.split('.').next().unwrap_or(&self.name)
    }

    /// Whether the name carries a clone suffix.
    pub fn is_clone(&self) -> bool {
        self.name.contains('.')
    }
}

/// A function inlined into another (from DWARF `DW_TAG_inlined_subroutine`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inlined {
    /// Function the code was inlined into.
    pub into: FuncId,
    /// Name of the inlined function.
    pub name: String,
    /// Its source file.
    pub file: String,
    /// Where the call was: `file:line`.
    pub site: String,
}

/// Index of a variable in [`Graph::vars`].
pub type VarId = usize;

/// What the bytes of a variable are, by where the linker put them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum VarKind {
    /// Written at run time, or at boot (`.data`, `.bss`, per-CPU data,
    /// `__ro_after_init`): state.
    State,
    /// Constant (`.rodata`): part of the code that uses it.
    Const,
    /// Anything else: init data (gone after boot), metadata tables
    /// (`__setup` entries, kprobe blacklist, ...).
    #[default]
    Other,
}

/// One data symbol of vmlinux (per-CPU variables included).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Var {
    /// Symbol name.
    pub name: String,
    /// Source file it is defined in (DWARF), empty if unknown.
    pub file: String,
    /// kallsyms position among symbols of this name (0 when unique).
    pub sympos: u32,
    /// Global binding (else `static`).
    pub global: bool,
    /// Address and size in vmlinux.
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// State, constant or other.
    pub kind: VarKind,
    /// Where the source declares it: compilation unit, enclosing function
    /// and name, and its rank among same-named statics there (DWARF; see
    /// `boundary::statics`).  Empty without DWARF.
    pub decl: StaticKey,
}

/// The whole-kernel call graph.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Every function symbol.
    pub funcs: Vec<Func>,
    /// Every data symbol.
    pub vars: Vec<Var>,
    /// Functions referring to variables: (function, variable).
    pub var_refs: BTreeSet<(FuncId, VarId)>,
    /// Functions taking a variable's address (a `lea` of it, or its address
    /// as an immediate) rather than only loading or storing it: the address
    /// may be passed on or stored, anywhere.
    pub var_addr_taken: BTreeSet<(FuncId, VarId)>,
    /// Addresses in constant data that no variable covers (string
    /// literals) taken by functions: (function, address).
    pub const_refs: Vec<(FuncId, u64)>,
    /// Variables whose address is stored in other data (ops tables,
    /// registration structures): always shared.
    pub data_referenced: BTreeSet<VarId>,
    /// Direct calls and tail calls: (caller, callee).
    pub calls: BTreeSet<(FuncId, FuncId)>,
    /// Functions whose address is taken (in code or data).
    pub address_taken: BTreeSet<FuncId>,
    /// Inlined calls.
    pub inlined: Vec<Inlined>,
}

/// What the boundary is made of (from the boundary config).
#[derive(Clone, Debug, Default)]
pub struct Boundary {
    /// In-boundary source files (paths relative to the source tree).
    pub files: BTreeSet<String>,
    /// Names of interface functions.
    pub interfaces: BTreeSet<String>,
    /// Name prefixes that make a function an interface (syscall entries).
    pub interface_prefixes: Vec<String>,
    /// Variables of the boundary files that must stay shared with vmlinux
    /// even though only replaced code uses them.
    pub shared: BTreeSet<String>,
    /// Variables the module must have its own copy of.
    pub private: BTreeSet<String>,
    /// Functions of the boundary that stay in vmlinux whatever they are
    /// called by: the entries of the context switch (every sleeping task
    /// has them on its stack, so module copies could never be unloaded)
    /// and functions whose entry cannot be redirected.  Every direct
    /// caller of `__schedule` must be one of them.
    pub stay_in_vmlinux: BTreeSet<String>,
    /// Types the module shares with vmlinux besides those of the
    /// in-boundary headers (`plugsched layout-check`): `rq` for
    /// `struct rq`, `union foo` for a union.
    pub shared_types: BTreeSet<String>,
    /// Variables and functions of the module's own (not vmlinux's) whose
    /// address the module's code takes but which cannot outlive it, each
    /// listed with the reason (`name` or `function:name`; `plugsched
    /// bind-data` refuses any other whose address leaves the module).
    pub module_private: BTreeSet<String>,
}

/// The class of an in-boundary function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Entry point called from outside: redirected.
    Interface,
    /// Address taken: redirected.
    Callback,
    /// Only reachable through the border: replaced with the module.
    Internal,
    /// Left in vmlinux: the module calls it.
    External,
}

/// The class of a variable the boundary code uses or defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DataClass {
    /// Defined in the boundary, used only by replaced code: the module
    /// has its own copy (rebuilt at update).
    Private,
    /// Defined in the boundary, also used by code that stays in vmlinux (or
    /// global, or forced): the module uses the vmlinux copy.
    Shared,
    /// Defined outside the boundary and used by replaced code.
    External,
}

/// The result of the classification.
#[derive(Clone, Debug, Default)]
pub struct Classification {
    /// Class of every in-boundary function.
    pub class: BTreeMap<FuncId, Class>,
    /// Class of every variable defined in the boundary or used by it.
    pub data: BTreeMap<VarId, DataClass>,
    /// Reasons the boundary cannot be used, each naming a call site.
    pub errors: Vec<String>,
    /// Facts a developer should know (old inlined copies, unknown names).
    pub warnings: Vec<String>,
}

impl Classification {
    /// Number of functions of class `c`.
    pub fn count(&self, c: Class) -> usize {
        self.class.values().filter(|&&k| k == c).count()
    }

    /// Number of variables of class `c`.
    pub fn data_count(&self, c: DataClass) -> usize {
        self.data.values().filter(|&&k| k == c).count()
    }

    /// Whether `f` is redirected (interface or callback).
    pub fn is_border(&self, f: FuncId) -> bool {
        matches!(self.class.get(&f), Some(Class::Interface | Class::Callback))
    }
}

/// Classify the functions of `g` against `b`.
pub fn classify(g: &Graph, b: &Boundary) -> Classification {
    let in_files = |f: &Func| b.files.contains(&f.file);
    let mod_fns: BTreeSet<FuncId> = (0..g.funcs.len())
        .filter(|&i| in_files(&g.funcs[i]))
        .collect();
    let is_interface = |f: &Func| {
        let base = f.base_name();
        b.interfaces.contains(base)
            || b.interface_prefixes
                .iter()
                .any(|p| base.starts_with(p.as_str()))
            || f.exported
    };

    let mut class = BTreeMap::new();
    for &i in &mod_fns {
        let f = &g.funcs[i];
        let c = if f.init || b.stay_in_vmlinux.contains(f.base_name()) {
            // Init code ran at boot and is gone; it stays as it is.  So do
            // the functions the config keeps in vmlinux.
            Class::External
        } else if is_interface(f) {
            Class::Interface
        } else if g.address_taken.contains(&i) {
            Class::Callback
        } else {
            Class::Internal
        };
        class.insert(i, c);
    }

    // Fixpoint: an internal function called by anything outside
    // internal ∪ border ∪ init is external.
    let mut callers: BTreeMap<FuncId, Vec<FuncId>> = BTreeMap::new();
    for &(a, z) in &g.calls {
        callers.entry(z).or_default().push(a);
    }
    // Init code anywhere is trusted: it ran at boot and is gone.
    let trusted = |class: &BTreeMap<FuncId, Class>, f: FuncId| {
        g.funcs[f].init
            || matches!(
                class.get(&f),
                Some(Class::Internal | Class::Interface | Class::Callback)
            )
    };
    let mut work: Vec<FuncId> = class
        .iter()
        .filter(|(_, &c)| c == Class::Internal)
        .map(|(&f, _)| f)
        .collect();
    while let Some(f) = work.pop() {
        if class.get(&f) != Some(&Class::Internal) {
            continue;
        }
        let outside = callers
            .get(&f)
            .is_some_and(|cs| cs.iter().any(|&c| !trusted(&class, c)));
        if outside {
            class.insert(f, Class::External);
            // Its callees may have lost their last trusted-only status.
            for &(a, z) in g.calls.range((f, 0)..=(f, usize::MAX)) {
                debug_assert_eq!(a, f);
                if class.get(&z) == Some(&Class::Internal) {
                    work.push(z);
                }
            }
        }
    }

    let mut out = Classification {
        class,
        ..Default::default()
    };
    check_schedule_callers(g, b, &mut out);
    check_clones(g, &mut out);
    check_inlined(g, b, &mut out);
    classify_data(g, b, &mut out);
    out
}

/// D_internal private / shared and D_external.  A variable of the boundary
/// files is shared when
///
/// * vmlinux code that stays, or boot code that initialised it, uses it
///   (it would see a different copy), it is global, or the config says so;
/// * other data points to it (ops tables, registration structures);
/// * it is state (written at run time or at boot): the module must carry on
///   from vmlinux's value, not from the initializer in the source, and
///   vmlinux must find the module's changes after a rollback;
/// * any function takes its address: the address may be passed to code
///   outside the boundary or stored in a long-lived object (a lock class
///   key, a list, a debugfs file), where a pointer into the module would
///   outlive it.
///
/// What stays private: constants whose address is never taken (tables and
/// strings the module's code reads, which a scheduler change may edit),
/// init data and metadata tables, and what the config forces private.
fn classify_data(g: &Graph, b: &Boundary, c: &mut Classification) {
    let replaced = |f: FuncId| {
        matches!(
            c.class.get(&f),
            Some(Class::Internal | Class::Interface | Class::Callback)
        )
    };
    let mut users: BTreeMap<VarId, Vec<FuncId>> = BTreeMap::new();
    for &(f, v) in &g.var_refs {
        users.entry(v).or_default().push(f);
    }
    let addr_taken: BTreeSet<VarId> = g.var_addr_taken.iter().map(|&(_, v)| v).collect();
    let mut data = BTreeMap::new();
    for (v, var) in g.vars.iter().enumerate() {
        let used = users.get(&v).map_or(&[][..], |u| u.as_slice());
        if b.files.contains(&var.file) {
            let only_replaced = used.iter().all(|&f| replaced(f));
            let k = if b.private.contains(&var.name) {
                DataClass::Private
            } else if var.global
                || b.shared.contains(&var.name)
                || !only_replaced
                || g.data_referenced.contains(&v)
                || var.kind == VarKind::State
                || addr_taken.contains(&v)
            {
                DataClass::Shared
            } else {
                DataClass::Private
            };
            data.insert(v, k);
        } else if used.iter().any(|&f| replaced(f)) {
            data.insert(v, DataClass::External);
        }
    }
    c.data = data;
}

/// Refuse an outsider calling a clone of a border function: redirecting
/// the function's entry does not catch calls that go to its clone.
fn check_clones(g: &Graph, c: &mut Classification) {
    let mut errors = Vec::new();
    for (i, f) in g.funcs.iter().enumerate() {
        let Some(base) = f.clone_of else { continue };
        if !c.is_border(base) {
            continue;
        }
        for &(a, z) in &g.calls {
            if z != i {
                continue;
            }
            let caller_inside = matches!(
                c.class.get(&a),
                Some(Class::Internal | Class::Interface | Class::Callback)
            );
            if !caller_inside && !g.funcs[a].init {
                errors.push(format!(
                    "{} ({}) calls {}, a clone of the redirected {}: that call would keep running old code",
                    g.funcs[a].name, g.funcs[a].file, f.name, g.funcs[base].name
                ));
            }
        }
    }
    c.errors.extend(errors);
}

/// Refuse an interface that exists only inlined into code outside the
/// boundary: it has no entry to redirect, so those calls keep running old
/// code.  Border functions that have an entry but were *also* inlined into
/// outsiders are reported as warnings (those copies stay old).
/// `__schedule` is replaced by the split (its module copy returns into the
/// vmlinux copy's context switch), so only vmlinux code may call it: every
/// function of the boundary calling it directly must stay in vmlinux.
fn check_schedule_callers(g: &Graph, b: &Boundary, c: &mut Classification) {
    for name in &b.stay_in_vmlinux {
        if !g.funcs.iter().any(|f| f.base_name() == name) {
            c.warnings.push(format!(
                "stay_in_vmlinux: {name} is not a function of vmlinux"
            ));
        }
    }
    for &(a, z) in &g.calls {
        let (caller, callee) = (&g.funcs[a], &g.funcs[z]);
        if callee.base_name() == "__schedule"
            && b.files.contains(&caller.file)
            && caller.base_name() != "__schedule"
            && !caller.init
            && !b.stay_in_vmlinux.contains(caller.base_name())
        {
            c.errors.push(format!(
                "{} ({}) calls __schedule: it must stay in vmlinux (stay_in_vmlinux)",
                caller.name, caller.file
            ));
        }
    }
}

fn check_inlined(g: &Graph, b: &Boundary, c: &mut Classification) {
    let outside = |f: FuncId| {
        !b.files.contains(&g.funcs[f].file) || c.class.get(&f) == Some(&Class::External)
    };
    let with_symbol: BTreeSet<&str> = c.class.keys().map(|&f| g.funcs[f].base_name()).collect();
    for name in &b.interfaces {
        if with_symbol.contains(name.as_str()) {
            continue;
        }
        let sites: Vec<&Inlined> = g
            .inlined
            .iter()
            .filter(|i| &i.name == name && b.files.contains(&i.file))
            .filter(|i| outside(i.into) && !g.funcs[i.into].init)
            .collect();
        match sites.first() {
            Some(i) => c.errors.push(format!(
                "interface {name} exists only inlined; it is inlined into {} ({}) at {}{}: those calls would keep running old code",
                g.funcs[i.into].name,
                g.funcs[i.into].file,
                i.site,
                if sites.len() > 1 { format!(" and {} more site(s)", sites.len() - 1) } else { String::new() }
            )),
            None => c.warnings.push(format!("interface {name} is not a function of the boundary")),
        }
    }
    let border: BTreeSet<(&str, &str)> = c
        .class
        .iter()
        .filter(|(_, &k)| matches!(k, Class::Interface | Class::Callback))
        .map(|(&f, _)| (g.funcs[f].base_name(), g.funcs[f].file.as_str()))
        .collect();
    let mut stale: BTreeMap<&str, usize> = BTreeMap::new();
    for inl in &g.inlined {
        if outside(inl.into)
            && !g.funcs[inl.into].init
            && border.contains(&(inl.name.as_str(), inl.file.as_str()))
        {
            *stale.entry(inl.name.as_str()).or_default() += 1;
        }
    }
    for (name, n) in stale {
        c.warnings.push(format!(
            "{name} is redirected, but {n} inlined copy(ies) outside the boundary stay old"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a graph from (name, file) pairs and edges by name.
    struct G {
        g: Graph,
    }

    impl G {
        fn new(funcs: &[(&str, &str)]) -> Self {
            let mut g = Graph::default();
            for (n, f) in funcs {
                g.funcs.push(Func {
                    name: n.to_string(),
                    file: f.to_string(),
                    global: true,
                    ..Default::default()
                });
            }
            G { g }
        }
        fn id(&self, n: &str) -> FuncId {
            self.g.funcs.iter().position(|f| f.name == n).unwrap()
        }
        fn call(mut self, a: &str, z: &str) -> Self {
            let (a, z) = (self.id(a), self.id(z));
            self.g.calls.insert((a, z));
            self
        }
        fn taken(mut self, f: &str) -> Self {
            let i = self.id(f);
            self.g.address_taken.insert(i);
            self
        }
        fn clone_of(mut self, clone: &str, base: &str) -> Self {
            let (c, b) = (self.id(clone), self.id(base));
            self.g.funcs[c].clone_of = Some(b);
            self
        }
        fn class(&self, c: &Classification, n: &str) -> Class {
            c.class[&self.id(n)]
        }
    }

    fn boundary(ifaces: &[&str]) -> Boundary {
        Boundary {
            files: ["core.c", "fair.c"].iter().map(|s| s.to_string()).collect(),
            interfaces: ifaces.iter().map(|s| s.to_string()).collect(),
            interface_prefixes: vec!["__x64_sys_".into()],
            ..Default::default()
        }
    }

    const S: &str = "core.c";
    const F: &str = "fair.c";
    const O: &str = "mm.c";

    #[test]
    fn algorithm_1_with_fixpoint() {
        // schedule -> pick -> helper; outside -> helper2 -> leaf
        let t = G::new(&[
            ("schedule", S),
            ("pick", S),
            ("helper", F),
            ("helper2", F),
            ("leaf", F),
            ("outside", O),
            ("__x64_sys_sched_yield", S),
        ])
        .call("schedule", "pick")
        .call("pick", "helper")
        .call("outside", "helper2")
        .call("helper2", "leaf")
        .call("__x64_sys_sched_yield", "leaf");
        let c = classify(&t.g, &boundary(&["schedule"]));
        assert_eq!(t.class(&c, "schedule"), Class::Interface);
        assert_eq!(t.class(&c, "__x64_sys_sched_yield"), Class::Interface);
        assert_eq!(t.class(&c, "pick"), Class::Internal);
        assert_eq!(t.class(&c, "helper"), Class::Internal);
        // helper2 is called from outside: external; leaf is then called by
        // an external function: external too (the fixpoint).
        assert_eq!(t.class(&c, "helper2"), Class::External);
        assert_eq!(t.class(&c, "leaf"), Class::External);
        assert!(!c.class.contains_key(&t.id("outside")));
        assert!(c.errors.is_empty(), "{:?}", c.errors);
    }

    #[test]
    fn callers_of_schedule_must_stay_in_vmlinux() {
        // schedule -> __schedule -> pick; io_wait -> schedule
        let t = G::new(&[
            ("schedule", S),
            ("__schedule", S),
            ("pick", S),
            ("yield_now", S),
        ])
        .call("schedule", "__schedule")
        .call("__schedule", "pick")
        .call("yield_now", "__schedule");
        let mut b = boundary(&["schedule", "__schedule", "yield_now"]);
        b.stay_in_vmlinux.insert("schedule".into());
        let c = classify(&t.g, &b);
        // Kept in vmlinux although named an interface.
        assert_eq!(t.class(&c, "schedule"), Class::External);
        assert_eq!(t.class(&c, "__schedule"), Class::Interface);
        assert_eq!(t.class(&c, "pick"), Class::Internal);
        // yield_now calls __schedule but is not kept: refused, named.
        assert_eq!(c.errors.len(), 1, "{:?}", c.errors);
        assert!(c.errors[0].starts_with("yield_now (core.c) calls __schedule"));
        b.stay_in_vmlinux.insert("yield_now".into());
        b.stay_in_vmlinux.insert("no_such_function".into());
        let c = classify(&t.g, &b);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    }

    #[test]
    fn fixpoint_propagates_through_chains_and_cycles() {
        // outside -> a -> b -> c -> b (cycle); d only from schedule.
        let t = G::new(&[
            ("outside", O),
            ("a", S),
            ("b", S),
            ("c", S),
            ("d", S),
            ("schedule", S),
        ])
        .call("outside", "a")
        .call("a", "b")
        .call("b", "c")
        .call("c", "b")
        .call("schedule", "d")
        .call("d", "b");
        let c = classify(&t.g, &boundary(&["schedule"]));
        for n in ["a", "b", "c"] {
            assert_eq!(t.class(&c, n), Class::External, "{n}");
        }
        assert_eq!(t.class(&c, "d"), Class::Internal);
    }

    #[test]
    fn callbacks_and_exports() {
        let mut t = G::new(&[
            ("task_tick_fair", F),
            ("enqueue_task_fair", F),
            ("wake_up_process", S),
            ("helper", F),
        ])
        .taken("task_tick_fair")
        .taken("enqueue_task_fair")
        .call("enqueue_task_fair", "helper");
        let w = t.id("wake_up_process");
        t.g.funcs[w].exported = true;
        let c = classify(&t.g, &boundary(&[]));
        assert_eq!(t.class(&c, "task_tick_fair"), Class::Callback);
        assert_eq!(t.class(&c, "enqueue_task_fair"), Class::Callback);
        assert_eq!(t.class(&c, "wake_up_process"), Class::Interface);
        assert_eq!(t.class(&c, "helper"), Class::Internal);
        assert_eq!(c.count(Class::Callback), 2);
        assert!(c.is_border(t.id("task_tick_fair")));
    }

    #[test]
    fn interface_wins_over_callback_and_init_stays() {
        let mut t = G::new(&[("schedule", S), ("sched_init", S), ("only_from_init", S)])
            .taken("schedule")
            .call("sched_init", "only_from_init");
        let i = t.id("sched_init");
        t.g.funcs[i].init = true;
        let c = classify(&t.g, &boundary(&["schedule"]));
        assert_eq!(t.class(&c, "schedule"), Class::Interface);
        assert_eq!(t.class(&c, "sched_init"), Class::External);
        // Called only by init code: internal (init code is trusted).
        assert_eq!(t.class(&c, "only_from_init"), Class::Internal);
    }

    #[test]
    fn outsider_calling_clone_of_border_is_refused() {
        let t = G::new(&[
            ("yield_to", S),
            ("yield_to.isra.0", S),
            ("kvm_vcpu_yield", O),
            ("helper", S),
            ("helper.constprop.0", S),
        ])
        .clone_of("yield_to.isra.0", "yield_to")
        .clone_of("helper.constprop.0", "helper")
        .call("kvm_vcpu_yield", "yield_to.isra.0")
        .call("yield_to", "helper.constprop.0");
        let c = classify(&t.g, &boundary(&["yield_to"]));
        assert_eq!(c.errors.len(), 1, "{:?}", c.errors);
        assert!(c.errors[0].starts_with(
            "kvm_vcpu_yield (mm.c) calls yield_to.isra.0, a clone of the redirected yield_to"
        ));
        // A clone of an internal function called from the border is fine.
        assert_eq!(t.class(&c, "helper.constprop.0"), Class::Internal);
    }

    #[test]
    fn data_classes() {
        let mut t = G::new(&[("schedule", S), ("pick", S), ("outside", O), ("helper2", S)])
            .call("schedule", "pick")
            .call("outside", "helper2");
        let var = |n: &str, f: &str, global: bool| Var {
            name: n.into(),
            file: f.into(),
            global,
            kind: VarKind::Const,
            ..Default::default()
        };
        t.g.vars = vec![
            var("sched_priv", S, false), // used by pick only: private
            var("sched_both", S, false), // used by pick and helper2 (external)
            var("runqueues", S, true),   // global: shared
            var("jiffies", O, true),     // outside, used by schedule: external
            var("unrelated", O, true),   // outside, unused by the boundary
            var("forced", S, false),     // forced shared by the config
            var("cpu_files", S, false),  // pointed to by other data
        ];
        t.g.data_referenced.insert(6);
        let (pick, h2, sch) = (t.id("pick"), t.id("helper2"), t.id("schedule"));
        for (f, v) in [(pick, 0), (pick, 1), (h2, 1), (sch, 2), (sch, 3), (pick, 5)] {
            t.g.var_refs.insert((f, v));
        }
        let mut b = boundary(&["schedule"]);
        b.shared.insert("forced".into());
        let c = classify(&t.g, &b);
        assert_eq!(c.data.get(&0), Some(&DataClass::Private));
        assert_eq!(c.data.get(&1), Some(&DataClass::Shared));
        assert_eq!(c.data.get(&2), Some(&DataClass::Shared));
        assert_eq!(c.data.get(&3), Some(&DataClass::External));
        assert_eq!(c.data.get(&4), None);
        assert_eq!(c.data.get(&5), Some(&DataClass::Shared));
        assert_eq!(c.data.get(&6), Some(&DataClass::Shared));
        assert_eq!(c.data_count(DataClass::Private), 1);
    }

    #[test]
    fn state_and_escaping_addresses_are_shared() {
        // All used only by pick (replaced) and static: only the kind and
        // how pick refers to them decide.
        let mut t = G::new(&[("schedule", S), ("pick", S)]).call("schedule", "pick");
        let var = |n: &str, kind: VarKind| Var {
            name: n.into(),
            file: S.into(),
            kind,
            ..Default::default()
        };
        t.g.vars = vec![
            var("names", VarKind::Const),          // read: private
            var("cgroup_mode", VarKind::State),    // written: shared
            var("__key.9", VarKind::State),        // address taken: shared
            var("table", VarKind::Const),          // address taken: shared
            var("__setup_foo", VarKind::Other),    // init data: private
            var("forced_private", VarKind::State), // config: private
        ];
        let pick = t.id("pick");
        for v in 0..t.g.vars.len() {
            t.g.var_refs.insert((pick, v));
        }
        t.g.var_addr_taken.insert((pick, 2));
        t.g.var_addr_taken.insert((pick, 3));
        let mut b = boundary(&["schedule"]);
        b.private.insert("forced_private".into());
        let c = classify(&t.g, &b);
        let class: Vec<DataClass> = (0..6).map(|v| c.data[&v]).collect();
        use DataClass::*;
        assert_eq!(
            class,
            vec![Private, Shared, Shared, Shared, Private, Private]
        );
    }

    #[test]
    fn inline_only_interface_is_refused() {
        // set_user_nice exists only inlined (no symbol); do_nice is outside.
        let mut t = G::new(&[("do_nice", O), ("schedule", S), ("inner", S)]);
        let d = t.id("do_nice");
        let s = t.id("schedule");
        t.g.inlined.push(Inlined {
            into: d,
            name: "set_user_nice".into(),
            file: S.into(),
            site: "mm.c:42".into(),
        });
        // A redirected function also inlined outside: only a warning.
        t.g.inlined.push(Inlined {
            into: d,
            name: "schedule".into(),
            file: S.into(),
            site: "mm.c:50".into(),
        });
        // Internal code inlined into border functions is fine.
        t.g.inlined.push(Inlined {
            into: s,
            name: "inner".into(),
            file: S.into(),
            site: "core.c:7".into(),
        });
        let c = classify(
            &t.g,
            &boundary(&["set_user_nice", "schedule", "no_such_fn"]),
        );
        assert_eq!(c.errors.len(), 1, "{:?}", c.errors);
        assert!(c.errors[0].starts_with("interface set_user_nice exists only inlined; it is inlined into do_nice (mm.c) at mm.c:42"));
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c
            .warnings
            .iter()
            .any(|w| w == "interface no_such_fn is not a function of the boundary"));
        assert!(c
            .warnings
            .iter()
            .any(|w| w.starts_with("schedule is redirected, but 1 inlined copy")));
    }
}
