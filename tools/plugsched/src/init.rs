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

#[derive(Serialize)]
struct FuncOut<'a> {
    name: &'a str,
    file: &'a str,
    sympos: u32,
    class: &'static str,
    addr: String,
    size: u64,
}

#[derive(Serialize)]
struct VarOut<'a> {
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
    functions: Vec<FuncOut<'a>>,
    data: Vec<VarOut<'a>>,
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

    let mut functions: Vec<FuncOut<'_>> = c
        .class
        .iter()
        .map(|(&i, &k)| {
            let f = &g.funcs[i];
            FuncOut {
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
    let mut data: Vec<VarOut<'_>> = c
        .data
        .iter()
        .map(|(&i, &k)| {
            let v = &g.vars[i];
            VarOut {
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
                })
                .collect();
            let r = extract::extract_file(file, &text, &fns, &shared)?;
            for (k, n) in r.done {
                *totals.entry(k).or_default() += n;
            }
            unmatched.extend(r.unmatched);
            r.text
        } else {
            text // headers are copied as they are
        };
        std::fs::write(&to, out).map_err(|e| format!("{}: {e}", to.display()))?;
    }
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
