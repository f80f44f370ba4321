// SPDX-License-Identifier: GPL-2.0

//! `plugsched`: the scheduler developer's command (`dev`, `build`,
//! `export`, `try`, `load`, `status`, `unload`) and the host tooling of
//! plugsched-rs that builds and tests the module.  `plugsched help` lists
//! the subcommands, `plugsched help COMMAND` describes one.  Each lives in
//! its own module; this file only parses the command line and reports
//! errors.

use std::process::ExitCode;

use clap::{
    Parser,
    Subcommand, //
};

mod arch;
mod bind;
mod boundary;
mod cmd;
mod elf;
mod file;
mod init;
mod jump_table;
mod klp;
mod ktap;
mod layout;
mod pieces;
mod safepoints;
mod springboard;
#[cfg(test)]
mod test_util;
mod workflow;

/// Live update of the Linux scheduler: make a scheduler change, build it
/// into plugsched.ko, load it; and the host tooling that builds and tests
/// the module (boundary analysis, extraction, checks, rewrites).
#[derive(Parser, Debug)]
#[command(name = "plugsched", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make a development tree of the extracted scheduler of a target kernel.
    ///
    /// Writes DIR: the scheduler sources the module is built from, as a
    /// git repository whose first commit (tag plugsched-extracted) is the
    /// unmodified extraction and whose next commits are the project's
    /// sched-changes/; DIR/README.plugsched says what may be edited.
    Dev(workflow::dev::Args),
    /// Check a development tree's edits and build plugsched.ko from it.
    ///
    /// Every edit that cannot take effect (a function that stays in
    /// vmlinux, data or a structure shared with vmlinux, an interface's
    /// signature) is an error naming it and why; then the module is built
    /// from the tree as it is (DIR/plugsched.ko), and what it replaces and
    /// carries is printed.  Exits 1 if an edit is refused.
    Build(workflow::build::Args),
    /// Write a development tree's commits as patches for sched-changes/.
    Export(workflow::export::Args),
    /// Boot the target kernel in QEMU and upgrade to a module there first.
    Try(workflow::guest::Args),
    /// Load plugsched.ko on this machine (the upgrade) and show the switch.
    Load(workflow::machine::LoadArgs),
    /// Roll back to vmlinux's scheduler and unload plugsched.ko.
    Unload(workflow::machine::UnloadArgs),
    /// Show whether plugsched.ko is loaded, its state and its last switch.
    Status(workflow::machine::StatusArgs),
    /// Tables, ratios and an SVG plot of a `make bench` console log.
    BenchReport(cmd::bench_report::Args),
    /// Check the serial console log of a QEMU run.
    ///
    /// Reads the KTAP results from the scenario's begin marker on, and
    /// fails on a failed or missing test, a cut-short run, a missing end
    /// marker or a non-zero scenario exit code, and on any kernel splat of
    /// the whole console (WARNING, BUG, Call Trace, oops, panic, lockdep,
    /// RCU stall, hung task).  Ends with `LABEL: N passed, N failed, N
    /// skipped`; exits 1 unless all is well.
    CheckLog(cmd::check_log::Args),
    /// Boundary analysis and extraction of the scheduler of a built kernel.
    ///
    /// Classifies the functions of the boundary files in KDIR's vmlinux
    /// (interface, callback, internal, external) and the variables they
    /// use, and writes WORKDIR/boundary.json, manifest.json, sympos,
    /// shared-vars, the rewritten scheduler sources and their build files.
    /// Exits 1, listing the reasons, if the boundary cannot be used.
    Init(init::Args),
    /// Rename the global symbols an object defines, and their compiler pieces.
    ///
    /// Every global symbol IN.o defines, and every local `.cold`/`.part`/...
    /// piece of one, becomes PREFIX+name in OUT.o, so that nothing linked
    /// with it binds to those names; undefined symbols keep theirs.
    PrefixGlobals(cmd::prefix_globals::Args),
    /// Check that the module's __schedule can finish in vmlinux's (the split).
    ///
    /// Both must push the same registers and keep the stack canary in the
    /// same slot, and the module's must have exactly one springboard to the
    /// rsp vmlinux's has at its call of __switch_to_asm.
    SpringboardCheck(cmd::springboard_check::Args),
    /// Find the safe points of the module's copies of the replaced functions.
    ///
    /// Analyses MODULE.ko (before klp-convert) as `init` analyses vmlinux,
    /// with calls, jumps and symbol references read from its relocations,
    /// and writes the table OUT.c the module is built with (exit 3 when it
    /// changed: build again); with --check, fails if OUT.c differs.
    ModuleSafepoints(cmd::module_safepoints::Args),
    /// Check that the module's scheduler lays out shared types as vmlinux does.
    ///
    /// Compares, from the DWARF of both, every type the module's scheduler
    /// objects share with vmlinux: those listed in the config's
    /// `shared_types`, those of the in-boundary headers and those they hold
    /// by value.  Exits 1 naming every difference.
    LayoutCheck(layout::Args),
    /// Bind a module's uses of non-exported vmlinux symbols with klp relocations.
    ///
    /// Rewrites MODULE.ko in place: every undefined symbol that vmlinux
    /// defines but does not export becomes `.klp.sym.vmlinux.NAME,SYMPOS`;
    /// its first relocation moves to a `.klp.rela.vmlinux.*` section, which
    /// makes the kernel's module loader look the symbol up, the others to
    /// plain `.klp.bound.*` sections applied after it.  Fails naming every
    /// symbol that is missing, ambiguous or only a compiler clone.  A
    /// converted module is left as it is.
    KlpConvert(cmd::klp_convert::Args),
    /// Make the module's scheduler use vmlinux's data, or refuse it.
    ///
    /// In IN.o (the ld -r of the scheduler's objects), redirects every
    /// reference to a static that is vmlinux's (bindings.json: its unit,
    /// function, name and rank) and to a string literal vmlinux has whose
    /// address leaves the module, to undefined
    /// `__plugsched_vmlinux_NAME,SYMPOS` symbols that klp-convert binds;
    /// writes OUT.o.  Exits 1 naming every variable or function of the
    /// module's own whose address leaves its code (passed to vmlinux,
    /// stored outside the module, ...) and every shared static whose size
    /// differs from vmlinux's.
    BindData(bind::Args),
}

impl Command {
    /// The subcommand's name, as typed.
    fn name(&self) -> &'static str {
        match self {
            Command::Dev(_) => "dev",
            Command::Build(_) => "build",
            Command::Export(_) => "export",
            Command::Try(_) => "try",
            Command::Load(_) => "load",
            Command::Unload(_) => "unload",
            Command::Status(_) => "status",
            Command::BenchReport(_) => "bench-report",
            Command::CheckLog(_) => "check-log",
            Command::Init(_) => "init",
            Command::PrefixGlobals(_) => "prefix-globals",
            Command::SpringboardCheck(_) => "springboard-check",
            Command::ModuleSafepoints(_) => "module-safepoints",
            Command::LayoutCheck(_) => "layout-check",
            Command::KlpConvert(_) => "klp-convert",
            Command::BindData(_) => "bind-data",
        }
    }

    /// Run it: success, or a failed check (the command printed why).
    fn run(&self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Dev(a) => workflow::dev::run(a),
            Command::Build(a) => workflow::build::run(a),
            Command::Export(a) => workflow::export::run(a),
            Command::Try(a) => workflow::guest::run(a),
            Command::Load(a) => workflow::machine::load(a),
            Command::Unload(a) => workflow::machine::unload(a),
            Command::Status(a) => workflow::machine::status(a),
            Command::BenchReport(a) => cmd::bench_report::run(a),
            Command::CheckLog(a) => cmd::check_log::run(a),
            Command::Init(a) => init::run(a),
            Command::PrefixGlobals(a) => cmd::prefix_globals::run(a),
            Command::SpringboardCheck(a) => cmd::springboard_check::run(a),
            Command::ModuleSafepoints(a) => cmd::module_safepoints::run(a),
            Command::LayoutCheck(a) => layout::run(a),
            Command::KlpConvert(a) => cmd::klp_convert::run(a),
            Command::BindData(a) => bind::run(a),
        }
    }
}

/// Exit status of a command that could not do its work (bad input, I/O),
/// as for a command line clap refuses; a failed check exits with 1.
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.command.run().unwrap_or_else(|e| {
        eprintln!("plugsched {}: error: {e:#}", cli.command.name());
        ExitCode::from(EXIT_ERROR)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_is_described() {
        let cli = Cli::command();
        let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
        assert_eq!(
            names,
            [
                "dev",
                "build",
                "export",
                "try",
                "load",
                "unload",
                "status",
                "bench-report",
                "check-log",
                "init",
                "prefix-globals",
                "springboard-check",
                "module-safepoints",
                "layout-check",
                "klp-convert",
                "bind-data"
            ]
        );
        for c in cli.get_subcommands() {
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            assert!(!about.is_empty(), "{} has no description", c.get_name());
            assert!(!about.contains('\n'), "{}: one line", c.get_name());
            for a in c.get_arguments() {
                if a.get_id() != "help" {
                    assert!(a.get_help().is_some(), "{} {}", c.get_name(), a.get_id());
                }
            }
        }
    }

    /// The command lines of scripts/*.sh.
    #[test]
    fn the_scripts_command_lines_parse() {
        let ok = |line: &str| {
            let cli = Cli::try_parse_from(line.split_whitespace())
                .unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(line.split_whitespace().nth(1), Some(cli.command.name()));
            cli
        };
        ok("plugsched check-log --label test/basic --suite a --suite b build/test/basic.log");
        ok("plugsched check-log build/test/basic.log");
        ok("plugsched init --config boundary/linux-7.3.toml KDIR build/sched-stage/test");
        ok("plugsched init --no-relocs --config boundary/linux-7.3.toml KDIR build/boundary/norelocs");
        ok("plugsched init --vmlinux KDIR/vmlinux.debug KDIR build/sched-stage/debian");
        ok("plugsched prefix-globals __plugsched_ sched.o.tmp sched.o");
        ok("plugsched springboard-check KDIR/vmlinux.unstripped build/test/plugsched.ko");
        ok("plugsched layout-check --config b.toml KDIR/vmlinux.unstripped a.o b.o");
        ok("plugsched layout-check --partial --config b.toml --list vmlinux a.o");
        ok("plugsched klp-convert --system-map S --symvers M --sympos P plugsched.ko");
        ok("plugsched klp-convert --system-map S --symvers M plugsched.ko");
        ok("plugsched bind-data --bindings B/bindings.json sched.o.tmp sched.o.bound");
        ok("plugsched dev --target test build/examples/tree");
        ok("plugsched dev DIR");
        ok("plugsched build --output x.ko DIR");
        ok("plugsched build --check-only DIR");
        ok("plugsched export DIR");
        ok("plugsched try --target test x.ko");
        ok("plugsched load /lib/modules/plugsched.ko");
        ok("plugsched load x.ko enable=0");
        ok("plugsched unload");
        ok("plugsched status");
        ok("plugsched bench-report build/test/bench-engine.log build/bench.svg");
    }

    #[test]
    fn bad_command_lines_are_refused() {
        for line in [
            "plugsched",
            "plugsched frobnicate",
            "plugsched check-log",
            "plugsched check-log a.log b.log",
            "plugsched check-log --bogus a.log",
            "plugsched init KDIR",
            "plugsched init --vmlinux KDIR WORKDIR",
            "plugsched prefix-globals __p_ in.o",
            "plugsched layout-check vmlinux",
            "plugsched klp-convert --symvers M plugsched.ko",
            "plugsched klp-convert --system-map S --symvers M",
            "plugsched bind-data sched.o.tmp sched.o.bound",
            "plugsched bind-data --bindings B in.o",
            "plugsched dev",
            "plugsched build",
            "plugsched load",
            "plugsched unload x.ko",
        ] {
            assert!(
                Cli::try_parse_from(line.split_whitespace()).is_err(),
                "{line}"
            );
        }
    }
}
