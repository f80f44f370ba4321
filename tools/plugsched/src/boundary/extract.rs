// SPDX-License-Identifier: GPL-2.0

//! Extraction of the module's scheduler sources from the boundary files.
//!
//! Each in-boundary `.c` file is parsed with tree-sitter-c; every function
//! definition the classification knows is located by name *and* by the line
//! DWARF recorded for it (a cross-check: a definition the parser cannot
//! match is reported, never guessed), then rewritten:
//!
//! * external: the body goes, the definition becomes a declaration without
//!   `static`/`inline`, so the module calls the vmlinux function (bound by
//!   klp-convert, with its sympos);
//! * callback: renamed `__cb_<name>`, followed by a declaration of `<name>`,
//!   so every function pointer the module stores is the vmlinux address
//!   (valid after rollback and unload), whose entry is redirected;
//! * interface / internal: kept (`static` ones get `__used`); interfaces are
//!   marked as signatures not to change;
//! * init code: removed, as are `EXPORT_SYMBOL*`, initcalls, `__setup` and
//!   `early_param` lines;
//! * data shared with vmlinux: `DEFINE_PER_CPU*` / `DEFINE_STATIC_KEY*`
//!   become `DECLARE_*`, plain definitions become `extern` declarations;
//!   the `sched_class` instances stay in vmlinux (`DEFINE_SCHED_CLASS` goes).
//!
//! Every output file starts with a comment saying what was changed and why.

use std::collections::{
    BTreeMap,
    BTreeSet, //
};

use tree_sitter::{
    Node,
    Parser, //
};

use super::algo::Class;

/// What extraction needs to know about one function of a file.
#[derive(Clone, Debug)]
pub struct FnInfo {
    /// Name (no clone suffix).
    pub name: String,
    /// DWARF line of the name.
    pub line: u32,
    /// Its class.
    pub class: Class,
    /// Init code.
    pub init: bool,
    /// kallsyms position of its vmlinux symbol (0: unique).
    pub sympos: u32,
    /// Its address in the target's vmlinux, before KASLR moves it.
    pub addr: u64,
}

/// The result for one file.
#[derive(Debug, Default)]
pub struct FileResult {
    /// The rewritten source.
    pub text: String,
    /// Counts of what was done, by action.
    pub done: BTreeMap<&'static str, usize>,
    /// Functions the parser could not match to their DWARF line.
    pub unmatched: Vec<String>,
    /// Callbacks kept under their own name (targets of `__alias`).
    pub not_renamed: Vec<String>,
}

struct Edit {
    start: usize,
    end: usize,
    text: String,
}

pub(crate) fn text<'a>(n: Node<'_>, src: &'a str) -> &'a str {
    &src[n.byte_range()]
}

/// The identifier a (possibly nested) declarator declares, and whether it
/// declares a function.
pub(crate) fn declarator_name(mut n: Node<'_>) -> Option<(Node<'_>, bool)> {
    let mut is_fn = false;
    loop {
        match n.kind() {
            "identifier" => return Some((n, is_fn)),
            "function_declarator" => {
                is_fn = true;
                n = n.child_by_field_name("declarator")?;
            }
            "pointer_declarator"
            | "parenthesized_declarator"
            | "array_declarator"
            | "init_declarator"
            | "attributed_declarator" => {
                n = n
                    .child_by_field_name("declarator")
                    .or_else(|| n.named_child(0))?;
            }
            _ => return None,
        }
    }
}

/// The first storage-class specifier `static`/`inline` children of a
/// definition or declaration.
fn storage<'a>(n: Node<'a>, src: &str, which: &[&str]) -> Vec<Node<'a>> {
    let mut c = n.walk();
    n.children(&mut c)
        .filter(|ch| ch.kind() == "storage_class_specifier" && which.contains(&text(*ch, src)))
        .collect()
}

const DROPPED_MACROS: &[&str] = &[
    "EXPORT_SYMBOL",
    "EXPORT_SYMBOL_GPL",
    "EXPORT_SYMBOL_NS_GPL",
    "EXPORT_PER_CPU_SYMBOL",
    "EXPORT_PER_CPU_SYMBOL_GPL",
    "EXPORT_TRACEPOINT_SYMBOL",
    "EXPORT_TRACEPOINT_SYMBOL_GPL",
    "__setup",
    "early_param",
    "early_initcall",
    "core_initcall",
    "postcore_initcall",
    "arch_initcall",
    "subsys_initcall",
    "fs_initcall",
    "device_initcall",
    "late_initcall",
    "late_initcall_sync",
    "module_init",
];

/// Definitions of shared variables that the parser could not read (e.g. an
/// initializer made of `#include`d lines): a line at column 0 that
/// defines `name` (`... name[..] = ...;` or `... name;`, no `extern`, no
/// parenthesis before the name) becomes `extern ... name[..];`.
fn fallback_shared_definitions(
    src: &str,
    shared_vars: &BTreeSet<String>,
    edits: &mut Vec<Edit>,
    res: &mut FileResult,
) {
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut line_start = 0;
    for line in src.split_inclusive('\n') {
        let at = line_start;
        line_start += line.len();
        let first = line.as_bytes().first().copied().unwrap_or(b' ');
        if !(first.is_ascii_alphabetic() || first == b'_') || line.contains("extern") {
            continue;
        }
        if edits
            .iter()
            .any(|e| e.start <= at && at < e.end.max(e.start + 1))
        {
            continue;
        }
        let Some(stop) = line.find(['=', ';']) else {
            continue;
        };
        let head = &line[..stop];
        // Several declarators (`int a, b;`) may not all be shared: the
        // build's check of the module's symbols catches what is left.
        if head.contains(['(', '{', '}', ',']) {
            continue;
        }
        let head_t = head.trim_end();
        let decl_end = head_t.len();
        // The declarator: `name` or `name[...]`.
        let base = head_t.trim_end_matches(|c: char| c != '[' && head_t.ends_with(']'));
        let base = if head_t.ends_with(']') {
            base.trim_end_matches('[').trim_end()
        } else {
            head_t
        };
        let b = base.as_bytes();
        let mut i = b.len();
        while i > 0 && ident(b[i - 1]) {
            i -= 1;
        }
        let name = &base[i..];
        if i == 0 || !shared_vars.contains(name) {
            continue;
        }
        // The end of the definition: the first `;` outside braces.
        let mut depth = 0i32;
        let mut end = None;
        for (k, ch) in src[at + stop..].char_indices() {
            match ch {
                '{' | '(' => depth += 1,
                '}' | ')' => depth -= 1,
                ';' if depth == 0 => {
                    end = Some(at + stop + k + 1);
                    break;
                }
                _ => {}
            }
        }
        let Some(end) = end else { continue };
        let kept: String = head[..decl_end]
            .split_whitespace()
            .filter(|w| *w != "static" && !ATTRIBUTE_MACROS.contains(w))
            .collect::<Vec<_>>()
            .join(" ");
        edits.push(Edit {
            start: at,
            end,
            text: format!("extern {kept};\t/* plugsched: shared with vmlinux */"),
        });
        *res.done
            .entry("data definitions turned into declarations")
            .or_default() += 1;
    }
}

/// Variable attribute macros of the kernel that tree-sitter cannot parse.
const ATTRIBUTE_MACROS: &[&str] = &[
    "____cacheline_aligned_in_smp",
    "____cacheline_aligned",
    "__cacheline_aligned_in_smp",
    "__cacheline_aligned",
    "__read_mostly",
    "__ro_after_init",
    "__maybe_unused",
    "__initdata",
];

/// `src` with every [`ATTRIBUTE_MACROS`] word replaced by blanks.
fn mask_attributes(src: &str) -> String {
    let mut out = src.as_bytes().to_vec();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    for m in ATTRIBUTE_MACROS {
        for (i, _) in src.match_indices(m) {
            let end = i + m.len();
            let before = i > 0 && ident(out[i - 1]);
            let after = end < out.len() && ident(out[end]);
            if !before && !after {
                out[i..end].fill(b' ');
            }
        }
    }
    // Only ASCII bytes were replaced by ASCII blanks.
    String::from_utf8(out).unwrap_or_else(|_| src.to_string())
}

/// Remove a keyword and the blanks after it.
fn remove_word(n: Node<'_>, src: &str) -> Edit {
    let rest = &src[n.end_byte()..];
    let blanks = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    Edit {
        start: n.start_byte(),
        end: n.end_byte() + blanks,
        text: String::new(),
    }
}

/// What a top-level macro statement becomes: `Some("")` to drop it,
/// `Some(text)` to replace it, `None` to leave it.
fn macro_replacement(n: Node<'_>, src: &str, shared_vars: &BTreeSet<String>) -> Option<String> {
    let full = text(n, src);
    let t = full.trim_start();
    let (m, args) = {
        // `static __maybe_unused DEFINE_MUTEX(x);` names the macro last.
        let mut t = t;
        while let Some(rest) = ["static ", "__maybe_unused ", "__used "]
            .iter()
            .find_map(|w| t.strip_prefix(w))
        {
            t = rest.trim_start();
        }
        let open = t.find('(')?;
        (t[..open].trim(), &t[open..])
    };
    if !m.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    if DROPPED_MACROS.contains(&m) || m.starts_with("EXPORT_") {
        return Some(String::new());
    }
    if let Some(kind) = m.strip_prefix("DEFINE_STATIC_CALL") {
        // The static call (key and trampoline) stays in vmlinux.
        let _ = kind; // _NULL, _RET0: the declaration is the same
        let close = args.find(')')?;
        let semi = if full.trim_end().ends_with(';') {
            ";"
        } else {
            ""
        };
        return Some(format!(
            "DECLARE_STATIC_CALL{}{semi}\t/* plugsched: shared with vmlinux */",
            &args[..=close]
        ));
    }
    if m == "DEFINE_SCHED_CLASS" {
        return Some(format!(
            "/* plugsched: the sched_class instances stay in vmlinux: {} */",
            t.lines().next().unwrap_or("").trim()
        ));
    }
    // Locks and lists defined by macro: shared ones become declarations of
    // the type.
    let lock_type = match m {
        "LIST_HEAD" => Some("struct list_head"),
        "DEFINE_MUTEX" => Some("struct mutex"),
        "DEFINE_SPINLOCK" => Some("spinlock_t"),
        "DEFINE_RAW_SPINLOCK" => Some("raw_spinlock_t"),
        _ => None,
    };
    if let Some(ty) = lock_type {
        let close = args.find(')')?;
        let var = args[1..close].trim();
        if !shared_vars.contains(var) {
            return None;
        }
        let semi = if full.trim_end().ends_with(';') {
            ";"
        } else {
            ""
        };
        return Some(format!(
            "extern {ty} {var}{semi}\t/* plugsched: shared with vmlinux */"
        ));
    }
    if !(m.starts_with("DEFINE_PER_CPU") || m.starts_with("DEFINE_STATIC_KEY")) {
        return None;
    }
    // `(type, name)` or `(name)`, possibly followed by `= init`.
    let close = args.find(')')?;
    let inner = &args[1..close];
    let var = inner.rsplit(',').next().unwrap_or(inner).trim();
    // Static keys are referenced by jump-label entries in vmlinux: always
    // shared.  Per-CPU data only when the analysis says so.
    if m.starts_with("DEFINE_PER_CPU") && !shared_vars.contains(var) {
        return None;
    }
    let semi = if full.trim_end().ends_with(';') {
        ";"
    } else {
        ""
    };
    Some(format!(
        "{}({inner}){semi}\t/* plugsched: shared with vmlinux */",
        m.replacen("DEFINE", "DECLARE", 1)
    ))
}

/// Rewrite one boundary file.
pub fn extract_file(
    path: &str,
    src: &str,
    fns: &[FnInfo],
    shared_vars: &BTreeSet<String>,
) -> anyhow::Result<FileResult> {
    let tree = parse(src)?;
    let mut rw = Rewrite::new(path, src, fns, shared_vars);
    let decls = rw.walk(tree.root_node());
    for d in decls {
        rw.declaration(d)?;
    }
    rw.report_unmatched();
    Ok(rw.finish())
}

/// The syntax tree of `src`.  Attribute macros confuse the parser in
/// declarations; it reads a copy in which they are blanked (same length,
/// so every byte offset is valid in `src`, from which all text is taken).
pub(crate) fn parse(src: &str) -> anyhow::Result<tree_sitter::Tree> {
    let mut parser = Parser::new();
    parser.set_language(&tree_sitter_c::LANGUAGE.into())?;
    let masked = mask_attributes(src);
    parser
        .parse(&masked, None)
        .ok_or_else(|| anyhow::anyhow!("tree-sitter failed"))
}

/// The rewrite of one file in progress: what is known of its functions
/// and data, and the edits so far (applied by [`Rewrite::finish`]).
struct Rewrite<'a> {
    path: &'a str,
    src: &'a str,
    fns: &'a [FnInfo],
    shared_vars: &'a BTreeSet<String>,
    by_name: BTreeMap<&'a str, &'a FnInfo>,
    /// Targets of `__alias(x)`: they must stay defined in this
    /// translation unit.
    alias_targets: BTreeSet<&'a str>,
    /// Functions whose name now means "the vmlinux symbol".
    bound: BTreeSet<&'a str>,
    /// Functions whose definition was found at their DWARF line.
    matched: BTreeSet<&'a str>,
    edits: Vec<Edit>,
    res: FileResult,
}

impl<'a> Rewrite<'a> {
    fn new(
        path: &'a str,
        src: &'a str,
        fns: &'a [FnInfo],
        shared_vars: &'a BTreeSet<String>,
    ) -> Self {
        let mut alias_targets: BTreeSet<&str> = BTreeSet::new();
        for (i, _) in src.match_indices("__alias(") {
            let rest = &src[i + 8..];
            let end = rest.find(')').unwrap_or(0);
            alias_targets.insert(rest[..end].trim());
        }
        let bound = fns
            .iter()
            .filter(|f| {
                matches!(f.class, Class::External | Class::Callback)
                    && !f.init
                    && !alias_targets.contains(f.name.as_str())
            })
            .map(|f| f.name.as_str())
            .collect();
        Rewrite {
            path,
            src,
            fns,
            shared_vars,
            by_name: fns.iter().map(|f| (f.name.as_str(), f)).collect(),
            alias_targets,
            bound,
            matched: BTreeSet::new(),
            edits: Vec::new(),
            res: FileResult::default(),
        }
    }

    /// Replace `start..end` of the source by `text`.
    fn edit(&mut self, start: usize, end: usize, text: impl Into<String>) {
        self.edits.push(Edit {
            start,
            end,
            text: text.into(),
        });
    }

    /// Count one thing done, for the file's header.
    fn count(&mut self, what: &'static str) {
        *self.res.done.entry(what).or_default() += 1;
    }

    /// Rewrite the function definitions, tracepoint definitions and data
    /// macros of the tree; returns the other declarations, for
    /// [`Rewrite::declaration`] once every function is known.
    fn walk<'t>(&mut self, root: Node<'t>) -> Vec<Node<'t>> {
        let src = self.src;
        let mut stack = vec![root];
        let mut decls: Vec<Node<'t>> = Vec::new();
        while let Some(n) = stack.pop() {
            match n.kind() {
                "function_definition" => self.function(n),
                "preproc_def"
                    if n.child_by_field_name("name").map(|x| text(x, src))
                        == Some("CREATE_TRACE_POINTS") =>
                {
                    // The tracepoints are defined (once) in vmlinux.
                    self.edit(
                        n.start_byte(),
                        n.end_byte(),
                        "/* plugsched: CREATE_TRACE_POINTS removed, tracepoints live in vmlinux */\n",
                    );
                }
                // (`DEFINE_PER_CPU(struct rq, rq);` parses as a macro type.)
                "declaration" | "expression_statement" | "macro_type_specifier" => {
                    if !self.data_macro(n) && n.kind() == "declaration" {
                        decls.push(n);
                    }
                }
                _ => {
                    let mut c = n.walk();
                    let kids: Vec<Node<'_>> = n.children(&mut c).collect();
                    stack.extend(kids.into_iter().rev());
                }
            }
        }
        decls
    }

    /// A function definition the classification knows, found at its DWARF
    /// line: rewritten by its class.
    fn function(&mut self, n: Node<'_>) {
        let src = self.src;
        let Some(decl) = n.child_by_field_name("declarator") else {
            return;
        };
        let Some((id, _)) = declarator_name(decl) else {
            return;
        };
        let name = text(id, src);
        let Some(&info) = self.by_name.get(name) else {
            return;
        };
        if info.line != 0 && id.start_position().row as u32 + 1 != info.line {
            return; // another definition of the same name (#ifdef)
        }
        self.matched.insert(info.name.as_str());
        let body = n.child_by_field_name("body");
        if info.init {
            self.edit(
                n.start_byte(),
                n.end_byte(),
                format!("/* plugsched: init function {name} removed */"),
            );
            self.count("init functions removed");
            return;
        }
        let statics = storage(n, src, &["static", "inline"]);
        match info.class {
            Class::External | Class::Callback if self.alias_targets.contains(name) => {
                // `x __alias(name)` needs `name` defined right here.
                if info.class == Class::Callback {
                    self.res.not_renamed.push(name.to_string());
                }
                self.count("alias targets kept");
            }
            Class::External => {
                if let Some(body) = body {
                    self.external(decl, body, name, &statics);
                }
            }
            Class::Callback => self.callback(n, id, body, name, &statics),
            Class::Interface | Class::Internal => self.kept(n, info, name, &statics),
        }
    }

    /// An external function: the body goes, the definition becomes a
    /// declaration of the vmlinux function.
    fn external(&mut self, decl: Node<'_>, body: Node<'_>, name: &str, statics: &[Node<'_>]) {
        let src = self.src;
        for s in statics {
            self.edits.push(remove_word(*s, src));
        }
        self.edit(
            body.start_byte(),
            body.end_byte(),
            format!(";\t/* plugsched: external, the vmlinux {name} is called */"),
        );
        // Drop a line break between declarator and body.
        let gap = &src[decl.end_byte()..body.start_byte()];
        if gap.trim().is_empty() {
            self.edit(decl.end_byte(), body.start_byte(), "");
        }
        self.count("external bodies removed");
    }

    /// A callback: renamed `__cb_<name>`, after prototypes of `<name>` (the
    /// vmlinux function, also for uses inside the body) and, for global
    /// callbacks, of `__cb_<name>`.
    fn callback(
        &mut self,
        n: Node<'_>,
        id: Node<'_>,
        body: Option<Node<'_>>,
        name: &str,
        statics: &[Node<'_>],
    ) {
        let src = self.src;
        if let Some(body) = body {
            let mut hdr = String::new();
            let mut at = n.start_byte();
            for st in statics {
                hdr.push_str(&src[at..st.start_byte()]);
                at = remove_word(*st, src).end;
            }
            hdr.push_str(&src[at..body.start_byte()]);
            let hdr = hdr.trim_end();
            let mut proto = format!("{hdr};\t/* plugsched: the vmlinux {name} */\n");
            if statics.is_empty() {
                let cb = format!(
                    "{}__cb_{}",
                    &src[n.start_byte()..id.start_byte()],
                    &src[id.start_byte()..body.start_byte()]
                );
                proto.push_str(cb.trim_end());
                proto.push_str(";\n");
            }
            self.edit(n.start_byte(), n.start_byte(), proto);
        }
        self.edit(id.start_byte(), id.end_byte(), format!("__cb_{name}"));
        if let Some(s) = statics.first() {
            self.edit(s.start_byte(), s.start_byte(), "__used ");
        }
        self.edit(
            n.end_byte(),
            n.end_byte(),
            format!(
                "\n/* plugsched: callback; pointers to {name} stay vmlinux addresses, whose entry is redirected to __cb_{name} */"
            ),
        );
        self.count("callbacks renamed");
    }

    /// An interface or internal function: kept (`static` ones `__used`),
    /// interfaces marked as signatures not to change.
    fn kept(&mut self, n: Node<'_>, info: &FnInfo, name: &str, statics: &[Node<'_>]) {
        if let Some(s) = statics.first() {
            self.edit(s.start_byte(), s.start_byte(), "__used ");
        }
        if info.class == Class::Interface {
            self.edit(
                n.start_byte(),
                n.start_byte(),
                format!("/* plugsched: interface {name}: do not change its signature */\n"),
            );
            self.count("interfaces kept");
        } else {
            self.count("internal functions kept");
        }
    }

    /// A top-level macro statement that defines or exports something (see
    /// [`macro_replacement`]): rewritten, and `true`.
    fn data_macro(&mut self, n: Node<'_>) -> bool {
        let Some(t) = macro_replacement(n, self.src, self.shared_vars) else {
            return false;
        };
        let what = if t.is_empty() {
            "exports/initcalls removed"
        } else {
            "data definitions turned into declarations"
        };
        // `DEFINE_PER_CPU(T, x) = { ... };`: the initializer goes too (a
        // declaration has none).
        let mut end = n.end_byte();
        let rest = &self.src[end..];
        if rest.trim_start().starts_with('=') {
            if let Some(semi) = rest.find(';') {
                end += semi;
            }
        }
        self.edit(n.start_byte(), end, t);
        self.count(what);
        true
    }

    /// A declaration, once every function is known: one that names
    /// functions whose name now means vmlinux loses `static`/`inline`, so
    /// they do not conflict; a definition of shared variables becomes an
    /// `extern` declaration.
    fn declaration(&mut self, d: Node<'_>) -> anyhow::Result<()> {
        let src = self.src;
        let mut c = d.walk();
        let mut fn_names = Vec::new();
        let mut var_inits = Vec::new();
        let mut declarator_count = 0;
        for ch in d.children_by_field_name("declarator", &mut c) {
            declarator_count += 1;
            if let Some((id, is_fn)) = declarator_name(ch) {
                let nm = text(id, src);
                if is_fn && self.bound.contains(nm) {
                    fn_names.push(nm);
                } else if !is_fn && self.shared_vars.contains(nm) {
                    var_inits.push(ch);
                }
            }
        }
        if !fn_names.is_empty() {
            for s in storage(d, src, &["static", "inline"]) {
                self.edits.push(remove_word(s, src));
            }
        }
        if var_inits.is_empty() {
            return Ok(());
        }
        if !storage(d, src, &["extern"]).is_empty() {
            return Ok(()); // already a declaration
        }
        if var_inits.len() != declarator_count {
            anyhow::bail!(
                "{}:{}: a definition of shared and other variables at once; split it",
                self.path,
                d.start_position().row + 1
            );
        }
        let out = extern_declaration(d, &var_inits, src);
        self.edit(d.start_byte(), d.end_byte(), out);
        self.count("data definitions turned into declarations");
        Ok(())
    }

    /// Note every function not found at its DWARF line (interfaces may
    /// live in a header).
    fn report_unmatched(&mut self) {
        for f in self.fns {
            if !self.matched.contains(f.name.as_str()) && f.class != Class::Interface {
                self.res
                    .unmatched
                    .push(format!("{}:{} {}", self.path, f.line, f.name));
            }
        }
    }

    /// The rewritten file: the shared definitions the parser missed are
    /// found by line, then every edit is applied, after the header.
    fn finish(mut self) -> FileResult {
        let src = self.src;
        fallback_shared_definitions(src, self.shared_vars, &mut self.edits, &mut self.res);
        self.edits.sort_by_key(|e| (e.start, e.end));
        let mut out = String::with_capacity(src.len() + 4096);
        out.push_str(&header(self.path, &self.res.done));
        let mut at = 0;
        for e in &self.edits {
            if e.start < at {
                continue; // nested in an edit already applied (e.g. removed function)
            }
            out.push_str(&src[at..e.start]);
            out.push_str(&e.text);
            at = e.end;
        }
        out.push_str(&src[at..]);
        self.res.text = out;
        self.res
    }
}

/// `static T x[..] = {...};`, `T x;`, `static struct {..} x;` ->
/// `extern T x[..];`: the declaration `d`, every variable of which
/// (`vars`) is shared.
fn extern_declaration(d: Node<'_>, vars: &[Node<'_>], src: &str) -> String {
    let mut out = String::from("extern ");
    let mut c = d.walk();
    let mut first = true;
    for ch in d.children(&mut c) {
        if ch.kind() == "storage_class_specifier" || ch.kind() == ";" {
            continue;
        }
        if vars.iter().any(|v| v.id() == ch.id()) {
            let decl_part = if ch.kind() == "init_declarator" {
                ch.child_by_field_name("declarator").unwrap_or(ch)
            } else {
                ch
            };
            if !first {
                out.push_str(", ");
            }
            first = false;
            out.push_str(text(decl_part, src));
            continue;
        }
        if ch.kind() == "," {
            continue;
        }
        out.push_str(text(ch, src));
        out.push(' ');
    }
    out.push_str(";\t/* plugsched: shared with vmlinux */");
    out
}

fn header(path: &str, done: &BTreeMap<&'static str, usize>) -> String {
    let mut h = format!(
        "/*\n * Generated by `plugsched init` from {path} of the target kernel.\n *\n * Changes, so that this file can live in plugsched.ko next to vmlinux:\n"
    );
    for (what, n) in done {
        h.push_str(&format!(" *   {what}: {n}\n"));
    }
    h.push_str(
        " * External functions are declarations: the vmlinux copy runs.  Callbacks\n \
         * are renamed __cb_<name>: function pointers stay vmlinux addresses,\n \
         * valid after rollback.  Interfaces keep their signatures: vmlinux\n \
         * callers jump to them.  Shared data is declared, not defined.\n */\n",
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"#include "sched.h"

static void ext_helper(int x);
DEFINE_PER_CPU_SHARED_ALIGNED(struct rq, runqueues);
DEFINE_STATIC_KEY_FALSE(sched_smt_present);
static int shared_table[4] = { 1, 2, 3, 4 };
static __maybe_unused DEFINE_MUTEX(shared_mutex);
static DEFINE_MUTEX(private_mutex);
static int private_counter = 7;

static void ext_helper(int x)
{
	shared_table[0] += x;
}

static int pick(int x) { return x + private_counter; }

void schedule(int x)
{
	ext_helper(pick(x));
}
EXPORT_SYMBOL(schedule);

static void task_tick(int x)
{
	(void)x;
}

DEFINE_SCHED_CLASS(fair) = {
	.task_tick = task_tick,
};

static int __init sched_init_thing(void)
{
	return 0;
}
early_initcall(sched_init_thing);
"#;

    fn info(name: &str, line: u32, class: Class, init: bool) -> FnInfo {
        FnInfo {
            name: name.into(),
            line,
            class,
            init,
            sympos: 0,
            addr: 0,
        }
    }

    /// SRC's functions with their classes (and `ghost`, which the parser
    /// must report as not found), rewritten.
    fn rewrite_src(with_ghost: bool) -> FileResult {
        let mut fns = vec![
            info("ext_helper", 11, Class::External, false),
            info("pick", 16, Class::Internal, false),
            info("schedule", 18, Class::Interface, false),
            info("task_tick", 24, Class::Callback, false),
            info("sched_init_thing", 33, Class::External, true),
        ];
        if with_ghost {
            fns.push(info("ghost", 99, Class::Internal, false));
        }
        let shared: BTreeSet<String> = ["runqueues", "shared_table", "shared_mutex"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        extract_file("kernel/sched/fair.c", SRC, &fns, &shared).unwrap()
    }

    #[test]
    fn rewrites() {
        let r = rewrite_src(true);
        let t = &r.text;
        assert!(
            t.starts_with("/*\n * Generated by `plugsched init` from kernel/sched/fair.c"),
            "{t}"
        );
        // External: declaration without static, no body.
        assert!(
            t.contains("void ext_helper(int x);\t/* plugsched: external"),
            "{t}"
        );
        assert!(!t.contains("shared_table[0] += x"), "{t}");
        assert!(!t.contains("static void ext_helper(int x);"), "{t}");
        // Internal and interface kept.
        assert!(
            t.contains("__used static int pick(int x) { return x + private_counter; }"),
            "{t}"
        );
        assert!(t.contains("/* plugsched: interface schedule: do not change its signature */\nvoid schedule(int x)"), "{t}");
        assert!(!t.contains("EXPORT_SYMBOL(schedule)"), "{t}");
        // Callback renamed, declared under its own name.
        assert!(
            t.contains("__used static void __cb_task_tick(int x)"),
            "{t}"
        );
        assert!(
            t.contains("void task_tick(int x);\t/* plugsched: the vmlinux task_tick */"),
            "{t}"
        );
        // Data.
        assert!(
            t.contains("DECLARE_PER_CPU_SHARED_ALIGNED(struct rq, runqueues)"),
            "{t}"
        );
        assert!(
            t.contains("DECLARE_STATIC_KEY_FALSE(sched_smt_present);"),
            "{t}"
        );
        assert!(t.contains("extern int shared_table[4];"), "{t}");
        assert!(t.contains("static int private_counter = 7;"), "{t}");
        assert!(t.contains("extern struct mutex shared_mutex;"), "{t}");
        assert!(t.contains("static DEFINE_MUTEX(private_mutex);"), "{t}");
        assert!(
            t.contains("/* plugsched: the sched_class instances stay in vmlinux"),
            "{t}"
        );
        assert!(!t.contains(".task_tick = task_tick"), "{t}");
        // Init code and initcalls gone.
        assert!(!t.contains("return 0;"), "{t}");
        assert!(!t.contains("early_initcall"), "{t}");
        assert_eq!(
            r.unmatched,
            vec!["kernel/sched/fair.c:99 ghost".to_string()]
        );
        assert_eq!(r.done["callbacks renamed"], 1);
    }

    /// The rewritten file is valid C: compile it (as a translation unit
    /// with stand-ins for the kernel macros) and check which symbols it
    /// defines and which it leaves to "vmlinux".
    #[test]
    fn rewritten_file_compiles() {
        let r = rewrite_src(false);
        let dir = std::env::temp_dir().join(format!("plugsched-extract-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("sched.h"),
            "#define __used __attribute__((used))\n#define __init\nstruct rq { int x; };\n\
             #define DECLARE_PER_CPU_SHARED_ALIGNED(t, n) extern t n\n\
             #define DECLARE_STATIC_KEY_FALSE(n) extern int n\n\
             #define DEFINE_PER_CPU_SHARED_ALIGNED(t, n) t n\n#define DEFINE_STATIC_KEY_FALSE(n) int n\n\
             #define EXPORT_SYMBOL(x)\n#define early_initcall(x)\n\
             struct mutex { int locked; };\n#define DEFINE_MUTEX(n) struct mutex n __attribute__((unused)) = { 0 }\n",
        )
        .unwrap();
        std::fs::write(dir.join("fair.c"), &r.text).unwrap();
        let out = std::process::Command::new("cc")
            .current_dir(&dir)
            .args(["-c", "-Wall", "-Werror", "-o", "fair.o", "fair.c"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            r.text
        );
        let nm = std::process::Command::new("nm")
            .current_dir(&dir)
            .arg("fair.o")
            .output()
            .unwrap();
        let nm = String::from_utf8_lossy(&nm.stdout).to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(nm.contains(" U ext_helper"), "{nm}");
        assert!(nm.contains(" T schedule"), "{nm}");
        assert!(nm.contains(" t __cb_task_tick"), "{nm}");
        assert!(nm.contains(" t pick"), "{nm}");
        assert!(!nm.contains("sched_init_thing"), "{nm}");
    }
}
