// SPDX-License-Identifier: GPL-2.0

//! Which edits of a development tree can take effect, checked before the
//! module is built (`plugsched build`).
//!
//! The module replaces only the functions the boundary analysis gave it;
//! everything else of the scheduler stays vmlinux's.  An edit of a
//! function that stays in vmlinux, of the type or initial value of data
//! the module shares with vmlinux, of a structure vmlinux also lays out,
//! or of an interface's signature would compile and then silently not
//! happen (or break vmlinux's callers): each is an error naming the
//! function, variable or type and why.  What is left is listed as the
//! change the module carries.

use std::collections::{
    BTreeMap,
    BTreeSet, //
};
use std::path::Path;

use anyhow::{
    Context,
    Result, //
};
use serde::Deserialize;

use super::items::{
    diff,
    items,
    Change,
    Item,
    Kind, //
};
use crate::arch::Arch;
use crate::boundary::config;

/// What the extraction knows about the tree's functions, data and types.
#[derive(Debug, Default)]
pub struct Facts {
    /// Class of each function (`internal`, `interface`, `callback`,
    /// `external`) by file and name.
    classes: BTreeMap<(String, String), String>,
    /// Class by name alone (for functions defined in headers).
    by_name: BTreeMap<String, String>,
    /// Variables the module uses vmlinux's copy of.
    shared_vars: BTreeSet<String>,
    /// Types the config says vmlinux and the module share.
    shared_types: BTreeSet<String>,
    /// Functions the config keeps in vmlinux.
    stay_in_vmlinux: BTreeSet<String>,
}

#[derive(Deserialize)]
struct BoundaryJson {
    functions: Vec<FunctionJson>,
}

#[derive(Deserialize)]
struct FunctionJson {
    name: String,
    file: String,
    class: String,
}

impl Facts {
    /// Read them from an extracted tree: `boundary.json`, `shared-vars`
    /// and `boundary.toml` (the config it was extracted with, read for
    /// the target's instruction set `arch`: its `[arch.*]` table counts).
    pub fn load(tree: &Path, arch: Arch) -> Result<Self> {
        let read = |name: &str| {
            std::fs::read_to_string(tree.join(name))
                .with_context(|| format!("cannot read {}", tree.join(name).display()))
        };
        let b: BoundaryJson =
            serde_json::from_str(&read("boundary.json")?).context("boundary.json")?;
        let c = config::parse(&read("boundary.toml")?, arch).context("boundary.toml")?;
        let mut f = Facts {
            shared_vars: read("shared-vars")?.lines().map(str::to_string).collect(),
            shared_types: c.shared_types,
            stay_in_vmlinux: c.stay_in_vmlinux,
            ..Facts::default()
        };
        for func in b.functions {
            let name = func.name.split('.').next().unwrap_or_default().to_string();
            f.by_name.insert(name.clone(), func.class.clone());
            f.classes.insert((func.file, name), func.class);
        }
        Ok(f)
    }

    /// The class of function `name` of `file`; `None` for a function the
    /// analysis did not see (new, or inlined everywhere).
    fn class(&self, file: &str, name: &str) -> Option<&str> {
        self.classes
            .get(&(file.to_string(), name.to_string()))
            .or_else(|| self.by_name.get(name))
            .map(String::as_str)
    }

    /// Why function `name` stays in vmlinux.
    fn why_external(&self, name: &str) -> &'static str {
        if self.stay_in_vmlinux.contains(name) {
            "the boundary config keeps it in vmlinux (stay_in_vmlinux)"
        } else {
            "code outside the scheduler calls it, so it stays in vmlinux"
        }
    }
}

/// An edit that cannot take effect, or a caveat of one that can.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// An error (the build refuses the tree) or a warning.
    pub error: bool,
    /// The file, relative to the tree.
    pub file: String,
    /// `function NAME`, `variable NAME`, `struct NAME`, ...
    pub what: String,
    /// Why, and what to do instead.
    pub why: String,
}

/// What the tree changes, and what of it cannot take effect.
#[derive(Debug, Default)]
pub struct Report {
    /// Accepted changes: file, `function NAME`/..., and how (its class).
    pub changed: Vec<(String, String, String)>,
    /// Errors and warnings.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether the build must stop.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.error)
    }

    fn error(&mut self, file: &str, what: String, why: String) {
        self.find(true, file, what, why);
    }

    fn find(&mut self, error: bool, file: &str, what: String, why: String) {
        self.findings.push(Finding {
            error,
            file: file.to_string(),
            what,
            why,
        });
    }

    /// A file outside the editable sources changed.
    pub fn generated(&mut self, file: &str) {
        self.error(
            file,
            "file".to_string(),
            "generated by plugsched dev from the kernel: edit only kernel/sched/".to_string(),
        );
    }

    /// An extracted source was deleted.
    pub fn removed_file(&mut self, file: &str) {
        self.error(
            file,
            "file".to_string(),
            "removed: every extracted source is part of the build; restore it".to_string(),
        );
    }

    /// A new source: built only if a built unit includes it.
    pub fn new_file(&mut self, file: &str) {
        self.warning(
            file,
            "file".to_string(),
            "new: it is built only if a built unit (core.c, fair.c, mod_build_*.c) \
             #includes it"
                .to_string(),
        );
        self.changed
            .push((file.to_string(), "file".to_string(), "new".to_string()));
    }

    fn warning(&mut self, file: &str, what: String, why: String) {
        self.find(false, file, what, why);
    }
}

/// Compare the extracted version `old` of `file` with the user's `new`.
pub fn check_file(file: &str, old: &str, new: &str, facts: &Facts, r: &mut Report) -> Result<()> {
    let (o, n) = (
        items(old).with_context(|| format!("cannot parse the extracted {file}"))?,
        items(new).with_context(|| format!("cannot parse {file}"))?,
    );
    for (kind, name, change, before, after) in diff(&o, &n) {
        match kind {
            Kind::Function => function(file, &name, change, &before, &after, facts, r),
            Kind::Declaration => declaration(file, &name, change, &before, &after, facts, r),
            Kind::Type => record(file, &name, change, facts, r),
        }
    }
    Ok(())
}

fn function(
    file: &str,
    name: &str,
    change: Change,
    before: &Item,
    after: &Item,
    facts: &Facts,
    r: &mut Report,
) {
    // Callbacks are defined as __cb_NAME (vmlinux's NAME is redirected).
    let (base, class) = match name.strip_prefix("__cb_") {
        Some(b) => (b, Some("callback")),
        None => (name, facts.class(file, name)),
    };
    let what = format!("function {base}");
    match (class, change) {
        (Some("external"), _) => r.error(
            file,
            what,
            format!(
                "{}: the module calls vmlinux's {base} and never runs a body written here; \
                 change the module's functions that call it instead (plugsched dev's README)",
                facts.why_external(base)
            ),
        ),
        (Some(c @ ("interface" | "callback")), Change::Removed) => r.error(
            file,
            what,
            format!("an {c}: vmlinux's {base} is redirected to it, so it cannot be removed"),
        ),
        (Some(c @ ("interface" | "callback")), Change::Modified)
            if before.signatures != after.signatures =>
        {
            r.error(
                file,
                what,
                format!(
                    "an {c}: vmlinux calls it as it declares it, so its return type and \
                     parameters are fixed; change only its body"
                ),
            )
        }
        _ => {
            if file.ends_with(".h") && change == Change::Modified {
                r.warning(
                    file,
                    what.clone(),
                    "inline in a header: the module's code uses the new body, vmlinux's \
                     code that inlined it (outside the module) keeps the old one"
                        .to_string(),
                );
            }
            let how = match (class, change) {
                (_, Change::Added) => "new".to_string(),
                (_, Change::Removed) => "removed".to_string(),
                (Some(c), _) => c.to_string(),
                (None, _) => "inline".to_string(),
            };
            r.changed.push((file.to_string(), what, how));
        }
    }
}

fn declaration(
    file: &str,
    name: &str,
    change: Change,
    before: &Item,
    after: &Item,
    facts: &Facts,
    r: &mut Report,
) {
    let prototype = before.is_prototype || after.is_prototype;
    if !prototype && facts.shared_vars.contains(name) {
        r.error(
            file,
            format!("variable {name}"),
            format!(
                "shared with vmlinux: the module uses vmlinux's {name}, so its type and \
                 initial value are vmlinux's; set a new value at run time instead"
            ),
        );
        return;
    }
    // An external function's declaration turned into a definition is
    // reported with the definition; its declaration changed is wrong too.
    if prototype && change == Change::Modified && facts.class(file, name) == Some("external") {
        r.error(
            file,
            format!("function {name}"),
            format!(
                "{}: its declaration must stay as vmlinux defines it",
                facts.why_external(name)
            ),
        );
        return;
    }
    if !prototype {
        let how = match change {
            Change::Added => "new",
            Change::Removed => "removed",
            Change::Modified => "module's own",
        };
        r.changed.push((
            file.to_string(),
            format!("variable {name}"),
            how.to_string(),
        ));
    }
}

fn record(file: &str, name: &str, change: Change, facts: &Facts, r: &mut Report) {
    let bare = name.split_whitespace().last().unwrap_or(name);
    let shared = file.ends_with(".h") || facts.shared_types.contains(bare);
    match change {
        Change::Added => r
            .changed
            .push((file.to_string(), name.to_string(), "new".to_string())),
        _ if shared => r.error(
            file,
            name.to_string(),
            "shared with vmlinux (vmlinux's code creates and reads these objects): \
             its fields and their meaning are fixed"
                .to_string(),
        ),
        _ => r.changed.push((
            file.to_string(),
            name.to_string(),
            "module's own".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        let mut f = Facts::default();
        for (name, class) in [
            ("pick_next", "internal"),
            ("wake_up", "interface"),
            ("tick", "callback"),
            ("vm_only", "external"),
            ("kept", "external"),
        ] {
            f.classes
                .insert(("kernel/sched/fair.c".into(), name.into()), class.into());
            f.by_name.insert(name.into(), class.into());
        }
        f.shared_vars.insert("sysctl_x".into());
        f.shared_types.insert("sched_entity".into());
        f.stay_in_vmlinux.insert("kept".into());
        f
    }

    const FAIR: &str = "\
struct local_stats {
\tint n;
};
struct sched_entity {
\tint w;
};
extern unsigned int sysctl_x;\t/* plugsched: shared with vmlinux */
static int my_count;
int vm_only(int a);\t/* plugsched: external */
int kept(int a);\t/* plugsched: external */
static int pick_next(int a)
{
\treturn a;
}
int wake_up(int cpu)
{
\treturn cpu;
}
void tick(int q);
__used static void __cb_tick(int q)
{
}
";

    fn check(file: &str, new: &str) -> Report {
        let mut r = Report::default();
        check_file(file, FAIR, new, &facts(), &mut r).unwrap();
        r
    }

    fn errors(r: &Report) -> Vec<String> {
        r.findings
            .iter()
            .filter(|f| f.error)
            .map(|f| f.what.clone())
            .collect()
    }

    #[test]
    fn body_edits_of_replaced_functions_are_changes() {
        let r = check(
            "kernel/sched/fair.c",
            &FAIR
                .replace("return a;", "return a + 1;")
                .replace("return cpu;", "return cpu + 1;")
                .replace("(int q)\n{\n}", "(int q)\n{\n\tq++;\n}"),
        );
        assert!(!r.has_errors(), "{:?}", r.findings);
        let what: Vec<_> = r
            .changed
            .iter()
            .map(|c| (c.1.as_str(), c.2.as_str()))
            .collect();
        assert_eq!(
            what,
            [
                ("function tick", "callback"),
                ("function pick_next", "internal"),
                ("function wake_up", "interface")
            ]
        );
    }

    #[test]
    fn a_body_for_an_external_function_is_refused() {
        let r = check(
            "kernel/sched/fair.c",
            &FAIR.replace(
                "int vm_only(int a);\t/* plugsched: external */",
                "int vm_only(int a)\n{\n\treturn 0;\n}",
            ),
        );
        assert_eq!(errors(&r), ["function vm_only"]);
        assert!(r.findings[0]
            .why
            .contains("code outside the scheduler calls it"));
        let r = check(
            "kernel/sched/fair.c",
            &FAIR.replace("int kept(int a);", "int kept(int a) { return 1; }"),
        );
        assert_eq!(errors(&r), ["function kept"]);
        assert!(r.findings[0].why.contains("stay_in_vmlinux"));
    }

    /// A tree's extraction facts, its config keeping `arm_only` in
    /// vmlinux on arm64 only, loaded for `arch`.
    fn loaded_for(arch: Arch) -> Facts {
        let s = crate::test_util::Scratch::new("edits", &format!("{arch:?}"));
        s.write(&[
            (
                "boundary.json",
                r#"{"functions": [{"name": "arm_only", "file": "kernel/sched/fair.c", "class": "external"}]}"#,
            ),
            ("shared-vars", "sysctl_x\n"),
            (
                "boundary.toml",
                "files = [\"kernel/sched/fair.c\"]\nstay_in_vmlinux = [\"kept\"]\n\
                 [arch.arm64]\nstay_in_vmlinux = [\"arm_only\"]\n",
            ),
        ]);
        Facts::load(s.path(), arch).unwrap()
    }

    #[test]
    fn the_configs_table_of_the_targets_arch_keeps_functions_in_vmlinux() {
        const OLD: &str = "int arm_only(int a);\t/* plugsched: external */\n";
        let new = "int arm_only(int a)\n{\n\treturn 0;\n}\n";
        for (arch, by_config) in [(Arch::Aarch64, true), (Arch::X86_64, false)] {
            let f = loaded_for(arch);
            assert!(f.stay_in_vmlinux.contains("kept"));
            let mut r = Report::default();
            check_file("kernel/sched/fair.c", OLD, new, &f, &mut r).unwrap();
            assert_eq!(errors(&r), ["function arm_only"], "{arch:?}");
            assert_eq!(
                r.findings[0].why.contains("stay_in_vmlinux"),
                by_config,
                "{arch:?}: {}",
                r.findings[0].why
            );
        }
    }

    #[test]
    fn interface_signatures_are_fixed() {
        let r = check(
            "kernel/sched/fair.c",
            &FAIR.replace("int wake_up(int cpu)", "long wake_up(int cpu, int flags)"),
        );
        assert_eq!(errors(&r), ["function wake_up"]);
        let r = check(
            "kernel/sched/fair.c",
            &FAIR.replace("void __cb_tick(int q)", "void __cb_tick(long q)"),
        );
        assert_eq!(errors(&r), ["function tick"]);
    }

    #[test]
    fn shared_data_and_types_are_refused_private_ones_not() {
        let r = check(
            "kernel/sched/fair.c",
            &FAIR
                .replace(
                    "extern unsigned int sysctl_x;",
                    "unsigned int sysctl_x = 5;",
                )
                .replace("\tint w;", "\tint w;\n\tint extra;")
                .replace("static int my_count;", "static int my_count = 3;")
                .replace("\tint n;", "\tlong n;"),
        );
        assert_eq!(errors(&r), ["variable sysctl_x", "struct sched_entity"]);
        let ok: Vec<_> = r.changed.iter().map(|c| c.1.as_str()).collect();
        assert_eq!(ok, ["variable my_count", "struct local_stats"]);
    }

    #[test]
    fn header_types_are_shared_and_inlines_warned() {
        let h = "struct rq {\n\tint nr;\n};\nstatic inline int f(void)\n{\n\treturn 0;\n}\n";
        let mut r = Report::default();
        let new = h
            .replace("int nr;", "int nr, more;")
            .replace("return 0", "return 1");
        check_file("kernel/sched/sched.h", h, &new, &facts(), &mut r).unwrap();
        assert_eq!(errors(&r), ["struct rq"]);
        assert!(r
            .findings
            .iter()
            .any(|f| !f.error && f.what == "function f"));
    }

    #[test]
    fn new_helpers_are_accepted() {
        let r = check(
            "kernel/sched/fair.c",
            &format!("{FAIR}static int my_helper(void)\n{{\n\treturn my_count;\n}}\n"),
        );
        assert!(!r.has_errors());
        assert_eq!(r.changed.len(), 1);
        assert_eq!(r.changed[0].1, "function my_helper");
        assert_eq!(r.changed[0].2, "new");
    }
}
