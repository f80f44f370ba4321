// SPDX-License-Identifier: GPL-2.0

//! `plugsched init [--config FILE] KDIR WORKDIR`: analyse the scheduler
//! boundary of a built kernel and write the classification.

use std::collections::{
    BTreeMap,
    BTreeSet, //
};
use std::path::{
    Path,
    PathBuf, //
};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{
    ensure,
    Context,
    Result, //
};
use serde::Serialize;

use crate::boundary::{
    algo::{
        self,
        Boundary,
        Class,
        Classification,
        DataClass,
        Graph, //
    },
    bindings, config,
    extract::{
        self,
        FnInfo, //
    },
    vmlinux,
};
use crate::file;
use crate::klp;
use crate::safepoints;
use crate::springboard;

/// One classified function or variable in boundary.json.
#[derive(Serialize)]
struct SymOut<'a> {
    name: &'a str,
    file: &'a str,
    sympos: u32,
    class: &'static str,
    addr: String,
    size: u64,
}

#[derive(Serialize)]
struct Output<'a> {
    kdir: String,
    counts: [(&'static str, usize); 4],
    data_counts: [(&'static str, usize); 3],
    functions: Vec<SymOut<'a>>,
    data: Vec<SymOut<'a>>,
    errors: &'a [String],
    warnings: &'a [String],
}

fn class_name(c: Class) -> &'static str {
    match c {
        Class::Interface => "interface",
        Class::Callback => "callback",
        Class::Internal => "internal",
        Class::External => "external",
    }
}

/// Arguments of `init`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The boundary config: in-boundary files, interfaces, shared and
    /// private variables.
    #[arg(long, value_name = "FILE", default_value = "boundary/linux-7.3.toml")]
    pub config: PathBuf,
    /// The vmlinux to analyse (with DWARF and a symbol table), instead of
    /// KDIR's.
    #[arg(long, value_name = "FILE")]
    pub vmlinux: Option<PathBuf>,
    /// Read the references relocation-free (data words and code operands)
    /// even if the vmlinux has relocations (to compare both ways; a vmlinux
    /// without relocations is always read so).
    #[arg(long)]
    pub no_relocs: bool,
    /// Build directory of the kernel to analyse: its vmlinux with DWARF
    /// (`vmlinux.unstripped`, `vmlinux.debug` or `vmlinux`), `System.map`
    /// and `source` (the source tree).
    #[arg(value_name = "KDIR")]
    pub kdir: PathBuf,
    /// Where to write the classification, the manifest and the extracted
    /// scheduler sources (created if missing).
    #[arg(value_name = "WORKDIR")]
    pub workdir: PathBuf,
}

/// Run `init`: exit 1 if the boundary cannot be used (errors listed).
pub fn run(args: &Args) -> Result<ExitCode> {
    let (kdir, work) = (&args.kdir, &args.workdir);
    let vml = match &args.vmlinux {
        Some(v) => v.clone(),
        None => find_vmlinux(kdir)?,
    };
    let arch = crate::arch::Arch::of_elf(&crate::file::map(&vml)?)
        .with_context(|| format!("{}", vml.display()))?;
    let boundary = load_boundary(&args.config, arch)?;
    let src = std::fs::canonicalize(kdir.join("source")).unwrap_or_else(|_| kdir.clone());
    let t0 = Instant::now();
    let progress = |phase: &str| {
        eprintln!("  [{:6.1}s] {phase}", t0.elapsed().as_secs_f64());
    };
    eprintln!("plugsched init: analysing {}", vml.display());
    let (g, refs) = vmlinux::read_graph(&vml, &src, args.no_relocs, &progress)
        .with_context(|| format!("cannot build the call graph of {}", vml.display()))?;
    progress("classifying");
    let c = algo::classify(&g, &boundary);
    progress("done");
    println!("references: {}", refs.describe());
    print_summary(&g, &c, &boundary, &args.config);

    std::fs::create_dir_all(work)
        .with_context(|| format!("cannot create the work directory {}", work.display()))?;
    write_classification(kdir, work, &g, &c)?;
    write_manifest(work, &g, &c)?;
    write_sympos(work, &g, &c)?;
    write_shared_vars(work, &g, &c)?;
    write_bindings(&vml, kdir, work, &g, &c, &boundary)?;

    // Extraction: the boundary files, rewritten, under WORKDIR.
    progress("extracting module sources");
    let ex = extract_sources(&src, work, &boundary, &g, &c)?;
    progress("safe points: reading the replaced functions' machine code");
    let safe = safe_points(&vml, arch, &g, &c)?;
    write_build_files(&src, work, &boundary.files, &ex.tables, &safe)?;
    let n = crate::pieces::write(work, &g, &c)?;
    println!("pieces: {n} compiler pieces of the replaced functions");
    // The __schedule split: where the module's __schedule continues in
    // vmlinux's, derived from vmlinux (or no module at all).
    progress("__schedule split: reading vmlinux's __schedule");
    write_springboard(&vml, work)?;
    progress("done");
    print_extraction(work, &ex, &c);
    if !c.errors.is_empty() {
        for e in &c.errors {
            eprintln!("boundary error: {e}");
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Read and parse the boundary config for vmlinux of instruction set `arch`.
fn load_boundary(path: &Path, arch: crate::arch::Arch) -> Result<Boundary> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the boundary config {}", path.display()))?;
    config::parse(&text, arch).with_context(|| format!("boundary config {}", path.display()))
}

/// The vmlinux of KDIR with the most information: the linker's output
/// with its relocations (x86's `vmlinux.unstripped`), a distribution's
/// debug vmlinux (`vmlinux.debug`: DWARF and symbols, no relocations),
/// or the plain `vmlinux`.
fn find_vmlinux(kdir: &Path) -> Result<PathBuf> {
    ["vmlinux.unstripped", "vmlinux.debug", "vmlinux"]
        .iter()
        .map(|n| kdir.join(n))
        .find(|p| p.exists())
        .with_context(|| {
            format!(
                "{}: no vmlinux.unstripped, vmlinux.debug or vmlinux; give the build directory \
                 of a built kernel (scripts/kernel.sh --kdir test prints it) or --vmlinux",
                kdir.display()
            )
        })
}

/// The class counts, on stdout.
fn print_summary(g: &Graph, c: &Classification, boundary: &Boundary, cfg: &Path) {
    println!(
        "functions of vmlinux: {}; call edges: {}; address-taken: {}; inlined calls: {}",
        g.funcs.len(),
        g.calls.len(),
        g.address_taken.len(),
        g.inlined.len()
    );
    println!(
        "variables of vmlinux: {}; uses by functions: {}; referenced by data: {}",
        g.vars.len(),
        g.var_refs.len(),
        g.data_referenced.len()
    );
    let no_file = g.funcs.iter().filter(|f| f.file.is_empty()).count();
    println!("functions without a DWARF source file (assembly, generated stubs, Rust): {no_file}");

    println!(
        "boundary: {} files ({})",
        boundary.files.len(),
        cfg.display()
    );
    println!("{:<12} {:>8}", "class", "count");
    for (n, k) in counts(c) {
        println!("{n:<12} {k:>8}");
    }
    println!("(paper, Linux 4.19: 786 internal, 94 interface, 96 external)");
    for (n, k) in data_counts(c) {
        println!("{n:<14} {k:>6}");
    }
}

fn counts(c: &Classification) -> [(&'static str, usize); 4] {
    [
        ("internal", c.count(Class::Internal)),
        ("interface", c.count(Class::Interface)),
        ("callback", c.count(Class::Callback)),
        ("external", c.count(Class::External)),
    ]
}

fn data_counts(c: &Classification) -> [(&'static str, usize); 3] {
    [
        ("data-private", c.data_count(DataClass::Private)),
        ("data-shared", c.data_count(DataClass::Shared)),
        ("data-external", c.data_count(DataClass::External)),
    ]
}

fn data_class_name(k: DataClass) -> &'static str {
    match k {
        DataClass::Private => "private",
        DataClass::Shared => "shared",
        DataClass::External => "external",
    }
}

/// WORKDIR/boundary.json: every classified function and variable.
fn write_classification(kdir: &Path, work: &Path, g: &Graph, c: &Classification) -> Result<()> {
    let mut functions: Vec<SymOut<'_>> = c
        .class
        .iter()
        .map(|(&i, &k)| {
            let f = &g.funcs[i];
            SymOut {
                name: &f.name,
                file: &f.file,
                sympos: f.sympos,
                class: class_name(k),
                addr: format!("{:#x}", f.addr),
                size: f.size,
            }
        })
        .collect();
    functions.sort_by(|a, b| (a.file, a.name).cmp(&(b.file, b.name)));
    let mut data: Vec<SymOut<'_>> = c
        .data
        .iter()
        .map(|(&i, &k)| {
            let v = &g.vars[i];
            SymOut {
                name: &v.name,
                file: &v.file,
                sympos: v.sympos,
                class: data_class_name(k),
                addr: format!("{:#x}", v.addr),
                size: v.size,
            }
        })
        .collect();
    data.sort_by(|a, b| (a.file, a.name).cmp(&(b.file, b.name)));
    let out = Output {
        kdir: kdir.display().to_string(),
        counts: counts(c),
        data_counts: data_counts(c),
        functions,
        data,
        errors: &c.errors,
        warnings: &c.warnings,
    };
    let path = work.join("boundary.json");
    let json = serde_json::to_string_pretty(&out)?;
    std::fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))?;
    println!("classification written to {}", path.display());
    Ok(())
}

/// WORKDIR/manifest.json: every function the update redirects
/// (interfaces and callbacks) with its vmlinux symbol, sympos, address and
/// size, and the module function that replaces it; plus every function
/// whose old code must not be running (internal ones too) for the stack
/// check.
fn write_manifest(work: &Path, g: &Graph, c: &Classification) -> Result<()> {
    #[derive(Serialize)]
    struct Entry<'a> {
        vmlinux: &'a str,
        sympos: u32,
        addr: String,
        size: u64,
        module: String,
        class: &'static str,
    }
    let entries: Vec<Entry<'_>> = c
        .class
        .iter()
        .filter(|(_, &k)| k != Class::External)
        .map(|(&i, &k)| {
            let f = &g.funcs[i];
            Entry {
                vmlinux: &f.name,
                sympos: f.sympos,
                addr: format!("{:#x}", f.addr),
                size: f.size,
                module: match k {
                    Class::Callback => format!("__cb_{}", f.name),
                    _ => f.name.clone(),
                },
                class: class_name(k),
            }
        })
        .collect();
    let manifest = serde_json::to_string_pretty(&entries)?;
    write_if_changed(&work.join("manifest.json"), &manifest)
}

/// WORKDIR/sympos: the sympos of every boundary function and variable
/// whose name is not unique in vmlinux (klp-convert's --sympos input).
fn write_sympos(work: &Path, g: &Graph, c: &Classification) -> Result<()> {
    let mut sympos = String::from("# generated by plugsched init: name sympos\n");
    for (&i, _) in c.class.iter() {
        let f = &g.funcs[i];
        if f.sympos > 0 && !f.is_clone() {
            // (Names with a dot are compiler-made and never referenced.)
            sympos.push_str(&format!("{} {}\n", f.name, f.sympos));
        }
    }
    for (&v, _) in c.data.iter() {
        if g.vars[v].sympos > 0 && !g.vars[v].name.contains('.') {
            sympos.push_str(&format!("{} {}\n", g.vars[v].name, g.vars[v].sympos));
        }
    }
    write_if_changed(&work.join("sympos"), &sympos)
}

/// The variables the module must share with vmlinux, by name.
fn shared_vars(g: &Graph, c: &Classification) -> BTreeSet<String> {
    c.data
        .iter()
        .filter(|(_, &k)| k == DataClass::Shared)
        .map(|(&v, _)| g.vars[v].name.clone())
        .collect()
}

/// WORKDIR/shared-vars: the variables the module must not define (the
/// build checks).
fn write_shared_vars(work: &Path, g: &Graph, c: &Classification) -> Result<()> {
    let mut shared = String::new();
    for (&v, &k) in c.data.iter() {
        if k == DataClass::Shared && !g.vars[v].name.contains('.') {
            shared.push_str(&g.vars[v].name);
            shared.push('\n');
        }
    }
    write_if_changed(&work.join("shared-vars"), &shared)
}

/// What the extraction did.
struct Extraction {
    /// Rewrites done, by kind.
    totals: BTreeMap<&'static str, usize>,
    /// Functions the parser did not find at their DWARF line.
    unmatched: Vec<String>,
    /// Stems of the files with a manifest table.
    tables: Vec<String>,
}

/// Write the boundary files, rewritten, under WORKDIR.
fn extract_sources(
    src: &Path,
    work: &Path,
    boundary: &Boundary,
    g: &Graph,
    c: &Classification,
) -> Result<Extraction> {
    let shared = shared_vars(g, c);
    let mut ex = Extraction {
        totals: BTreeMap::new(),
        unmatched: Vec::new(),
        tables: Vec::new(),
    };
    for file in &boundary.files {
        let from = src.join(file);
        let to = work.join(file);
        let text = std::fs::read_to_string(&from)
            .with_context(|| format!("cannot read the boundary file {}", from.display()))?;
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let out = if file.ends_with(".c") {
            extract_c_file(file, &text, g, c, &shared, &mut ex)?
        } else {
            text // headers are copied as they are
        };
        write_if_changed(&to, &out)?;
    }
    Ok(ex)
}

/// One boundary `.c` file, rewritten, with its manifest table.
fn extract_c_file(
    file: &str,
    text: &str,
    g: &Graph,
    c: &Classification,
    shared: &BTreeSet<String>,
    ex: &mut Extraction,
) -> Result<String> {
    let fns: Vec<FnInfo> = c
        .class
        .iter()
        .filter(|(&i, _)| g.funcs[i].file == file && !g.funcs[i].is_clone())
        .map(|(&i, &k)| FnInfo {
            name: g.funcs[i].name.clone(),
            line: g.funcs[i].line,
            class: k,
            init: g.funcs[i].init,
            sympos: g.funcs[i].sympos,
            addr: g.funcs[i].addr,
        })
        .collect();
    let r = extract::extract_file(file, text, &fns, shared)
        .with_context(|| format!("cannot extract {file}"))?;
    for (&k, &n) in &r.done {
        *ex.totals.entry(k).or_default() += n;
    }
    let stem = file
        .rsplit('/')
        .next()
        .unwrap_or(file)
        .trim_end_matches(".c")
        .replace('-', "_");
    let table = manifest_table(&stem, &fns, &r);
    ex.tables.push(stem);
    ex.unmatched.extend(r.unmatched);
    let text = if file == "kernel/sched/core.c" {
        split_schedule(&r.text)?
    } else {
        r.text
    };
    Ok(text + &table)
}

/// The safe points of every replaced function but `__schedule` (split)
/// ([`safepoints`]), as the C table of manifest.c: name, sympos and
/// offset of each instruction at which a task may stay across an upgrade
/// (a return address, or where an interrupt stopped it).  The analysis reads x86_64 code; for arm64 the table is empty
/// (no safe points yet: the stack checks stay strict).
fn safe_points(
    vml: &Path,
    arch: crate::arch::Arch,
    g: &Graph,
    c: &Classification,
) -> Result<String> {
    let image = file::map(vml)?;
    let obj = object::File::parse(&*image)?;
    let (mut groups, mut calls, mut funcs) = (Vec::new(), 0, 0);
    let (mut n, mut returns) = (0, 0);
    let cx = if arch == crate::arch::Arch::X86_64 {
        let mut cx = safepoints::context_from_vmlinux(&obj)?;
        // What the upgrade replaces: every function of the boundary but
        // the external ones, with their compiler pieces; of those, the
        // interfaces and callbacks (and the split __schedule) are entered
        // through their redirected entries.
        let inside = |i: usize| {
            matches!(
                c.class.get(&i),
                Some(Class::Internal | Class::Interface | Class::Callback)
            )
        };
        for (i, f) in g.funcs.iter().enumerate() {
            if f.size == 0 || !(inside(i) || f.clone_of.is_some_and(inside)) {
                continue;
            }
            cx.replaced.push((f.addr, f.addr + f.size));
            if f.clone_of.is_none()
                && matches!(c.class.get(&i), Some(Class::Interface | Class::Callback))
                || f.name == "__schedule"
            {
                cx.entries.insert(f.addr);
            }
        }
        cx.replaced.sort_unstable();
        cx.calls_known = true;
        Some(cx)
    } else {
        println!("safe points: none ({arch:?}: the analysis reads x86_64 code only)");
        None
    };
    for (&i, &k) in c.class.iter() {
        let Some(cx) = &cx else { break };
        let f = &g.funcs[i];
        if k == Class::External || f.init || f.name == "__schedule" || f.size == 0 {
            continue;
        }
        let code = safepoints::code_at(&obj, f.addr, f.size)
            .with_context(|| format!("{}: no code at {:#x} in vmlinux", f.name, f.addr))?;
        let offs = safepoints::safe_instructions(code, f.addr, cx);
        calls += safepoints::return_addresses(code, f.addr);
        returns += safepoints::safe_returns(code, f.addr, cx).len();
        if !offs.is_empty() {
            funcs += 1;
            n += offs.len();
            groups.push((f.name.clone(), u64::from(f.sympos), offs));
        }
    }
    if cx.is_some() {
        println!(
            "safe points: {n} instructions ({returns} of {calls} return addresses), in {funcs} functions"
        );
    }
    let (arrays, rows) = safepoints::c_groups("sp", &groups);
    Ok(format!(
        "\n/* The safe points: instructions of replaced functions (return addresses,\n \
         * or where an interrupt may stop a task) whose code up to the return\n \
         * touches no scheduler state (tools/plugsched/src/safepoints.rs). */\n\
         {arrays}\n\
         static const struct plugsched_safepoint safepoints[] = {{\n{rows}}};\n\n\
         unsigned int plugsched_safepoint_count(void)\n{{\n\treturn ARRAY_SIZE(safepoints) - 1;\n}}\n\n\
         const struct plugsched_safepoint *plugsched_safepoint_get(unsigned int i)\n{{\n\
         \treturn i < ARRAY_SIZE(safepoints) - 1 ? &safepoints[i] : NULL;\n}}\n"
    ))
}

/// WORKDIR/kernel/sched/springboard-vmlinux.h: the facts of vmlinux's
/// `__schedule` the module's needs.
fn write_springboard(vml: &Path, work: &Path) -> Result<()> {
    let image = file::map(vml)?;
    let facts = springboard::from_vmlinux(&image).with_context(|| {
        format!(
            "{}: its __schedule does not allow the split (Documentation/live-update.rst)",
            vml.display()
        )
    })?;
    write_if_changed(
        &work.join("kernel/sched/springboard-vmlinux.h"),
        &springboard::header(&facts),
    )
}

/// Write `WORKDIR/bindings.json` (see `boundary::bindings`): what the
/// module's scheduler must take from vmlinux at object level, statics and
/// string literals (`plugsched bind-data`).
fn write_bindings(
    vml: &Path,
    kdir: &Path,
    work: &Path,
    g: &Graph,
    c: &Classification,
    boundary: &Boundary,
) -> Result<()> {
    use object::{
        Object,
        ObjectSection, //
    };
    let map_path = kdir.join("System.map");
    let text = std::fs::read_to_string(&map_path)
        .with_context(|| format!("cannot read {}", map_path.display()))?;
    let map = klp::SymbolMap::parse(&text).with_context(|| format!("{}", map_path.display()))?;
    let image = file::map(vml)?;
    let obj = object::File::parse(&*image)?;
    let sec = obj
        .section_by_name(".rodata")
        .with_context(|| format!("{}: no .rodata", vml.display()))?;
    let rodata = bindings::Rodata {
        addr: sec.address(),
        bytes: sec.data()?,
    };
    let b = bindings::Bindings {
        statics: bindings::statics(g, c, &map, &rodata),
        strings: bindings::strings(g, &|f| c.class.contains_key(&f), &rodata, &map),
        module_private: boundary.module_private.iter().cloned().collect(),
    };
    println!(
        "bindings: {} statics of the scheduler's units ({} the module must take from vmlinux), {} string literals",
        b.statics.len(),
        b.statics.iter().filter(|s| s.binds()).count(),
        b.strings.len()
    );
    write_if_changed(
        &work.join("bindings.json"),
        &serde_json::to_string_pretty(&b)?,
    )
}

/// What the extraction did, on stdout.
fn print_extraction(work: &Path, ex: &Extraction, c: &Classification) {
    println!("module sources written under {}:", work.display());
    for (k, n) in &ex.totals {
        println!("  {k}: {n}");
    }
    if !ex.unmatched.is_empty() {
        println!(
            "  {} function(s) not found by the parser at their DWARF line (kept as they are; macro-generated definitions), e.g. {}",
            ex.unmatched.len(),
            ex.unmatched.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    if !c.warnings.is_empty() {
        println!("{} warning(s), listed there", c.warnings.len());
    }
}

/// The module's `context_switch()` ends in the springboard into vmlinux's
/// `__schedule` instead of switching itself (`c_shims/springboard.h`).
fn split_schedule(core: &str) -> Result<String> {
    const SWITCH: &str = "\tswitch_to(prev, next, prev);\n";
    ensure!(
        core.matches(SWITCH).count() == 1,
        "kernel/sched/core.c: context_switch() has no single switch_to(prev, next, prev); \
         the split needs one (tools/plugsched/src/init.rs, split_schedule)"
    );
    Ok(core.replace(
        SWITCH,
        "\t/* plugsched: continue in vmlinux's __schedule (the split) */\n\tplugsched_switch_to(prev, next);\n",
    ))
}

/// Force-included before every extracted scheduler unit (after the
/// kernel's `kconfig.h`).  The scheduler is built as vmlinux code (it
/// replaces vmlinux's), not as module code.  The trace metadata of its
/// system calls (`CONFIG_FTRACE_SYSCALLS`: `__syscall_meta_*`, the
/// `sys_enter_*`/`sys_exit_*` events that `SYSCALL_DEFINEx` emits) is
/// vmlinux's: a module copy would register every event a second time, and
/// the copies are variables vmlinux has, which the module must not define.
/// That option guards nothing else the scheduler's units see (no type,
/// only that metadata and declarations of the syscall tracer's own).
const PRELUDE: &str = "/* Generated by `plugsched init`: the extracted scheduler is built as\n \
 * vmlinux code (it replaces vmlinux's), not as module code; its system\n \
 * calls' trace metadata is vmlinux's. */\n\
#undef MODULE\n\
#undef CONFIG_FTRACE_SYSCALLS\n\
#include \"manifest.h\"\n\
#include \"springboard.h\"\n";

/// The unity files of kernel/sched (`build_policy.c`, `build_utility.c`)
/// with only the boundary's `.c` files, a prelude, and the Kbuild fragment
/// `Kbuild.sched` that compiles the extracted scheduler into plugsched.ko.
fn write_build_files(
    src: &Path,
    work: &Path,
    files: &BTreeSet<String>,
    tables: &[String],
    safe: &str,
) -> Result<()> {
    let dir = work.join("kernel/sched");
    let mut objs = Vec::new();
    for unit in ["build_policy.c", "build_utility.c"] {
        let from = src.join("kernel/sched").join(unit);
        let text = std::fs::read_to_string(&from)
            .with_context(|| format!("cannot read {}", from.display()))?;
        let mut out = format!("/* Generated by `plugsched init` from kernel/sched/{unit}: only the boundary's files. */\n");
        for line in text.lines() {
            let inc = line
                .trim_start()
                .trim_start_matches('#')
                .trim_start()
                .strip_prefix("include \"")
                .and_then(|r| r.strip_suffix('"'))
                .filter(|f| f.ends_with(".c"));
            match inc {
                Some(f) if !files.contains(&format!("kernel/sched/{f}")) => {
                    out.push_str(&format!("/* plugsched: {f} is outside the boundary */\n"));
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        let name = format!("mod_{unit}");
        write_if_changed(&dir.join(&name), &out)?;
        objs.push(name.replace(".c", ".o"));
    }
    for f in ["core.c", "fair.c"] {
        if files.contains(&format!("kernel/sched/{f}")) {
            objs.push(f.replace(".c", ".o"));
        }
    }
    write_if_changed(&work.join("prelude.h"), PRELUDE)?;
    // The engine's view of the manifest, outside the renamed object: the
    // per-file tables are reached under their __plugsched_ names.
    let mut mc = String::from(
        "/* Generated by `plugsched init`: the manifest of the replaced functions. */\n\
         #include <linux/array_size.h>\n#include <linux/stddef.h>\n#include \"manifest.h\"\n\n",
    );
    for t in tables {
        mc.push_str(&format!(
            "extern const struct plugsched_fn __plugsched_manifest_{t}[];\n\
             extern const unsigned int __plugsched_manifest_{t}_len;\n"
        ));
    }
    mc.push_str("\nstatic const struct plugsched_fn *const tables[] = {\n");
    for t in tables {
        mc.push_str(&format!("\t__plugsched_manifest_{t},\n"));
    }
    mc.push_str("};\n\nstatic const unsigned int *const lens[] = {\n");
    for t in tables {
        mc.push_str(&format!("\t&__plugsched_manifest_{t}_len,\n"));
    }
    mc.push_str(
        "};\n\n\
         unsigned int plugsched_manifest_len(void)\n{\n\tunsigned int i, n = 0;\n\n\
         \tfor (i = 0; i < ARRAY_SIZE(lens); i++)\n\t\tn += *lens[i];\n\treturn n;\n}\n\n\
         const struct plugsched_fn *plugsched_manifest_get(unsigned int k)\n{\n\tunsigned int i;\n\n\
         \tfor (i = 0; i < ARRAY_SIZE(lens); i++) {\n\t\tif (k < *lens[i])\n\t\t\treturn &tables[i][k];\n\
         \t\tk -= *lens[i];\n\t}\n\treturn NULL;\n}\n",
    );
    mc.push_str(safe);
    write_if_changed(&work.join("manifest.c"), &mc)?;
    // Paths are relative to the module's source directory ($(src)); the
    // build passes PLUGSCHED_SCHED, the work directory relative to it.
    let mut kb = String::from(
        "# Generated by `plugsched init`: the extracted scheduler, linked into\n\
         # plugsched.ko as one object whose global symbols are renamed\n\
         # __plugsched_<name>, so that the engine's own calls (wake_up_process,\n\
         # schedule, ...) keep going to vmlinux.  Before that, `plugsched\n\
         # bind-data` makes it use vmlinux's statics and string literals and\n\
         # refuses it if an address of its own memory leaves it.  Exports are\n\
         # disabled (vmlinux keeps them); warnings about code the extraction\n\
         # left unused are not errors.\n",
    );
    let flags =
        "-D__DISABLE_EXPORTS -I$(src)/c_shims -include $(src)/$(PLUGSCHED_SCHED)/prelude.h \
                 -I$(src)/$(PLUGSCHED_SCHED)/kernel/sched -I$(srctree)/kernel/sched \
                 -Wno-unused-function -Wno-unused-variable -Wno-unused-but-set-variable \
                 -Wno-missing-prototypes";
    let mut parts = Vec::new();
    for o in &objs {
        let path = format!("$(PLUGSCHED_SCHED)/kernel/sched/{o}");
        kb.push_str(&format!("CFLAGS_{path} := {flags}\n"));
        parts.push(path);
    }
    kb.push_str("CFLAGS_$(PLUGSCHED_SCHED)/manifest.o := -I$(src)/c_shims\n");
    kb.push_str("CFLAGS_$(PLUGSCHED_SCHED)/pieces.o := -I$(src)/c_shims\n");
    kb.push_str(&format!(
        "plugsched-sched-parts := {}\n\
         plugsched-y += $(PLUGSCHED_SCHED)/sched.o $(PLUGSCHED_SCHED)/manifest.o $(PLUGSCHED_SCHED)/pieces.o\n\
         targets += $(plugsched-sched-parts)\n\
         quiet_cmd_plugsched_sched = LD [M]  $@\n      \
         cmd_plugsched_sched = $(LD) $(KBUILD_LDFLAGS) -r -o $@.tmp $(filter %.o,$^) && \
         $(PLUGSCHED_TOOL) bind-data --bindings $(src)/$(PLUGSCHED_SCHED)/bindings.json $@.tmp $@.bound && \
         $(PLUGSCHED_TOOL) prefix-globals __plugsched_ $@.bound $@ && rm -f $@.tmp $@.bound\n\
         $(obj)/$(PLUGSCHED_SCHED)/sched.o: $(addprefix $(obj)/,$(plugsched-sched-parts)) \
         $(src)/$(PLUGSCHED_SCHED)/bindings.json $(PLUGSCHED_TOOL) FORCE\n\
         \t$(call if_changed,plugsched_sched)\n\
         targets += $(PLUGSCHED_SCHED)/sched.o\n",
        parts.join(" ")
    ));
    write_if_changed(&work.join("Kbuild.sched"), &kb)
}

/// Write `text` to `path` unless it already holds exactly that (so that
/// make does not rebuild what did not change).
pub(crate) fn write_if_changed(path: &Path, text: &str) -> Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The manifest entries of one extracted file, appended to it: every
/// function the module replaces (interfaces, callbacks, internal ones) with
/// its vmlinux name, sympos and address before KASLR, and the address of
/// the module's copy (`__cb_<name>` for callbacks).
fn manifest_table(stem: &str, fns: &[FnInfo], r: &extract::FileResult) -> String {
    let mut t = format!(
        "\n/* plugsched: manifest of the functions of this file the module replaces */\n\
         const struct plugsched_fn manifest_{stem}[] = {{\n"
    );
    let mut n = 0;
    for f in fns {
        if f.init || f.class == Class::External {
            continue;
        }
        if f.class != Class::Interface
            && r.unmatched
                .iter()
                .any(|u| u.ends_with(&format!(" {}", f.name)))
        {
            continue;
        }
        let (module, cls) = match f.class {
            Class::Callback if r.not_renamed.contains(&f.name) => {
                (f.name.clone(), "PLUGSCHED_CALLBACK")
            }
            Class::Callback => (format!("__cb_{}", f.name), "PLUGSCHED_CALLBACK"),
            Class::Interface => (f.name.clone(), "PLUGSCHED_INTERFACE"),
            _ => (f.name.clone(), "PLUGSCHED_INTERNAL"),
        };
        t.push_str(&format!(
            "\t{{ \"{}\", {}, {:#x}UL, (void *)&{module}, {cls} }},\n",
            f.name, f.sympos, f.addr
        ));
        n += 1;
    }
    t.push_str(&format!(
        "}};\nconst unsigned int manifest_{stem}_len = {n};\n"
    ));
    if n == 0 {
        // An empty initializer list is not C: one sentinel, length 0.
        t = t.replace(
            &format!("manifest_{stem}[] = {{\n}}"),
            &format!("manifest_{stem}[1] = {{ {{ 0 }} }}"),
        );
    }
    t
}
