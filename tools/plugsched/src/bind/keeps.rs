// SPDX-License-Identifier: GPL-2.0

//! What `bind-data` knows of vmlinux functions that an address of the
//! module's own memory may be passed to: which keep nothing.  Any other
//! vmlinux function may keep what it is given (a lock class key, an ops
//! table, a callback), so an address passed to it leaves the module.

use super::escape::follow::Regs;

/// vmlinux functions that use a pointer argument only while they run and
/// keep nothing: string, memory, bitmap and printing helpers (and the
/// debug checks that print: lockdep's RCU and preemption checks, might_*,
/// WARN), lock operations (lockdep forgets a lock of module memory when
/// the module goes), the ftrace hook, the rbtree helpers' callback
/// (argument 3: they keep the node, not the callbacks) and debugfs names
/// (argument 1: copied; the data and operations are kept).  A name ending
/// in `*` is a prefix; `/N` restricts the entry to argument N.
pub const KEEPS_NOTHING: &[&str] = &[
    "memset",
    "memcpy",
    "memmove",
    "memcmp",
    "__memset",
    "__memcpy",
    "strcmp",
    "strncmp",
    "strlen",
    "strnlen",
    "sized_strscpy",
    "snprintf",
    "scnprintf",
    "sprintf",
    "vsnprintf",
    "_printk",
    "_printk_deferred",
    "__warn_printk",
    "sscanf",
    "show_stack",
    "print_worker_info",
    "print_stop_info",
    "print_scx_info",
    "check_panic_on_warn",
    "lockdep_rcu_suspicious",
    "__this_cpu_preempt_check",
    "__might_fault",
    "__might_sleep",
    "__might_resched",
    "__SCT__WARN_trap",
    "seq_printf",
    "seq_puts",
    "seq_putc",
    "seq_write",
    "__bitmap_*",
    "_find_*",
    "cpumask_*",
    "__kasan_*",
    "__asan_*",
    "__ubsan_*",
    "__sanitizer_cov_*",
    "__fentry__",
    "_raw_spin_lock*",
    "_raw_spin_unlock*",
    "_raw_spin_trylock*",
    "_raw_read_*",
    "_raw_write_*",
    "do_raw_spin_*",
    "mutex_lock*",
    "mutex_unlock",
    "mutex_trylock",
    "lock_acquire",
    "lock_release",
    "lock_is_held_type",
    "__rb_insert_augmented/3",
    "__rb_erase_color/3",
    "___ratelimit/2",
    "debugfs_create_*/1",
];

/// vmlinux functions that return their first argument.
pub const RETURN_FIRST: &[&str] = &["memcpy", "memmove", "memset", "__memcpy", "__memset"];

/// Whether `name` may keep one of the argument registers in `args`
/// (bits; `arg_regs`: the argument registers in order).
pub fn keeps_any(name: &str, args: Regs, arg_regs: &[Regs]) -> bool {
    arg_regs
        .iter()
        .enumerate()
        .any(|(n, &r)| args & r != 0 && !keeps_nothing_of(name, n + 1))
}

/// Whether `name` keeps nothing of its argument `n` (from 1), whatever the
/// instruction set passes it in.
pub fn keeps_nothing_of(name: &str, n: usize) -> bool {
    KEEPS_NOTHING.iter().any(|k| {
        let (pat, arg) = match k.split_once('/') {
            Some((p, a)) => (p, a.parse::<usize>().ok()),
            None => (*k, None),
        };
        let hit = match pat.strip_suffix('*') {
            Some(p) => name.starts_with(p),
            None => name == pat,
        };
        hit && arg.is_none_or(|a| a == n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bind::escape::x86::{
        bits,
        ARGS,
        ARG_BITS, //
    };
    use iced_x86::Register;

    /// Of the x86 argument registers in `args`, those `name` may keep.
    fn kept_args(name: &str, args: Regs) -> Regs {
        ARG_BITS
            .iter()
            .filter(|&&r| args & r != 0 && keeps_any(name, r, &ARG_BITS))
            .fold(0, |a, &r| a | r)
    }

    #[test]
    fn only_listed_functions_keep_nothing() {
        let all = bits(&ARGS);
        assert!(!keeps_any("memset", all, &ARG_BITS));
        assert_eq!(kept_args("memset", all), 0);
        assert_eq!(kept_args("__bitmap_and", all), 0);
        assert_eq!(kept_args("_raw_spin_lock_irqsave", all), 0);
        assert_eq!(kept_args("__raw_spin_lock_init", all), all);
        assert!(keeps_any("__raw_spin_lock_init", all, &ARG_BITS));
        // debugfs copies the name (argument 1), keeps the rest.
        let rdi = bits(&[Register::RDI]);
        assert_eq!(kept_args("debugfs_create_file", all), all & !rdi);
        assert_eq!(kept_args("memset_io", all), all);
        // The rbtree helpers keep the node (argument 1), not the callback.
        let rdx = bits(&[Register::RDX]);
        assert_eq!(kept_args("__rb_insert_augmented", rdx), 0);
        assert_eq!(kept_args("__rb_insert_augmented", rdi | rdx), rdi);
    }
}
