// SPDX-License-Identifier: GPL-2.0

//! `plugsched load | unload | status` on the machine it runs on: insmod and
//! rmmod of `plugsched.ko`, and its state and last switch from
//! `/sys/kernel/plugsched/` (Documentation/ABI/testing/sysfs-kernel-plugsched).

use std::fs;
use std::path::{
    Path,
    PathBuf, //
};
use std::process::{
    Command,
    ExitCode, //
};

use anyhow::{
    bail,
    Context,
    Result, //
};

/// The module's sysfs directory.
const SYSFS: &str = "/sys/kernel/plugsched";

/// Arguments of `load`.
#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// The module to load (from `plugsched build` or `make module`).
    #[arg(value_name = "MODULE.ko")]
    pub module: PathBuf,
    /// Module parameters, passed to insmod (e.g. `enable=0`).
    #[arg(value_name = "PARAM=VALUE")]
    pub params: Vec<String>,
}

/// Arguments of `unload`.
#[derive(clap::Args, Debug)]
pub struct UnloadArgs {}

/// Arguments of `status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {}

/// One value of the module's sysfs directory.
fn read(name: &str) -> Result<String> {
    let p = Path::new(SYSFS).join(name);
    Ok(fs::read_to_string(&p)
        .with_context(|| format!("cannot read {}", p.display()))?
        .trim()
        .to_string())
}

fn loaded() -> bool {
    Path::new(SYSFS).is_dir()
}

/// The name of a negative errno the module's files report.
fn errno_name(v: &str) -> String {
    let name = match v {
        "0" => return "ok".to_string(),
        "-1" => "EPERM",
        "-2" => "ENOENT",
        "-5" => "EIO",
        "-12" => "ENOMEM",
        "-16" => "EBUSY",
        "-22" => "EINVAL",
        "-114" => "EALREADY",
        _ => return format!("error {v}"),
    };
    format!("{name} ({v})")
}

/// The last switch attempt, from the `last_*` files.
fn last_switch() -> Result<String> {
    if read("switches")? == "0" {
        return Ok("none yet".to_string());
    }
    Ok(format!(
        "{}: stop_machine {} ns (stack check {}, runqueue clear {}, redirect {}, rebuild {} ns); \
         {} functions, {} queued tasks rebuilt, {} task stacks checked on {} CPUs",
        errno_name(&read("last_result")?),
        read("last_stop_machine_ns")?,
        read("last_stack_check_ns")?,
        read("last_clear_ns")?,
        read("last_redirect_ns")?,
        read("last_rebuild_ns")?,
        read("last_functions")?,
        read("last_rebuilt_tasks")?,
        read("last_tasks")?,
        read("last_cpus")?
    ))
}

fn print_status() -> Result<()> {
    if !loaded() {
        println!("plugsched.ko: not loaded (the scheduler built into vmlinux is live)");
        return Ok(());
    }
    println!(
        "plugsched.ko: loaded, state {} (upgrades {}, switch attempts {})",
        read("state")?,
        read("generation")?,
        read("switches")?
    );
    println!(
        "kernel: running {}, module built for {}",
        read("running_release")?,
        read("built_for_release")?
    );
    println!("last switch: {}", last_switch()?);
    Ok(())
}

/// Run a command; on failure, the kernel's messages about plugsched.
fn run_reporting(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {what} (is kmod installed?)"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kernel = kernel_messages();
    bail!(
        "{what} failed: {}{}",
        stderr.trim(),
        if kernel.is_empty() {
            String::new()
        } else {
            format!("\nthe kernel says:\n{kernel}")
        }
    )
}

/// The kernel log's last lines about plugsched (empty if unreadable).
fn kernel_messages() -> String {
    let Ok(out) = Command::new("dmesg").output() else {
        return String::new();
    };
    let log = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("plugsched")).collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// Run `load`: insmod, which upgrades to the module's scheduler.
pub fn load(args: &LoadArgs) -> Result<ExitCode> {
    if loaded() {
        bail!("plugsched.ko is already loaded (plugsched status); unload it first");
    }
    if !args.module.is_file() {
        bail!("no module {}", args.module.display());
    }
    run_reporting(
        Command::new("insmod").arg(&args.module).args(&args.params),
        "insmod",
    )?;
    print_status()?;
    Ok(ExitCode::SUCCESS)
}

/// Run `unload`: roll back to vmlinux's scheduler (reporting the
/// rollback's downtime), then rmmod.
pub fn unload(_args: &UnloadArgs) -> Result<ExitCode> {
    if !loaded() {
        bail!("plugsched.ko is not loaded");
    }
    if read("enable")? == "1" {
        let enable = Path::new(SYSFS).join("enable");
        if let Err(e) = fs::write(&enable, "0") {
            bail!(
                "the rollback was refused ({e}); the module's scheduler stays live.  \
                 Last attempt: {}\nthe kernel says:\n{}",
                last_switch()?,
                kernel_messages()
            );
        }
        println!("rollback: {}", last_switch()?);
    }
    run_reporting(Command::new("rmmod").arg("plugsched"), "rmmod")?;
    print_status()?;
    Ok(ExitCode::SUCCESS)
}

/// Run `status`.
pub fn status(_args: &StatusArgs) -> Result<ExitCode> {
    print_status()?;
    Ok(ExitCode::SUCCESS)
}
