// SPDX-License-Identifier: GPL-2.0

//! KTAP parser and console checker for the serial logs of QEMU runs.
//!
//! A guest run writes its whole serial console to a log.  The scenario's
//! `/init` prints [`BEGIN_MARKER`] before the scenario starts and
//! [`END_MARKER`]`rc=N` after it ends.  KTAP is parsed from the begin marker
//! on, so the kernel's own boot-time suites never hide or replace the
//! scenario's; any number of top-level KTAP blocks (one per loaded test
//! module, plus those the scenario script prints) are accepted.  The console
//! checks cover the whole log, boot included.

use std::fmt;

/// Printed by the guest's `/init` right before the scenario script runs.
pub const BEGIN_MARKER: &str = "PLUGSCHED-SCENARIO-BEGIN";
/// Printed by the guest's `/init` after the scenario, followed by `rc=N`.
pub const END_MARKER: &str = "PLUGSCHED-SCENARIO-END ";

/// Console lines that fail a run wherever they appear: kernel warnings,
/// bugs, oopses, lockdep and RCU splats, hung tasks, sanitizer reports,
/// debug-objects and list-debugging reports (the test kernel is a debug
/// kernel, scripts/kconfig/test.config).
const CONSOLE_FAILURES: &[&str] = &[
    "WARNING:",
    "BUG:",
    "Call Trace:",
    "Oops:",
    "Kernel panic",
    "general protection fault",
    "possible circular locking dependency",
    "possible recursive locking",
    "inconsistent lock state",
    "suspicious RCU usage",
    "blocked for more than",
    "UBSAN:",
    "KASAN:",
    "DEBUG_LOCKS_WARN_ON",
    "lockdep is turned off",
    "ODEBUG:",
    "list_add corruption",
    "list_del corruption",
];

/// Outcome of one test or suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `ok`
    Pass,
    /// `not ok`
    Fail,
    /// `ok ... # SKIP`
    Skip,
}

/// One KTAP result line, with the results nested below it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Test {
    /// Test or suite name.
    pub name: String,
    /// Its own result line's status.
    pub status: Status,
    /// Subtests (test cases of a suite, parameters of a case).
    pub children: Vec<Test>,
    /// Diagnostic lines printed at this test's level before its result.
    pub diagnostics: Vec<String>,
}

impl Test {
    /// Counts of (passed, failed, skipped) leaf tests.  A failed test whose
    /// subtests all passed (e.g. a suite whose init failed) counts as one
    /// failure of its own.
    pub fn counts(&self) -> (usize, usize, usize) {
        if self.children.is_empty() {
            return match self.status {
                Status::Pass => (1, 0, 0),
                Status::Fail => (0, 1, 0),
                Status::Skip => (0, 0, 1),
            };
        }
        let (mut p, mut f, mut s) = (0, 0, 0);
        for c in &self.children {
            let (cp, cf, cs) = c.counts();
            p += cp;
            f += cf;
            s += cs;
        }
        if self.status == Status::Fail && f == 0 {
            f = 1;
        }
        (p, f, s)
    }

    fn failures(&self, path: &str, out: &mut Vec<String>) {
        let path = if path.is_empty() {
            self.name.clone()
        } else {
            format!("{path}.{}", self.name)
        };
        let before = out.len();
        for c in &self.children {
            c.failures(&path, out);
        }
        if self.status == Status::Fail && out.len() == before {
            let mut s = format!("not ok {path}");
            for d in &self.diagnostics {
                s.push_str("\n        ");
                s.push_str(d);
            }
            out.push(s);
        }
    }
}

/// Everything the checker found in one log.
#[derive(Debug, Default)]
pub struct Report {
    /// Top-level KTAP results after the begin marker, in order.
    pub suites: Vec<Test>,
    /// Leaf tests that passed.
    pub passed: usize,
    /// Leaf tests that failed.
    pub failed: usize,
    /// Leaf tests that were skipped.
    pub skipped: usize,
    /// Reasons the run failed other than failed tests.
    pub problems: Vec<String>,
    /// `rc` of the scenario, if the end marker was seen.
    pub scenario_rc: Option<i32>,
}

impl Report {
    /// Whether the run passed: no failed test and no other problem.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.problems.is_empty()
    }

    /// Descriptions of every failed test, with their diagnostics.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.suites {
            s.failures("", &mut out);
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.suites {
            let (p, fl, sk) = s.counts();
            let st = match s.status {
                Status::Pass => "ok",
                Status::Fail => "FAILED",
                Status::Skip => "skipped",
            };
            writeln!(
                f,
                "  suite {:<32} {st:<7} ({p} passed, {fl} failed, {sk} skipped)",
                s.name
            )?;
        }
        for fail in self.failures() {
            writeln!(f, "  {fail}")?;
        }
        for p in &self.problems {
            writeln!(f, "  problem: {p}")?;
        }
        Ok(())
    }
}

/// Remove the printk timestamp (`[    2.144597] `) and trailing CR/spaces.
fn strip_line(line: &str) -> &str {
    let line = line.trim_end_matches(['\r', '\n', ' ']);
    if let Some(rest) = line.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let ts = &rest[..end];
            if !ts.is_empty()
                && ts
                    .chars()
                    .all(|c| c == ' ' || c == '.' || c.is_ascii_digit())
            {
                let rest = &rest[end + 1..];
                return rest.strip_prefix(' ').unwrap_or(rest);
            }
        }
    }
    line
}

enum Line<'a> {
    Version,
    Plan(usize),
    Result { status: Status, name: &'a str },
    Other(&'a str),
}

fn classify(body: &str) -> Line<'_> {
    if body.starts_with("KTAP version ") || body.starts_with("TAP version ") {
        return Line::Version;
    }
    if let Some(n) = body.strip_prefix("1..") {
        if let Ok(n) = n.trim().parse() {
            return Line::Plan(n);
        }
    }
    let (fail, rest) = if let Some(r) = body.strip_prefix("not ok ") {
        (true, r)
    } else if let Some(r) = body.strip_prefix("ok ") {
        (false, r)
    } else {
        return Line::Other(body);
    };
    let (num, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if num.parse::<u64>().is_err() {
        return Line::Other(body);
    }
    let (name, directive) = match rest.split_once(" # ") {
        Some((n, d)) => (n, d),
        None => match rest.strip_prefix("# ") {
            Some(d) => ("", d),
            None => (rest, ""),
        },
    };
    let skip = directive
        .trim_start()
        .to_ascii_uppercase()
        .starts_with("SKIP");
    let status = match (fail, skip) {
        (_, true) => Status::Skip,
        (true, false) => Status::Fail,
        (false, false) => Status::Pass,
    };
    Line::Result {
        status,
        name: name.trim(),
    }
}

#[derive(Default)]
struct Level {
    results: Vec<Test>,
    plan: Option<usize>,
    open: bool,
    diagnostics: Vec<String>,
    subtest: Option<String>,
}

/// Parse every KTAP block in `lines` (already past the begin marker).
fn parse_ktap<'a>(lines: impl Iterator<Item = &'a str>, problems: &mut Vec<String>) -> Vec<Test> {
    let mut levels: Vec<Level> = Vec::new();
    let mut top = Vec::new();
    let mut in_block = false;
    let level = |levels: &mut Vec<Level>, l: usize| {
        while levels.len() <= l {
            levels.push(Level::default());
        }
    };
    let close_block = |lv: &mut Level, top: &mut Vec<Test>, problems: &mut Vec<String>| {
        if let Some(plan) = lv.plan.take() {
            if plan != lv.results.len() {
                problems.push(format!(
                    "top-level KTAP plan 1..{plan} but {} result(s) followed",
                    lv.results.len()
                ));
            }
        }
        top.append(&mut lv.results);
    };
    for raw in lines {
        let line = strip_line(raw);
        let body = line.trim_start_matches(' ');
        let indent = (line.len() - body.len()) / 4;
        let parsed = classify(body);
        if !in_block && !matches!(parsed, Line::Version) {
            continue;
        }
        level(&mut levels, indent + 1);
        match parsed {
            Line::Version => {
                if indent == 0 {
                    close_block(&mut levels[0], &mut top, problems);
                    in_block = true;
                }
                levels[indent].open = true;
            }
            Line::Plan(n) => {
                levels[indent].plan = Some(n);
                levels[indent].open = true;
            }
            Line::Result { status, name } => {
                let (children, plan, subtest) = {
                    let below = &mut levels[indent + 1];
                    below.open = false;
                    below.diagnostics.clear();
                    (
                        std::mem::take(&mut below.results),
                        below.plan.take(),
                        below.subtest.take(),
                    )
                };
                let name = if name.is_empty() {
                    subtest.unwrap_or_default()
                } else {
                    name.to_string()
                };
                if let Some(plan) = plan {
                    if plan != children.len() {
                        problems.push(format!(
                            "{name}: planned {plan} test(s) but {} result(s) were printed",
                            children.len()
                        ));
                    }
                }
                for deeper in levels.iter_mut().skip(indent + 2) {
                    if deeper.open || !deeper.results.is_empty() {
                        problems.push(format!("{name}: unterminated nested KTAP group"));
                    }
                    *deeper = Level::default();
                }
                let here = &mut levels[indent];
                let diagnostics = std::mem::take(&mut here.diagnostics);
                here.results.push(Test {
                    name,
                    status,
                    children,
                    diagnostics,
                });
            }
            Line::Other(text) => {
                let text = text.strip_prefix("# ").unwrap_or(text);
                if let Some(name) = text.strip_prefix("Subtest: ") {
                    let l = &mut levels[indent];
                    l.subtest = Some(name.trim().to_string());
                    l.open = true;
                } else if !text.is_empty() {
                    levels[indent].diagnostics.push(text.to_string());
                }
            }
        }
    }
    for (i, l) in levels.iter().enumerate().skip(1) {
        if l.open || !l.results.is_empty() {
            let what = l.subtest.clone().unwrap_or_else(|| format!("level {i}"));
            problems.push(format!(
                "KTAP output ends inside test group '{what}' ({} result(s) so far): the run was cut short",
                l.results.len()
            ));
        }
    }
    if let Some(l0) = levels.first_mut() {
        close_block(l0, &mut top, problems);
    }
    top
}

/// Check one serial log.  `planned` names the suites that must appear.
pub fn check(log: &str, planned: &[String]) -> Report {
    let mut report = Report::default();
    for (i, raw) in log.lines().enumerate() {
        let line = strip_line(raw);
        if let Some(pat) = CONSOLE_FAILURES.iter().find(|p| line.contains(*p)) {
            report.problems.push(format!(
                "console line {} has '{pat}': {}",
                i + 1,
                line.trim()
            ));
        }
    }
    let lines: Vec<&str> = log.lines().collect();
    let Some(begin) = lines
        .iter()
        .position(|l| strip_line(l).ends_with(BEGIN_MARKER))
    else {
        report.problems.push(format!(
            "no '{BEGIN_MARKER}' line: the guest never reached the scenario"
        ));
        return report;
    };
    let scenario = &lines[begin + 1..];
    for l in scenario {
        if let Some((_, rc)) = strip_line(l).split_once(END_MARKER) {
            report.scenario_rc = rc.trim().strip_prefix("rc=").and_then(|r| r.parse().ok());
        }
    }
    match report.scenario_rc {
        None => report.problems.push(format!(
            "no '{END_MARKER}rc=N' line: the scenario did not finish (timeout, hang or crash)"
        )),
        Some(0) => {}
        Some(rc) => report
            .problems
            .push(format!("scenario script exited with rc={rc}")),
    }
    report.suites = parse_ktap(scenario.iter().copied(), &mut report.problems);
    for s in &report.suites {
        let (p, f, sk) = s.counts();
        report.passed += p;
        report.failed += f;
        report.skipped += sk;
    }
    for want in planned {
        if !report.suites.iter().any(|s| &s.name == want) {
            report
                .problems
                .push(format!("planned suite '{want}' did not run"));
        }
    }
    if report.passed + report.failed == 0 {
        report.problems.push("zero tests ran".to_string());
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// A real-shaped log: boot-time suites before the marker, one module's
    /// suite after it, printk timestamps, a kernel message in between.
    const GOOD: &str = "\
[    0.000000] Linux version 7.3.4
[    1.100000] KTAP version 1
[    1.100001] 1..1
[    1.100002]     KTAP version 1
[    1.100003]     # Subtest: rust_kernel_fmt
[    1.100004]     1..1
[    1.100005]     not ok 1 boot_suite_case
[    1.100006] not ok 1 rust_kernel_fmt
PLUGSCHED-SCENARIO-BEGIN
[    2.142934] KTAP version 1
[    2.142941] 1..1
[    2.144597]     KTAP version 1
[    2.144598]     # Subtest: plugsched_skeleton
[    2.144599]     # module: plugsched
[    2.144600]     1..3
[    2.145799]     ok 1 state_file_shows_idle
[    2.145800] plugsched: some unrelated kernel message
[    2.146694]     ok 2 kernel_file_names_matching_releases
[    2.146695]     ok 3 skipped_case # SKIP not on this kernel
[    2.146774] # plugsched_skeleton: pass:2 fail:0 skip:1 total:3
[    2.146775] # Totals: pass:2 fail:0 skip:1 total:3
[    2.146776] ok 1 plugsched_skeleton
PLUGSCHED-SCENARIO-END rc=0
[    3.000000] reboot: Power down
";

    #[test]
    fn good_log_passes() {
        let r = check(GOOD, &planned(&["plugsched_skeleton"]));
        assert!(r.ok(), "{r}");
        assert_eq!((r.passed, r.failed, r.skipped), (2, 0, 1));
        assert_eq!(r.suites.len(), 1);
        assert_eq!(r.suites[0].name, "plugsched_skeleton");
        assert_eq!(r.suites[0].children[2].status, Status::Skip);
        assert_eq!(r.scenario_rc, Some(0));
    }

    #[test]
    fn failing_test_fails_with_diagnostics() {
        let log = GOOD.replace(
            "[    2.146694]     ok 2 kernel_file_names_matching_releases",
            "[    2.146690]     # kernel_file_names_matching_releases: ASSERTION FAILED at skeleton.rs:30\n\
             [    2.146691]     Expected built == running\n\
             [    2.146694]     not ok 2 kernel_file_names_matching_releases",
        )
        .replace("ok 1 plugsched_skeleton", "not ok 1 plugsched_skeleton");
        let r = check(&log, &planned(&["plugsched_skeleton"]));
        assert!(!r.ok());
        assert_eq!((r.passed, r.failed, r.skipped), (1, 1, 1));
        let f = r.failures();
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("plugsched_skeleton.kernel_file_names_matching_releases"));
        assert!(f[0].contains("ASSERTION FAILED at skeleton.rs:30"));
    }

    #[test]
    fn suite_failure_without_failed_case_counts() {
        let log = GOOD.replace("ok 1 plugsched_skeleton", "not ok 1 plugsched_skeleton");
        let r = check(&log, &[]);
        assert!(!r.ok());
        assert_eq!(r.failed, 1);
    }

    #[test]
    fn missing_planned_suite_fails() {
        let r = check(GOOD, &planned(&["plugsched_skeleton", "plugsched_engine"]));
        assert!(!r.ok());
        assert!(r
            .problems
            .iter()
            .any(|p| p.contains("'plugsched_engine' did not run")));
    }

    #[test]
    fn boot_time_suites_are_not_counted() {
        let r = check(GOOD, &planned(&["rust_kernel_fmt"]));
        assert!(r
            .problems
            .iter()
            .any(|p| p.contains("'rust_kernel_fmt' did not run")));
        assert_eq!(r.failed, 0);
    }

    #[test]
    fn zero_tests_fail() {
        let log =
            "boot\nPLUGSCHED-SCENARIO-BEGIN\nKTAP version 1\n1..0\nPLUGSCHED-SCENARIO-END rc=0\n";
        let r = check(log, &[]);
        assert!(!r.ok());
        assert!(r.problems.iter().any(|p| p == "zero tests ran"));
        let r = check(
            "PLUGSCHED-SCENARIO-BEGIN\nPLUGSCHED-SCENARIO-END rc=0\n",
            &[],
        );
        assert!(!r.ok());
    }

    #[test]
    fn all_skipped_is_zero_tests() {
        let log = GOOD
            .replace("ok 1 state_file_shows_idle", "ok 1 a # SKIP x")
            .replace(
                "ok 2 kernel_file_names_matching_releases",
                "ok 2 b # SKIP y",
            );
        let r = check(&log, &[]);
        assert_eq!((r.passed, r.failed, r.skipped), (0, 0, 3));
        assert!(!r.ok());
    }

    #[test]
    fn console_splats_fail() {
        for splat in [
            "[    2.5] WARNING: CPU: 0 PID: 1 at kernel/sched/core.c:100 foo+0x1/0x2",
            "[    2.5] BUG: unable to handle page fault for address: 0000",
            "[    2.5] Call Trace:",
            "[    2.5] WARNING: possible circular locking dependency detected",
            "[    2.5] ODEBUG: free active (active state 0) object: 0000 object type: hrtimer hint: foo",
            "[    2.5] list_add corruption. prev->next should be next (0000), but was 0000.",
            "[    2.5] INFO: task kworker:1 blocked for more than 120 seconds.",
        ] {
            let log = GOOD.replace(
                "[    2.145800] plugsched: some unrelated kernel message",
                splat,
            );
            let r = check(&log, &planned(&["plugsched_skeleton"]));
            assert!(!r.ok(), "{splat}");
            assert_eq!(r.failed, 0);
            assert!(
                r.problems.iter().any(|p| p.contains("console line")),
                "{splat}"
            );
        }
    }

    #[test]
    fn splat_during_boot_fails_too() {
        let log = GOOD.replace(
            "Linux version 7.3.4",
            "BUG: kernel NULL pointer dereference",
        );
        assert!(!check(&log, &planned(&["plugsched_skeleton"])).ok());
    }

    #[test]
    fn truncated_run_fails() {
        let cut = GOOD.split("[    2.146694]").next().unwrap();
        let r = check(cut, &planned(&["plugsched_skeleton"]));
        assert!(!r.ok());
        assert!(r.problems.iter().any(|p| p.contains("did not finish")));
        assert!(r.problems.iter().any(|p| p.contains("cut short")));
    }

    #[test]
    fn plan_mismatch_fails() {
        let log = GOOD.replace("    1..3", "    1..4");
        let r = check(&log, &planned(&["plugsched_skeleton"]));
        assert!(!r.ok());
        assert!(r
            .problems
            .iter()
            .any(|p| p.contains("planned 4 test(s) but 3")));
    }

    #[test]
    fn nonzero_scenario_rc_fails() {
        let log = GOOD.replace("rc=0", "rc=3");
        let r = check(&log, &planned(&["plugsched_skeleton"]));
        assert!(!r.ok());
        assert_eq!(r.scenario_rc, Some(3));
    }

    #[test]
    fn no_begin_marker_fails() {
        let log = GOOD.replace("PLUGSCHED-SCENARIO-BEGIN", "");
        assert!(!check(&log, &[]).ok());
    }

    #[test]
    fn several_blocks_and_parameterised_cases() {
        let log = "\
PLUGSCHED-SCENARIO-BEGIN
KTAP version 1
1..1
    KTAP version 1
    # Subtest: first
    1..2
        KTAP version 1
        # Subtest: param_case
        ok 1 p=1
        ok 2 p=2
        not ok 3 p=3
    not ok 1 param_case
    ok 2 plain
not ok 1 first
some user-space output
KTAP version 1
1..1
    KTAP version 1
    # Subtest: second
    1..1
    ok 1 only
ok 1 second
PLUGSCHED-SCENARIO-END rc=0
";
        let r = check(log, &planned(&["first", "second"]));
        assert_eq!(r.suites.len(), 2);
        assert_eq!((r.passed, r.failed, r.skipped), (4, 1, 0));
        assert_eq!(
            r.failures(),
            vec!["not ok first.param_case.p=3".to_string()]
        );
        assert!(r.problems.is_empty(), "{:?}", r.problems);
    }

    #[test]
    fn timestamp_stripping() {
        assert_eq!(strip_line("[    2.144597]     ok 1 x\r"), "    ok 1 x");
        assert_eq!(strip_line("[ok] not a timestamp"), "[ok] not a timestamp");
        assert_eq!(strip_line("plain"), "plain");
    }
}
