// SPDX-License-Identifier: GPL-2.0

//! The plan: the functions to redirect and their patch sites, resolved
//! once, at load, with everything that can sleep or allocate.

use kernel::prelude::*;

use super::arch::{
    self,
    Bytes, //
};
use super::{
    copies::CopySizes,
    hops::Hops,
    manifest::Manifest,
    runs::Runs,
    Direction,
    Show,
    Target, //
};
use crate::kapi;
use crate::pcore::ranges::{
    heapsort_by,
    sort_addrs,
    Range,
    RangeTable, //
};

/// One patch site.
#[derive(Clone, Copy)]
pub(super) struct Site {
    /// Index of the target.
    pub(super) target: usize,
    /// Address of the patched bytes.
    pub(super) addr: u64,
    /// What ftrace calls the function (its record's ip), if traceable.
    pub(super) ftrace_ip: u64,
    /// The bytes of the untouched function.
    pub(super) orig: Bytes,
    /// The redirect to the new function (`jmp`, `B` or a veneer).
    pub(super) jmp: Bytes,
}

impl Site {
    /// The bytes a switch in direction `dir` finds at the site.
    pub(super) fn before(&self, dir: Direction) -> Bytes {
        match dir {
            Direction::Apply => self.orig,
            Direction::Revert => self.jmp,
        }
    }

    /// The bytes a switch in direction `dir` leaves at the site.
    pub(super) fn after(&self, dir: Direction) -> Bytes {
        match dir {
            Direction::Apply => self.jmp,
            Direction::Revert => self.orig,
        }
    }
}

/// Range ids above this mark extra ("busy-check only") ranges.
const NO_TARGET: u32 = u32::MAX;
/// The range id reported for a return address elsewhere in the module.
pub(super) const MODULE_TEXT: u32 = u32::MAX;

/// A prepared set of redirections, applied and reverted as a whole.
pub(crate) struct Plan {
    pub(super) targets: KVec<Target>,
    pub(super) extra_names: KVec<&'static CStr>,
    /// Old functions with all their pieces, plus extra ranges.
    pub(super) old_ranges: KVec<Range>,
    /// New functions.
    pub(super) new_ranges: KVec<Range>,
    pub(super) sites: KVec<Site>,
    /// The hops of the sites of traceable functions, if there are any.
    pub(super) hops: Option<Hops>,
    pub(super) applied: bool,
    /// Clear and rebuild every runqueue around the patch.
    pub(super) rebuild: bool,
    /// [`Plan::text_hash`] of the untouched text.
    pub(super) initial_hash: u64,
    /// The last switch was refused because tasks were inside functions
    /// being replaced (a transient condition, worth retrying).
    pub(super) busy_tasks: bool,
    /// Every site's address, sorted: what ftrace is told to leave alone
    /// (the C side binary-searches it).
    pub(super) site_addrs: KVec<c_ulong>,
    /// The safe points of the old functions (absolute, sorted): return
    /// addresses that do not make a task busy for an upgrade.
    pub(super) safe_points: KVec<u64>,
    /// The safe points of the module's copies (absolute, sorted): return
    /// addresses in the module's text that do not make a task busy for a
    /// rollback with [`Plan::revert_safe_points`] set.
    pub(super) module_safe: KVec<u64>,
    /// Whether a rollback may let tasks stay at [`Plan::module_safe`]
    /// points; off for a rollback before the module's memory is freed.
    pub(super) revert_safe: bool,
    /// Return addresses the last successful rollback let pass at those
    /// safe points (0: no task was left in the module's code).
    pub(super) module_passes: u64,
}

pub(super) fn func_range(addr: usize, id: u32, what: &CStr) -> Result<Range> {
    match kapi::ksym_size_offset(addr as u64) {
        Some((size, 0)) if size > 0 => Ok(Range {
            start: addr as u64,
            size,
            id,
        }),
        _ => {
            pr_err!(
                "{:?} at {:#x} is not the start of a known function\n",
                what,
                addr
            );
            Err(EINVAL)
        }
    }
}

/// Where a plan finds the pieces of its old functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pieces {
    /// The build's list (the manifest's plan).
    Listed,
    /// A walk of every kernel symbol (plans of other targets).
    Kallsyms,
}

impl Plan {
    /// Resolve the targets: function sizes and pieces from kallsyms, the
    /// patch site of each old function and its current bytes.  `busy` are
    /// further functions (name, address) in which no task may be when the
    /// switch happens, although they are not patched.
    pub(crate) fn new(targets: &[Target], busy: &[(&'static CStr, usize)]) -> Result<Self> {
        let copies = CopySizes::new(targets.iter().map(|t| t.new as u64))?;
        Plan::with_pieces(targets, busy, Pieces::Kallsyms, &copies)
    }

    /// [`Plan::new`], with the pieces found as `pieces` says.
    fn with_pieces(
        targets: &[Target],
        busy: &[(&'static CStr, usize)],
        pieces: Pieces,
        copies: &CopySizes,
    ) -> Result<Self> {
        let mut plan = Plan {
            targets: KVec::with_capacity(targets.len(), GFP_KERNEL)?,
            extra_names: KVec::with_capacity(busy.len(), GFP_KERNEL)?,
            old_ranges: KVec::new(),
            new_ranges: KVec::new(),
            sites: KVec::with_capacity(targets.len(), GFP_KERNEL)?,
            hops: None,
            applied: false,
            rebuild: false,
            initial_hash: 0,
            busy_tasks: false,
            site_addrs: KVec::with_capacity(targets.len(), GFP_KERNEL)?,
            safe_points: KVec::new(),
            module_safe: KVec::new(),
            revert_safe: false,
            module_passes: 0,
        };
        for (i, t) in targets.iter().enumerate() {
            plan.targets.push(*t, GFP_KERNEL)?;
            let old = func_range(t.old, i as u32, t.name)?;
            if !t.split {
                plan.old_ranges.push(old, GFP_KERNEL)?;
            }
            plan.new_ranges
                .push(copies.range(t.new as u64, i as u32, t.name)?, GFP_KERNEL)?;
        }
        for (i, &(name, addr)) in busy.iter().enumerate() {
            plan.extra_names.push(name, GFP_KERNEL)?;
            let id = NO_TARGET - 1 - i as u32;
            plan.old_ranges
                .push(func_range(addr, id, name)?, GFP_KERNEL)?;
        }
        match pieces {
            Pieces::Kallsyms => plan.add_pieces()?,
            Pieces::Listed => plan.add_listed_pieces()?,
        }
        // Sort and validate both tables (nothing overlaps): each switch
        // searches them as they are now ([`Plan::table`]).
        for (what, new) in [("old", false), ("new", true)] {
            let table = if new {
                &mut plan.new_ranges
            } else {
                &mut plan.old_ranges
            };
            if let Err(e) = RangeTable::new(table) {
                if let crate::pcore::ranges::RangeError::Overlap(a, b) = e {
                    pr_err!(
                        "{} functions overlap: {:?} and {:?}\n",
                        what,
                        plan.range_name(a),
                        plan.range_name(b)
                    );
                } else {
                    pr_err!("bad {} function ranges: {}\n", what, Show(e));
                }
                return Err(EINVAL);
            }
        }
        for (i, t) in targets.iter().enumerate() {
            let size = func_range(t.old, 0, t.name)?.size;
            let p = arch::plan(t.name, t.old as u64, size, t.new as u64).inspect_err(|_| {
                pr_err!("{:?}: cannot redirect it at {:#x}\n", t.name, t.old);
            })?;
            plan.sites.push(
                Site {
                    target: i,
                    addr: p.at,
                    ftrace_ip: p.ftrace_ip,
                    orig: p.orig,
                    jmp: p.redirect,
                },
                GFP_KERNEL,
            )?;
        }
        // In address order: the switch writes them as few poke windows
        // ([`super::pokes`]).  (An insertion sort of the sites, in manifest
        // order, took 6 ms of the load under -icount.)
        heapsort_by(&mut plan.sites, |s| s.addr);
        for s in plan.sites.iter() {
            plan.site_addrs.push(s.ftrace_ip as c_ulong, GFP_KERNEL)?;
        }
        plan.hops = Hops::new(&plan.sites, &plan.targets)?;
        plan.initial_hash = plan.text_hash()?;
        Ok(plan)
    }

    /// The range table a switch in direction `dir` checks the stacks
    /// against: the functions being replaced, and for an upgrade their safe
    /// points ([`Plan::add_safe_points`]).  The module's copies have none:
    /// a rollback stays strict, the module's code must not stay in use.
    /// [`Plan::new`] sorted and validated both tables; nothing changes them
    /// after.
    pub(super) fn table(&self, dir: Direction) -> Result<RangeTable<'_>> {
        match dir {
            Direction::Apply => RangeTable::sorted(&self.old_ranges)
                .and_then(|t| t.with_safe_points(&self.safe_points)),
            Direction::Revert => RangeTable::sorted(&self.new_ranges),
        }
        .map_err(|_| EINVAL)
    }

    /// Resolve the manifest's safe points (function, sympos, offset; found
    /// in vmlinux's machine code at build time, Documentation/
    /// live-update.rst, "Safe points") to addresses.  Only those inside an
    /// old range are kept (not of a split target, nor of a function the
    /// plan does not replace).  Returns how many.
    fn add_safe_points(&mut self, manifest: &Manifest) -> Result<usize> {
        let n = kapi::safepoint_count();
        // The redirected entries add up to two points per site.
        let mut points = Runs::with_capacity(
            (0..n)
                .filter_map(kapi::safepoint_get)
                .map(|g| g.2.len())
                .sum::<usize>()
                + 2 * self.sites.len(),
            n + self.sites.len(),
        )?;
        {
            let table = RangeTable::sorted(&self.old_ranges).map_err(|_| EINVAL)?;
            for i in 0..n {
                let (name, pos, offs) = kapi::safepoint_get(i).ok_or(EINVAL)?;
                // (The tables list the manifest's functions.)
                let f = match manifest.find(name, pos) {
                    Some(&(_, old)) => old as u64,
                    None => kapi::ksym_lookup_pos(name, pos) as u64,
                };
                let Some(r) = table.find(f).filter(|r| r.start == f) else {
                    continue;
                };
                // The offsets must fall in that function itself.
                let inside = offs.iter().map(|&o| u64::from(o)).filter(|&o| o < r.size);
                points.add(inside.map(|o| f + o))?;
            }
        }
        self.add_entry_safe_points(&mut points)?;
        // Aliases (__ia32_sys_x = __x64_sys_x) give the same run twice.
        let v = points.into_sorted()?;
        RangeTable::sorted(&self.old_ranges)
            .and_then(|t| t.with_safe_points(&v))
            .map_err(|e| {
                pr_err!("safe points: {}\n", Show(e));
                EINVAL
            })?;
        let kept = v.len();
        self.safe_points = v;
        Ok(kept)
    }

    /// x86_64: the entry of every redirected function up to its patch
    /// site is a safe point of an upgrade.  A task there (interrupted
    /// before the function's first instruction, at the ENDBR or at the
    /// site; or the return address of a `noreturn` call ending the function
    /// before it, which is never returned to) executes nothing of the old
    /// function: the ENDBR (or the NOP the kernel seals it into) has no
    /// effect, and the site holds the `jmp` to the new copy once the
    /// upgrade wrote it.  Not for a rollback: the module's copies are not
    /// patched.  Not on arm64 yet.
    #[cfg(CONFIG_X86_64)]
    fn add_entry_safe_points(&self, points: &mut Runs) -> Result {
        const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];
        const SEALED: [u8; 4] = [0x0f, 0x1f, 0x40, 0x00];
        // (Split targets are not in the old ranges: never busy there.)
        for s in self.sites.iter().filter(|s| !self.targets[s.target].split) {
            let start = self.targets[s.target].old as u64;
            let mut first = [0u8; 4];
            if s.addr == start {
                points.add([start].into_iter())?;
            } else if s.addr == start + 4
                && kapi::read_kernel(start, &mut first).is_ok()
                && (first == ENDBR64 || first == SEALED)
            {
                points.add([start, s.addr].into_iter())?;
            }
        }
        Ok(())
    }

    #[cfg(not(CONFIG_X86_64))]
    fn add_entry_safe_points(&self, _points: &mut Runs) -> Result {
        Ok(())
    }

    /// Resolve the safe points of the module's copies (vmlinux function,
    /// sympos, offset from the copy's start; found in the built module's
    /// machine code, Documentation/live-update.rst, "Safe points") through
    /// the manifest's copies.  Returns how many.
    fn add_module_safe_points(&mut self, manifest: &Manifest, copies: &CopySizes) -> Result<usize> {
        let n = kapi::module_safepoint_count();
        let mut points = Runs::with_capacity(
            (0..n)
                .filter_map(kapi::module_safepoint_get)
                .map(|g| g.2.len())
                .sum(),
            n,
        )?;
        let (text, text_size) = kapi::module_text();
        for i in 0..n {
            let (name, pos, offs) = kapi::module_safepoint_get(i).ok_or(EINVAL)?;
            let Some((e, _)) = manifest.find(name, pos) else {
                continue;
            };
            let f = e.new as u64;
            let size = copies.size(f);
            // The offsets must fall in that copy, in the module's text.
            let inside = |&o: &u64| {
                let ok = size.is_some_and(|s| o < s) && (f + o).wrapping_sub(text) < text_size;
                if !ok {
                    pr_err!(
                        "module safe point {:?}+{:#x} is not in its copy; ignored\n",
                        name,
                        o
                    );
                }
                ok
            };
            points.add(
                offs.iter()
                    .map(|&o| u64::from(o))
                    .filter(inside)
                    .map(|o| f + o),
            )?;
        }
        let v = points.into_sorted()?;
        let len = v.len();
        self.module_safe = v;
        Ok(len)
    }

    /// Let a rollback pass tasks at the safe points of the module's copies
    /// (`on`), or make it strict.  A rollback that let tasks stay there
    /// leaves the module's code in use: the module must not be freed before
    /// a strict check finds no task in it ([`Plan::wait_module_unused`]).
    pub(crate) fn set_revert_safe_points(&mut self, on: bool) {
        self.revert_safe = on;
    }

    /// Whether the last successful rollback let a task stay at a safe point
    /// of the module's copies (then its code may still run).
    pub(crate) fn left_tasks_in_module(&self) -> bool {
        self.module_passes > 0
    }

    /// Safe points of the old functions and of the module's copies.
    pub(crate) fn safe_point_counts(&self) -> (usize, usize) {
        (self.safe_points.len(), self.module_safe.len())
    }

    /// `(start, size)` of every split target's old function.
    pub(super) fn split_ranges(&self) -> Result<KVec<(u64, u64)>> {
        let mut v = KVec::new();
        for t in self.targets.iter().filter(|t| t.split) {
            let r = func_range(t.old, 0, t.name)?;
            v.push((r.start, r.size), GFP_KERNEL)?;
        }
        Ok(v)
    }

    /// Make every switch of this plan clear and rebuild the runqueues.
    pub(crate) fn rebuild_runqueues(mut self) -> Self {
        self.rebuild = true;
        self
    }

    /// [`Plan::text_hash`] when the plan was made (untouched text).
    pub(crate) fn initial_hash(&self) -> u64 {
        self.initial_hash
    }

    /// The plan of the whole extracted scheduler, from the manifest the
    /// build generated: interfaces and callbacks are redirected, internal
    /// functions are only checked for running tasks.  Functions named in
    /// `split` are redirected as [`Target::split`]; `pieces`: where the
    /// old functions' pieces come from ([`Pieces::Listed`] but in the test
    /// comparing both).  Returns the plan and the number of internal
    /// functions.
    pub(crate) fn from_manifest(split: &[&CStr], pieces: Pieces) -> Result<(Self, usize)> {
        let manifest = Manifest::resolve()?;
        let mut targets: KVec<Target> = KVec::with_capacity(kapi::manifest_len(), GFP_KERNEL)?;
        let mut busy: KVec<(&'static CStr, usize)> = KVec::new();
        let aliases = manifest.aliases()?;
        for (&(e, old), alias) in manifest.entries().zip(aliases.iter()) {
            // Aliases (e.g. __ia32_sys_x = __x64_sys_x) are one function.
            if *alias {
                continue;
            }
            match e.class {
                kapi::ManifestClass::Internal => busy.push((e.name, old), GFP_KERNEL)?,
                _ => targets.push(
                    Target {
                        name: e.name,
                        old,
                        new: e.new,
                        split: split.iter().any(|&n| n == e.name),
                    },
                    GFP_KERNEL,
                )?,
            }
        }
        let internal = busy.len();
        let copies = CopySizes::new(manifest.entries().map(|(e, _)| e.new as u64))?;
        let mut plan = Plan::with_pieces(&targets, &busy, pieces, &copies)?;
        let kept = plan.add_safe_points(&manifest)?;
        let kept_module = plan.add_module_safe_points(&manifest, &copies)?;
        pr_info!(
            "safe points: {} in vmlinux (the manifest's, in {} functions, and the redirected entries), {} in the module's copies (of {} functions)\n",
            kept,
            kapi::safepoint_count(),
            kept_module,
            kapi::module_safepoint_count()
        );
        Ok((plan, internal))
    }

    /// Number of redirected functions.
    pub(crate) fn target_count(&self) -> usize {
        self.targets.len()
    }

    /// Add every `<name>.<suffix>` symbol (`.cold`, `.part.N`, `.isra.N`,
    /// `.constprop.N`, ...) of each target to the old ranges: code of the
    /// old function that lives outside its main symbol.
    fn add_pieces(&mut self) -> Result {
        let mut found: KVec<(u32, u64)> = KVec::new();
        let mut alloc_failed = false;
        kapi::for_each_ksym(|name, addr| {
            // A piece is `<function>.<suffix>`, and a C name has no dot:
            // most symbols are rejected here (the load time, issue #12).
            let Some(dot) = name.iter().position(|&b| b == b'.') else {
                return true;
            };
            // Code only: clang names a function's static variables
            // `<function>.<variable>`.
            if !kapi::is_core_kernel_text(addr) {
                return true;
            }
            let base = &name[..dot];
            let targets = self
                .targets
                .iter()
                .enumerate()
                .filter(|(_, t)| !t.split)
                .map(|(i, t)| (i as u32, t.name));
            // Pieces of the functions only checked for tasks, too.
            let extra = self
                .extra_names
                .iter()
                .enumerate()
                .map(|(i, &n)| (NO_TARGET - 1 - i as u32, n));
            for (id, n) in Iterator::chain(targets, extra) {
                if dot + 1 < name.len()
                    && n.to_bytes() == base
                    && found.push((id, addr), GFP_KERNEL).is_err()
                {
                    alloc_failed = true;
                    return false;
                }
            }
            true
        });
        if alloc_failed {
            return Err(ENOMEM);
        }
        for &(id, addr) in found.iter() {
            let name = self.range_name(id);
            self.old_ranges
                .push(func_range(addr as usize, id, name)?, GFP_KERNEL)?;
        }
        Ok(())
    }

    /// Add the pieces the build listed (`plugsched init`, pieces.c) of the
    /// targets but split ones, and of the functions only checked for
    /// tasks: what [`Plan::add_pieces`] finds, with one kallsyms look-up
    /// each instead of a walk of every kernel symbol (the load time, issue
    /// #12).  The build ID check makes the running vmlinux the one the
    /// build read, so a listed piece missing from kallsyms is an error.
    fn add_listed_pieces(&mut self) -> Result {
        for i in 0..kapi::piece_count() {
            let (name, pos, link_addr) = kapi::piece_get(i).ok_or(EINVAL)?;
            let bytes = name.to_bytes();
            let base = &bytes[..bytes.iter().position(|&b| b == b'.').ok_or(EINVAL)?];
            let Some(id) = self.piece_owner(base) else {
                continue;
            };
            let addr = kapi::ksym_find(name, pos, link_addr);
            if addr == 0 {
                pr_err!("pieces: {:?} (sympos {}) not found in vmlinux\n", name, pos);
                return Err(ENOENT);
            }
            let owner = self.range_name(id);
            self.old_ranges
                .push(func_range(addr, id, owner)?, GFP_KERNEL)?;
        }
        Ok(())
    }

    /// The range id of the function called `base` whose pieces the old
    /// ranges include: a target but a split one, or a function only
    /// checked for tasks.
    fn piece_owner(&self, base: &[u8]) -> Option<u32> {
        let target = self
            .targets
            .iter()
            .position(|t| !t.split && t.name.to_bytes() == base)
            .map(|i| i as u32);
        target.or_else(|| {
            self.extra_names
                .iter()
                .position(|n| n.to_bytes() == base)
                .map(|i| NO_TARGET - 1 - i as u32)
        })
    }

    /// Whether `other` checks exactly the same old ranges (both sorted by
    /// [`Plan::new`]).
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn same_old_ranges(&self, other: &Plan) -> bool {
        self.old_ranges.len() == other.old_ranges.len()
            && self
                .old_ranges
                .iter()
                .zip(other.old_ranges.iter())
                .all(|(a, b)| a.start == b.start && a.size == b.size)
    }

    /// Number of ranges checked when applying (functions and their pieces).
    pub(crate) fn old_range_count(&self) -> usize {
        self.old_ranges.len()
    }

    /// Whether the redirections are in place.
    pub(crate) fn is_applied(&self) -> bool {
        self.applied
    }

    pub(super) fn range_name(&self, id: u32) -> &'static CStr {
        if id == MODULE_TEXT {
            return c"plugsched.ko";
        }
        match self.targets.get(id as usize) {
            Some(t) => t.name,
            None => self.extra_names[(NO_TARGET - 1 - id) as usize],
        }
    }

    /// Hash of the bytes at every patch site, now.
    pub(crate) fn text_hash(&self) -> Result<u64> {
        let mut h = crate::pcore::hash::Fnv64::new();
        for s in self.sites.iter() {
            // The whole entry: its landing pad (x86's ENDBR or its seal,
            // arm64's BTI or PACIASP) and the patch site.
            let mut b = [0u8; 4 + arch::SITE_MAX];
            let func = self.targets[s.target].old as u64;
            let len = (s.addr + s.orig.len() as u64 - func) as usize;
            let b = b.get_mut(..len).ok_or(EINVAL)?;
            kapi::read_kernel(func, b)?;
            h.write(b);
        }
        Ok(h.finish())
    }

    /// Whether the last switch was refused only because tasks were inside
    /// the functions being replaced.
    pub(crate) fn refused_for_busy_tasks(&self) -> bool {
        self.busy_tasks
    }
}

/// Sort `v` and drop repeated addresses.
pub(super) fn sort_unique(v: &mut KVec<u64>) {
    sort_addrs(v);
    let mut len = 0;
    for k in 0..v.len() {
        if len == 0 || v[len - 1] != v[k] {
            v[len] = v[k];
            len += 1;
        }
    }
    v.truncate(len);
}
