// SPDX-License-Identifier: GPL-2.0

//! `plugsched init [--config FILE] KDIR WORKDIR`: analyse the scheduler
//! boundary of a built kernel and write the classification.

use std::path::{
    Path,
    PathBuf, //
};
use std::process::ExitCode;
use std::time::Instant;

use serde::Serialize;

use crate::boundary::{
    algo::{
        self,
        Class,
        DataClass, //
    },
    config,
    extract::{
        self,
        FnInfo, //
    },
    vmlinux,
};
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

/// Run `init`.
pub fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut cfg = None;
    let mut pos = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" => cfg = Some(it.next().ok_or("--config needs a file")?.clone()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => pos.push(PathBuf::from(s)),
        }
    }
    let [kdir, work] = pos.as_slice() else {
        return Err("usage: plugsched init [--config FILE] KDIR WORKDIR".into());
    };
    let cfg = cfg.unwrap_or_else(|| "boundary/linux-7.3.toml".into());
    let text = std::fs::read_to_string(&cfg).map_err(|e| format!("{cfg}: {e}"))?;
    let boundary = config::parse(&text).map_err(|e| format!("{cfg}: {e}"))?;

    let vml = ["vmlinux.unstripped", "vmlinux"]
        .iter()
        .map(|n| kdir.join(n))
        .find(|p| p.exists())
        .ok_or_else(|| format!("{}: no vmlinux", kdir.display()))?;
    let src = std::fs::canonicalize(kdir.join("source")).unwrap_or_else(|_| kdir.clone());
    let t0 = Instant::now();
    let progress = |phase: &str| {
        eprintln!("  [{:6.1}s] {phase}", t0.elapsed().as_secs_f64());
    };
    eprintln!("plugsched init: analysing {}", vml.display());
    let g = vmlinux::read_graph(&vml, &src, &progress)?;
    progress("classifying");
    let c = algo::classify(&g, &boundary);
    progress("done");

    let counts = [
        ("internal", c.count(Class::Internal)),
        ("interface", c.count(Class::Interface)),
        ("callback", c.count(Class::Callback)),
        ("external", c.count(Class::External)),
    ];
    println!(
        "functions of vmlinux: {}; call edges: {}; address-taken: {}; inlined calls: {}",
        g.funcs.len(),
        g.calls.len(),
        g.address_taken.len(),
        g.inlined.len()
    );
    let no_file = g.funcs.iter().filter(|f| f.file.is_empty()).count();
    println!("functions without a DWARF source file (assembly, generated stubs, Rust): {no_file}");

    println!("boundary: {} files ({})", boundary.files.len(), cfg);
    println!("{:<12} {:>8}", "class", "count");
    for (n, k) in counts {
        println!("{n:<12} {k:>8}");
    }
    println!("(paper, Linux 4.19: 786 internal, 94 interface, 96 external)");
    let data_counts = [
        ("data-private", c.data_count(DataClass::Private)),
        ("data-shared", c.data_count(DataClass::Shared)),
        ("data-external", c.data_count(DataClass::External)),
    ];
    for (n, k) in data_counts {
        println!("{n:<14} {k:>6}");
    }

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
                class: match k {
                    DataClass::Private => "private",
                    DataClass::Shared => "shared",
                    DataClass::External => "external",
                },
                addr: format!("{:#x}", v.addr),
                size: v.size,
            }
        })
        .collect();
    data.sort_by(|a, b| (a.file, a.name).cmp(&(b.file, b.name)));
    let out = Output {
        kdir: kdir.display().to_string(),
        counts,
        data_counts,
        functions,
        data,
        errors: &c.errors,
        warnings: &c.warnings,
    };
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let path: &Path = &work.join("boundary.json");
    let json = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
    std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("classification written to {}", path.display());

    // The manifest: every function the update redirects (interfaces and
    // callbacks) with its vmlinux symbol, sympos, address and size, and the
    // module function that replaces it; plus every function whose old code
    // must not be running (internal ones too) for the stack check.
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
    let manifest = serde_json::to_string_pretty(&entries).map_err(|e| e.to_string())?;
    write_if_changed(&work.join("manifest.json"), &manifest)?;

    // sympos of every boundary function and variable whose name is not
    // unique in vmlinux: klp-convert's --sympos input for the module.
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
    write_if_changed(&work.join("sympos"), &sympos)?;
    // The variables the module must not define (the build checks).
    let mut shared = String::new();
    for (&v, &k) in c.data.iter() {
        if k == DataClass::Shared && !g.vars[v].name.contains('.') {
            shared.push_str(&g.vars[v].name);
            shared.push('\n');
        }
    }
    write_if_changed(&work.join("shared-vars"), &shared)?;

    // Extraction: the boundary files, rewritten, under WORKDIR.
    progress("extracting module sources");
    let shared: std::collections::BTreeSet<String> = c
        .data
        .iter()
        .filter(|(_, &k)| k == DataClass::Shared)
        .map(|(&v, _)| g.vars[v].name.clone())
        .collect();
    let mut totals: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut unmatched = Vec::new();
    let mut manifest_tables: Vec<String> = Vec::new();
    for file in &boundary.files {
        let from = src.join(file);
        let to = work.join(file);
        let text =
            std::fs::read_to_string(&from).map_err(|e| format!("{}: {e}", from.display()))?;
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let out = if file.ends_with(".c") {
            let fns: Vec<FnInfo> = c
                .class
                .iter()
                .filter(|(&i, _)| &g.funcs[i].file == file && !g.funcs[i].is_clone())
                .map(|(&i, &k)| FnInfo {
                    name: g.funcs[i].name.clone(),
                    line: g.funcs[i].line,
                    class: k,
                    init: g.funcs[i].init,
                    sympos: g.funcs[i].sympos,
                })
                .collect();
            let r = extract::extract_file(file, &text, &fns, &shared)?;
            for (&k, &n) in &r.done {
                *totals.entry(k).or_default() += n;
            }
            let stem = file
                .rsplit('/')
                .next()
                .unwrap_or(file)
                .trim_end_matches(".c")
                .replace('-', "_");
            let table = manifest_table(&stem, &fns, &r);
            manifest_tables.push(stem);
            unmatched.extend(r.unmatched);
            let text = if file == "kernel/sched/core.c" {
                split_schedule(&r.text)?
            } else {
                r.text
            };
            text + &table
        } else {
            text // headers are copied as they are
        };
        write_if_changed(&to, &out)?;
    }
    write_build_files(&src, work, &boundary.files, &manifest_tables)?;
    // The __schedule split: where the module's __schedule continues in
    // vmlinux's, derived from vmlinux (or no module at all).
    progress("__schedule split: reading vmlinux's __schedule");
    let image = std::fs::read(&vml).map_err(|e| format!("{}: {e}", vml.display()))?;
    let facts = springboard::from_vmlinux(&image)?;
    write_if_changed(
        &work.join("kernel/sched/springboard-vmlinux.h"),
        &springboard::header(&facts),
    )?;
    progress("done");
    println!("module sources written under {}:", work.display());
    for (k, n) in &totals {
        println!("  {k}: {n}");
    }
    if !unmatched.is_empty() {
        println!(
            "  {} function(s) not found by the parser at their DWARF line (kept as they are; macro-generated definitions), e.g. {}",
            unmatched.len(),
            unmatched.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    if !c.warnings.is_empty() {
        println!("{} warning(s), listed there", c.warnings.len());
    }
    if !c.errors.is_empty() {
        for e in &c.errors {
            eprintln!("boundary error: {e}");
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The unity files of kernel/sched (`build_policy.c`, `build_utility.c`)
/// The module's `context_switch()` ends in the springboard into vmlinux's
/// `__schedule` instead of switching itself (`c_shims/springboard.h`).
fn split_schedule(core: &str) -> Result<String, String> {
    const SWITCH: &str = "\tswitch_to(prev, next, prev);\n";
    if core.matches(SWITCH).count() != 1 {
        return Err(
            "kernel/sched/core.c: context_switch() has no single switch_to(prev, next, prev)"
                .into(),
        );
    }
    Ok(core.replace(
        SWITCH,
        "\t/* plugsched: continue in vmlinux's __schedule (the split) */\n\tplugsched_switch_to(prev, next);\n",
    ))
}

/// with only the boundary's `.c` files, a prelude, and the Kbuild fragment
/// `Kbuild.sched` that compiles the extracted scheduler into plugsched.ko.
fn write_build_files(
    src: &Path,
    work: &Path,
    files: &std::collections::BTreeSet<String>,
    tables: &[String],
) -> Result<(), String> {
    let dir = work.join("kernel/sched");
    let mut objs = Vec::new();
    for unit in ["build_policy.c", "build_utility.c"] {
        let from = src.join("kernel/sched").join(unit);
        let text =
            std::fs::read_to_string(&from).map_err(|e| format!("{}: {e}", from.display()))?;
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
    write_if_changed(
        &work.join("prelude.h"),
        "/* Generated by `plugsched init`: the extracted scheduler is built as\n \
         * vmlinux code (it replaces vmlinux's), not as module code. */\n#undef MODULE\n\
         #include \"manifest.h\"\n#include \"springboard.h\"\n",
    )?;
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
    write_if_changed(&work.join("manifest.c"), &mc)?;
    // Paths are relative to the module's source directory ($(src)); the
    // build passes PLUGSCHED_SCHED, the work directory relative to it.
    let mut kb = String::from(
        "# Generated by `plugsched init`: the extracted scheduler, linked into\n\
         # plugsched.ko as one object whose global symbols are renamed\n\
         # __plugsched_<name>, so that the engine's own calls (wake_up_process,\n\
         # schedule, ...) keep going to vmlinux.  Exports are disabled (vmlinux\n\
         # keeps them); warnings about code the extraction left unused are not\n\
         # errors.\n",
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
    kb.push_str(&format!(
        "plugsched-sched-parts := {}\n\
         plugsched-y += $(PLUGSCHED_SCHED)/sched.o $(PLUGSCHED_SCHED)/manifest.o\n\
         targets += $(plugsched-sched-parts)\n\
         quiet_cmd_plugsched_sched = LD [M]  $@\n      \
         cmd_plugsched_sched = $(LD) $(KBUILD_LDFLAGS) -r -o $@.tmp $(filter %.o,$^) && \
         $(PLUGSCHED_TOOL) prefix-globals __plugsched_ $@.tmp $@ && rm -f $@.tmp\n\
         $(obj)/$(PLUGSCHED_SCHED)/sched.o: $(addprefix $(obj)/,$(plugsched-sched-parts)) FORCE\n\
         \t$(call if_changed,plugsched_sched)\n\
         targets += $(PLUGSCHED_SCHED)/sched.o\n",
        parts.join(" ")
    ));
    write_if_changed(&work.join("Kbuild.sched"), &kb)
}

/// Write `text` to `path` unless it already holds exactly that (so that
/// make does not rebuild what did not change).
fn write_if_changed(path: &Path, text: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The manifest entries of one extracted file, appended to it: every
/// function the module replaces (interfaces, callbacks, internal ones) with
/// its vmlinux name and sympos and the address of the module's copy
/// (`__cb_<name>` for callbacks).
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
            "\t{{ \"{}\", {}, (void *)&{module}, {cls} }},\n",
            f.name, f.sympos
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
