// SPDX-License-Identifier: GPL-2.0

//! Where the address of a variable or function of the module's scheduler
//! goes once module code has taken it (x86_64: `lea sym`, `mov $sym`;
//! arm64: `add xN, xN, :lo12:sym` after an `adrp`, or `adr`): does it stay
//! in the module's code, or does it leave it, to be kept by vmlinux after
//! the module is gone (a lock class key, a debugfs file's operations, a
//! callback)?
//!
//! The address is followed through the registers and stack slots of the
//! function's machine code, along every path (a data-flow fixpoint over the
//! instructions), into the module functions it is passed to, and back to
//! the callers of a function that returns it.  It leaves the module when it
//! is
//!
//! * passed to a function outside the module (a vmlinux function), except
//!   the few that keep nothing (`keeps.rs`);
//! * passed to an indirect call or reaching an indirect jump;
//! * stored anywhere but in the object itself, on the stack or in a
//!   variable of the module's own;
//! * pushed, or returned by a function that code outside the module calls;
//! * followed deeper than [`MAX_DEPTH`] calls (then the check gives up and
//!   says so).
//!
//! A value loaded through the address (the variable's contents) is not the
//! address: `mov (%rax), %rdx` or `ldr x1, [x0]` does not propagate,
//! `lea 8(%rax), %rdx` or `add x1, x0, #8` does.
//!
//! [`follow`] is the driver (paths, calls, returns), the same for both
//! instruction sets; [`x86`] and [`arm64`] say what their instructions do
//! ([`follow::Isa`]).

use super::module::Target;

pub mod arm64;
pub mod follow;
pub mod x86;

pub use follow::Follow;

/// Calls followed into the module's functions (and back to callers).
pub const MAX_DEPTH: u32 = 6;

/// An instruction of the module taking the address of one of its symbols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Take {
    /// Index in the module's code (`Module::code` or `Module::code64`)
    /// and instruction index.
    pub code: usize,
    pub insn: usize,
    /// The address taken, and the symbol there (none: a string literal).
    pub target: Target,
    pub sym: Option<usize>,
}

/// Where a followed address ends up, when it does not leave the module:
/// the module's variables it is stored in (it leaves with them).
pub type Holders = std::collections::BTreeSet<usize>;
