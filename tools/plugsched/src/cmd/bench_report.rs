// SPDX-License-Identifier: GPL-2.0

//! `plugsched bench-report LOG SVG`: the tables, ratios and plot of a
//! `make bench` run, from the guest's console log (lines `floor:`,
//! `bench:`, `live:` and `load:` of tests-e2e/bench-engine).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{
    bail,
    Context,
    Result, //
};
use svg::node::element::{
    Line,
    Polyline,
    Text, //
};
use svg::Document;

/// Arguments of `bench-report`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The console log of the bench-engine scenario.
    #[arg(value_name = "LOG")]
    pub log: PathBuf,
    /// Where to write the plot of downtime against thread count.
    #[arg(value_name = "SVG")]
    pub svg: PathBuf,
}

/// One measured line: its kind (`floor`, `live`, ...), its words without
/// `=` (e.g. `Parallel`), and its `key=value` numbers.
#[derive(Debug, Default)]
struct Sample {
    kind: String,
    words: Vec<String>,
    values: BTreeMap<String, u64>,
}

impl Sample {
    fn get(&self, key: &str) -> u64 {
        self.values.get(key).copied().unwrap_or(0)
    }
}

/// The samples of `log`, in order.
fn parse(log: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in log.lines() {
        let line = line.trim_end_matches('\r');
        let Some((kind, rest)) = ["floor:", "bench:", "live:", "loadparts:", "load:"]
            .iter()
            .find_map(|k| {
                line.find(k)
                    .map(|i| (&k[..k.len() - 1], &line[i + k.len()..]))
            })
        else {
            continue;
        };
        let mut s = Sample {
            kind: kind.to_string(),
            ..Sample::default()
        };
        for w in rest.split_whitespace() {
            match w.split_once('=') {
                Some((k, v)) => {
                    if let Ok(n) = v.parse() {
                        s.values.insert(k.to_string(), n);
                    } else {
                        s.words.push(format!("{k}={v}"));
                    }
                }
                None => s.words.push(w.to_string()),
            }
        }
        out.push(s);
    }
    out
}

/// The series of the plot and the tables: per thread count, in ns.
type Series = BTreeMap<u64, u64>;

/// Per thread count, the median (the lower one of an even count) of the
/// sum of `keys` over the samples of `kind` that have `word`.
fn series_sum(samples: &[Sample], kind: &str, word: &str, keys: &[&str]) -> Series {
    let mut all: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for s in samples
        .iter()
        .filter(|s| s.kind == kind && (word.is_empty() || s.words.iter().any(|w| w == word)))
    {
        let v = keys.iter().map(|k| s.get(k)).sum();
        all.entry(s.get("threads")).or_default().push(v);
    }
    all.into_iter()
        .map(|(t, mut v)| {
            v.sort_unstable();
            (t, v[(v.len() - 1) / 2])
        })
        .collect()
}

fn series(samples: &[Sample], kind: &str, word: &str, key: &str) -> Series {
    series_sum(samples, kind, word, &[key])
}

/// How many samples of `kind` with `word` there are at `threads`.
fn count(samples: &[Sample], kind: &str, word: &str, threads: u64) -> usize {
    samples
        .iter()
        .filter(|s| s.kind == kind && s.words.iter().any(|w| w == word))
        .filter(|s| s.get("threads") == threads)
        .count()
}

fn ms(ns: u64) -> String {
    format!("{:.2}", ns as f64 / 1e6)
}

/// The rendezvous' phases of a whole-scheduler switch (`live:` lines).
const PHASES: [&str; 4] = ["stack_check_ns", "clear_ns", "redirect_ns", "rebuild_ns"];

/// Run `bench-report`.
pub fn run(args: &Args) -> Result<ExitCode> {
    let log =
        std::fs::read(&args.log).with_context(|| format!("cannot read {}", args.log.display()))?;
    let samples = parse(&String::from_utf8_lossy(&log));
    let floor = series(&samples, "floor", "", "median_ns");
    let up = series(&samples, "live", "dir=upgrade", "stop_machine_ns");
    if floor.is_empty() || up.is_empty() {
        bail!(
            "{}: no floor: or live: lines (a module without the extracted scheduler?)",
            args.log.display()
        );
    }
    let named: Vec<(&str, Series)> = vec![
        ("empty stop_machine (floor)", floor.clone()),
        ("upgrade", up.clone()),
        (
            "upgrade: stack check",
            series(&samples, "live", "dir=upgrade", "stack_check_ns"),
        ),
        (
            "upgrade: redirect",
            series(&samples, "live", "dir=upgrade", "redirect_ns"),
        ),
        (
            "upgrade: all phases",
            series_sum(&samples, "live", "dir=upgrade", &PHASES),
        ),
        (
            "upgrade: enter + leave",
            series_sum(&samples, "live", "dir=upgrade", &["enter_ns", "leave_ns"]),
        ),
        (
            "rollback",
            series(&samples, "live", "dir=rollback", "stop_machine_ns"),
        ),
        (
            "engine self-test, parallel",
            series(&samples, "bench", "Parallel", "stop_machine_ns"),
        ),
        (
            "engine self-test, serial",
            series(&samples, "bench", "Serial", "stop_machine_ns"),
        ),
    ];
    let n = up
        .keys()
        .next()
        .map_or(0, |&t| count(&samples, "live", "dir=upgrade", t));
    println!(
        "(medians: of {n} upgrades and rollbacks per thread count; of the floor's runs' medians; \
         enter/leave: before the first CPU entered, after the last left the rendezvous)"
    );
    let outside = [
        (
            "upgrade: check before",
            series(&samples, "live", "dir=upgrade", "prescan_ns"),
        ),
        (
            "upgrade: sites to hops, back",
            series(&samples, "live", "dir=upgrade", "link_ns"),
        ),
    ];
    print_table(&named, &outside);
    print_ratios(&floor, &up);
    for s in samples.iter().filter(|s| s.kind == "load") {
        println!(
            "load: insmod {} ms = plan {} ms + module loader (reading, layout, klp relocations) {} ms",
            ms(s.get("insmod_ns")),
            ms(s.get("plan_ns")),
            ms(s.get("loader_ns"))
        );
    }
    for s in samples.iter().filter(|s| s.kind == "loadparts") {
        print_load_steps(s);
    }
    svg::save(&args.svg, &plot(&named))
        .with_context(|| format!("cannot write {}", args.svg.display()))?;
    println!("plot: {}", args.svg.display());
    Ok(ExitCode::SUCCESS)
}

/// The loader's steps (a second, traced load; tests-e2e/bench-engine).
fn print_load_steps(s: &Sample) {
    let sum = |keys: &[&str]| ms(keys.iter().map(|k| s.get(&format!("{k}_ns"))).sum());
    println!(
        "load steps (traced load): reading the file {} ms; load_module {} ms; init (the plan) {} ms",
        sum(&["kernel_read_file"]),
        sum(&["load_module"]),
        sum(&["do_init_module"])
    );
    println!(
        "  in load_module: klp relocations {} ms; all relocations (klp ones included, without their \
         look-ups) {} ms; exported symbols {} ms; arch finalisation (alternatives, return and call \
         thunks, ORC) {} ms, of which the ORC table {} ms; ftrace records: kallsyms look-ups {} ms, \
         NOP writes {} ms; kallsyms {} ms; sysfs {} ms; page protections {} ms; \
         module notifiers (static calls, jump labels, BTF) {} ms",
        sum(&["klp_apply_section_relocs"]),
        sum(&["apply_relocate_add"]),
        sum(&["resolve_symbol"]),
        sum(&["module_finalize"]),
        sum(&["unwind_module_init"]),
        sum(&["kallsyms_lookup"]),
        sum(&["text_poke_early"]),
        sum(&["add_kallsyms"]),
        sum(&["mod_sysfs_setup"]),
        sum(&["module_enable_rodata_ro", "module_enable_text_rox"]),
        sum(&[
            "static_call_module_notify",
            "jump_label_module_notify",
            "btf_module_notify"
        ])
    );
}

/// The table of `named` and then of `outside` (not downtime), with the
/// thread counts of the upgrade (`named[1]`).
fn print_table(named: &[(&str, Series)], outside: &[(&str, Series)]) {
    let threads: Vec<u64> = named[1].1.keys().copied().collect();
    let rows = |rows: &[(&str, Series)]| {
        for (name, s) in rows {
            print!("{name:<30}");
            for t in &threads {
                print!("{:>10}", s.get(t).map_or("-".to_string(), |&v| ms(v)));
            }
            println!();
        }
    };
    print!("{:<30}", "stop_machine ms / threads");
    for t in &threads {
        print!("{t:>10}");
    }
    println!();
    rows(named);
    println!("not downtime (ms):");
    rows(outside);
}

fn print_ratios(floor: &Series, up: &Series) {
    let ratio = |a: Option<&u64>, b: Option<&u64>| match (a, b) {
        (Some(&a), Some(&b)) if b > 0 => format!("{:.2}", a as f64 / b as f64),
        _ => "-".to_string(),
    };
    println!(
        "ratio: upgrade at 1000 threads / floor = {} (target <= 3)",
        ratio(up.get(&1000), floor.get(&1000))
    );
    for t in [10000, 30000] {
        println!(
            "ratio: upgrade at {t} threads / at 100 = {} (target <= 1.5)",
            ratio(up.get(&t), up.get(&100))
        );
    }
}

/// Downtime (ms) against threads (log scale), one polyline per series.
fn plot(named: &[(&str, Series)]) -> Document {
    const W: f64 = 720.0;
    const H: f64 = 420.0;
    const L: f64 = 70.0;
    const B: f64 = 50.0;
    const COLOURS: [&str; 10] = [
        "#444", "#c00", "#e80", "#a60", "#c0c", "#0aa", "#888", "#06c", "#090", "#909",
    ];
    let xs: Vec<u64> = named.iter().flat_map(|(_, s)| s.keys().copied()).collect();
    let (xmin, xmax) = xs.iter().fold((f64::MAX, 1.0f64), |(lo, hi), &x| {
        let lx = (x.max(1) as f64).log10();
        (lo.min(lx), hi.max(lx))
    });
    let ymax = named
        .iter()
        .flat_map(|(_, s)| s.values().copied())
        .max()
        .unwrap_or(1) as f64
        / 1e6;
    let px =
        |x: u64| L + ((x.max(1) as f64).log10() - xmin) / (xmax - xmin).max(1e-9) * (W - L - 20.0);
    let py = |ns: u64| H - B - (ns as f64 / 1e6) / ymax.max(1e-9) * (H - B - 20.0);
    let mut doc = Document::new()
        .set("viewBox", (0, 0, W, H))
        .set("font-family", "sans-serif")
        .set("font-size", 12)
        .add(axis(L, H - B, W - 10.0, H - B))
        .add(axis(L, H - B, L, 10.0))
        .add(label(W / 2.0, H - 10.0, "threads (log scale)"))
        .add(label(15.0, 15.0, "ms"));
    for &x in &named[1].1.keys().copied().collect::<Vec<_>>() {
        doc = doc.add(label(px(x), H - B + 18.0, &x.to_string()));
    }
    for k in 0..=4 {
        let v = ymax * f64::from(k) / 4.0;
        doc = doc.add(label(
            L - 30.0,
            py((v * 1e6) as u64) + 4.0,
            &format!("{v:.1}"),
        ));
    }
    for (i, (name, s)) in named.iter().enumerate() {
        let points: Vec<String> = s
            .iter()
            .map(|(&x, &y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let colour = COLOURS[i % COLOURS.len()];
        doc = doc
            .add(
                Polyline::new()
                    .set("points", points.join(" "))
                    .set("fill", "none")
                    .set("stroke", colour)
                    .set("stroke-width", 2),
            )
            .add(
                label(L + 10.0, 20.0 + 16.0 * i as f64, name)
                    .set("fill", colour)
                    .set("text-anchor", "start"),
            );
    }
    doc
}

fn axis(x1: f64, y1: f64, x2: f64, y2: f64) -> Line {
    Line::new()
        .set("x1", x1)
        .set("y1", y1)
        .set("x2", x2)
        .set("y2", y2)
        .set("stroke", "black")
}

fn label(x: f64, y: f64, text: &str) -> Text {
    Text::new(text)
        .set("x", x)
        .set("y", y)
        .set("text-anchor", "middle")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
[   10.1] plugsched: bench: threads=100 Parallel Apply cpus=2 tasks=150 ranges=5 stop_machine_ns=900000 inspect_ns=1 patch_ns=2 sync_ns=3
floor: threads=100 runs=5 min_ns=400000 median_ns=500000
live: threads=100 dir=upgrade tasks=150 unchanged=140 prescan_ns=9 rebuilt=3 stop_machine_ns=1000000 stack_check_ns=10 clear_ns=1 redirect_ns=5 rebuild_ns=2
live: threads=100 dir=rollback tasks=150 unchanged=140 prescan_ns=9 rebuilt=3 stop_machine_ns=800000 stack_check_ns=10 clear_ns=1 redirect_ns=5 rebuild_ns=2
floor: threads=1000 runs=5 min_ns=450000 median_ns=600000
live: threads=1000 dir=upgrade tasks=1050 unchanged=1000 prescan_ns=9 rebuilt=3 stop_machine_ns=1200000 stack_check_ns=10 clear_ns=1 redirect_ns=5 rebuild_ns=2
load: insmod_ns=3000000000 plan_ns=1000000000 loader_ns=2000000000
loadparts: kernel_read_file_ns=30000000 load_module_ns=350000000 klp_apply_section_relocs_ns=137000000 do_init_module_ns=57000000
";

    #[test]
    fn reads_the_lines_of_the_scenario() {
        let s = parse(LOG);
        assert_eq!(s.len(), 8);
        assert_eq!(s[6].kind, "load");
        assert_eq!(s[7].kind, "loadparts");
        assert_eq!(s[7].get("klp_apply_section_relocs_ns"), 137000000);
        assert_eq!(s[0].kind, "bench");
        assert!(s[0].words.iter().any(|w| w == "Parallel"));
        assert_eq!(s[0].get("stop_machine_ns"), 900000);
        let up = series(&s, "live", "dir=upgrade", "stop_machine_ns");
        assert_eq!(up.get(&1000), Some(&1200000));
        assert_eq!(series(&s, "floor", "", "median_ns").len(), 2);
    }

    #[test]
    fn takes_the_median_of_repeated_switches() {
        let log = "\
live: threads=100 dir=upgrade stop_machine_ns=5 enter_ns=1 leave_ns=2
live: threads=100 dir=upgrade stop_machine_ns=9 enter_ns=3 leave_ns=4
live: threads=100 dir=upgrade stop_machine_ns=7 enter_ns=5 leave_ns=6
live: threads=100 dir=rollback stop_machine_ns=1
";
        let s = parse(log);
        let up = series(&s, "live", "dir=upgrade", "stop_machine_ns");
        assert_eq!(up.get(&100), Some(&7));
        let outside = series_sum(&s, "live", "dir=upgrade", &["enter_ns", "leave_ns"]);
        assert_eq!(outside.get(&100), Some(&7));
        assert_eq!(count(&s, "live", "dir=upgrade", 100), 3);
        assert_eq!(count(&s, "live", "dir=rollback", 100), 1);
    }

    #[test]
    fn writes_a_plot_with_every_series() {
        let s = parse(LOG);
        let named = vec![
            ("floor", series(&s, "floor", "", "median_ns")),
            (
                "upgrade",
                series(&s, "live", "dir=upgrade", "stop_machine_ns"),
            ),
        ];
        let svg = plot(&named).to_string();
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("upgrade") && svg.contains("1000"));
    }
}
