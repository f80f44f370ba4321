// SPDX-License-Identifier: GPL-2.0

//! The driver of the escape analysis, for either instruction set: the
//! paths through one function (a work list to a fixpoint), the calls into
//! the module's and vmlinux's functions, and the callers of a function
//! that returns the address.  What one instruction does is the
//! instruction set's ([`Isa`]).

use std::collections::{
    BTreeMap,
    BTreeSet, //
};

use super::{
    Holders,
    Take,
    MAX_DEPTH, //
};
use crate::bind::keeps::{
    keeps_any,
    RETURN_FIRST, //
};
use crate::bind::module::{
    Module,
    Target, //
};

/// A set of registers (bit n: register n, as the instruction set numbers
/// them).
pub type Regs = u32;

/// Where the address is: registers and stack slots (a base register, as
/// the instruction set's step names it, and an offset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub regs: Regs,
    pub slots: BTreeSet<(u32, i64)>,
}

impl State {
    fn is_empty(&self) -> bool {
        self.regs == 0 && self.slots.is_empty()
    }

    /// Add `o`; whether anything was new.
    fn merge(&mut self, o: &State) -> bool {
        let before = (self.regs, self.slots.len());
        self.regs |= o.regs;
        self.slots.extend(o.slots.iter().copied());
        before != (self.regs, self.slots.len())
    }
}

/// How one function run ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Outcome {
    /// It is returned (in the result register) on some path.
    returns: bool,
    /// It leaves the module: how.
    escapes: Option<String>,
    /// Variables of the module's own it is stored in.
    stored: Holders,
}

impl Outcome {
    fn escaped(how: String) -> Self {
        Outcome {
            escapes: Some(how),
            ..Default::default()
        }
    }
}

/// Where a call or jump goes.
pub enum Callee {
    /// An instruction of the same function.
    Inside(usize),
    /// A function of the module.
    Module(usize),
    /// A function of vmlinux.
    Vmlinux(String),
    Indirect,
    /// A jump that is a return (x86's `jmp __x86_return_thunk`).
    Return,
}

impl Callee {
    /// A direct branch to `target`: instruction `inside` of its own
    /// function if it is there, else the module function at `target`.
    pub fn direct(m: &Module, target: Target, inside: Option<usize>) -> Option<Callee> {
        if let Some(k) = inside {
            return Some(Callee::Inside(k));
        }
        let sym = m.symbol_at(target)?;
        Some(Callee::Module(m.code_of(sym)?))
    }
}

/// The instruction a step runs: instruction `i` of function `code` of
/// the module, whose variables in `bound` are vmlinux's (storing into
/// them leaves).
pub struct Site<'a> {
    pub m: &'a Module,
    pub bound: &'a BTreeSet<usize>,
    pub code: usize,
    pub i: usize,
}

impl Site<'_> {
    /// A store, other than into the object the address points into, of
    /// the address (`value`) or of something else: into stack slot
    /// `slot`, else into memory, the module variable `holder()` if it is
    /// one.  The address stays in a stack slot or with a variable of the
    /// module's own (`stored`); anywhere else it leaves (`place()`: where
    /// the store is).
    pub fn store(
        &self,
        st: &mut State,
        value: bool,
        slot: Option<(u32, i64)>,
        holder: impl FnOnce() -> Option<usize>,
        stored: &mut Holders,
        place: impl FnOnce() -> String,
    ) -> Result<(), String> {
        match (value, slot) {
            (true, Some(s)) => {
                st.slots.insert(s);
            }
            (true, None) => match holder() {
                Some(h) if !self.bound.contains(&h) => {
                    stored.insert(h);
                }
                _ => return Err(format!("stored to memory at {}", place())),
            },
            (false, Some(s)) => {
                st.slots.remove(&s);
            }
            (false, None) => {}
        }
        Ok(())
    }
}

/// What an instruction does to the paths through its function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// A call, direct or indirect: the callee runs, then the next
    /// instruction.
    Call,
    Return,
    /// An unconditional direct jump: inside the function, or a tail call.
    Jump,
    /// A conditional direct branch.
    CondJump,
    /// An indirect jump: where it goes is unknown.
    IndirectJump,
    /// The path ends here (a trap).
    Stop,
    /// No branch: data flow only ([`Isa::step`]).
    Step,
}

/// What the driver needs of an instruction set: its calling convention,
/// its functions' code in the module, and what one instruction does.
pub trait Isa {
    /// The argument registers, in order.
    const ARGS: &'static [Regs];
    /// The register a function returns its result in.
    const RESULT: Regs;
    /// The registers a call may change.
    const CALL_CLOBBERED: Regs;
    /// Whether a conditional branch out of its function is a tail call
    /// (x86's `jcc` to a function; arm64's conditional branches stay in
    /// their function).  The order in which the two paths are queued
    /// follows, as it decides which leak of several is reported.
    const CONDITIONAL_TAIL_CALLS: bool;

    /// The number of functions of the module with code of this set.
    fn functions(m: &Module) -> usize;
    /// The number of instructions of function `code`.
    fn insns(m: &Module, code: usize) -> usize;
    /// The symbol of function `code`.
    fn function_sym(m: &Module, code: usize) -> usize;
    /// What instruction `i` of function `code` does to the paths.
    fn flow(m: &Module, code: usize, i: usize) -> Flow;
    /// Where the call or branch at `(code, i)` goes, if it can be told.
    fn callee(m: &Module, code: usize, i: usize) -> Option<Callee>;
    /// The data flow of the instruction at `site`, which is no branch: `st`
    /// after it (`src`: it produces the address), the module's variables
    /// it stores the address in, or how the address leaves.
    fn step(
        &mut self,
        site: &Site,
        st: &mut State,
        src: bool,
        stored: &mut Holders,
    ) -> Result<(), String>;

    /// The name of function `code`.
    fn name(m: &Module, code: usize) -> &str {
        &m.syms[Self::function_sym(m, code)].name
    }

    /// Where address `addr` of function `code` is, for messages
    /// (`name+0xoffset`).
    fn place(m: &Module, code: usize, addr: u64) -> String {
        let start = m.syms[Self::function_sym(m, code)].value;
        format!("{}+{:#x}", Self::name(m, code), addr - start)
    }
}

/// A path to run: instruction, state, and whether the instruction
/// produces the address.
type Work = (usize, State, bool);

/// The analysis over one module.
pub struct Follow<'m, I: Isa> {
    m: &'m Module,
    isa: I,
    memo: BTreeMap<(usize, Regs), Outcome>,
    /// Call sites of each function: (code, instruction).
    callers: BTreeMap<usize, Vec<(usize, usize)>>,
    /// Functions that code outside the module may call: global ones and
    /// those whose address is stored in data (the manifest's callbacks).
    called_from_outside: BTreeSet<usize>,
    /// The module's variables that are vmlinux's (storing into them is
    /// storing into vmlinux).
    bound: BTreeSet<usize>,
}

impl<'m, I: Isa> Follow<'m, I> {
    pub fn new(
        m: &'m Module,
        isa: I,
        called_from_outside: BTreeSet<usize>,
        bound: BTreeSet<usize>,
    ) -> Self {
        let mut callers: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
        for code in 0..I::functions(m) {
            for i in 0..I::insns(m, code) {
                if !matches!(I::flow(m, code, i), Flow::Call | Flow::Jump) {
                    continue;
                }
                if let Some(Callee::Module(k)) = I::callee(m, code, i) {
                    callers.entry(k).or_default().push((code, i));
                }
            }
        }
        Follow {
            m,
            isa,
            memo: BTreeMap::new(),
            callers,
            called_from_outside,
            bound,
        }
    }

    fn name(&self, code: usize) -> &str {
        I::name(self.m, code)
    }

    /// Where the address taken by `t` goes: the module's variables it is
    /// stored in if it stays in the module's code, else how it leaves.
    pub fn follow(&mut self, t: &Take) -> Result<Holders, String> {
        let mut out = self.run(t.code, t.insn, State::default(), true, 0);
        if out.returns && out.escapes.is_none() {
            let more = self.returned(t.code, 1);
            out.escapes = more.escapes;
            out.stored.extend(more.stored);
        }
        match out.escapes {
            Some(h) => Err(h),
            None => Ok(out.stored),
        }
    }

    /// Function `code` returns the address: follow it in its callers.
    fn returned(&mut self, code: usize, depth: u32) -> Outcome {
        let sym = I::function_sym(self.m, code);
        let name = self.name(code).to_string();
        if self.called_from_outside.contains(&sym) || self.m.syms[sym].info >> 4 != 0 {
            return Outcome::escaped(format!(
                "returned by {name}, which code outside the module calls"
            ));
        }
        if depth > MAX_DEPTH {
            return Outcome::escaped(format!("returned by {name}: followed no further"));
        }
        let mut all = Outcome::default();
        for (c, i) in self.callers.get(&code).cloned().unwrap_or_default() {
            let st = State {
                regs: I::RESULT,
                ..Default::default()
            };
            let mut o = self.run(c, i + 1, st, false, depth);
            if o.returns && o.escapes.is_none() {
                let up = self.returned(c, depth + 1);
                o.escapes = up.escapes;
                o.stored.extend(up.stored);
            }
            if let Some(h) = o.escapes {
                return Outcome::escaped(format!("{h} (returned by {name})"));
            }
            all.stored.extend(o.stored);
        }
        all
    }

    /// Run `code` from instruction `start` with the address in `entry`
    /// (or, with `source`, produced by the instruction at `start`).
    fn run(
        &mut self,
        code: usize,
        start: usize,
        entry: State,
        source: bool,
        depth: u32,
    ) -> Outcome {
        let n = I::insns(self.m, code);
        let mut seen: Vec<Option<State>> = vec![None; n];
        let mut work: Vec<Work> = vec![(start, entry, source)];
        let mut out = Outcome::default();
        while let Some((i, mut st, src)) = work.pop() {
            if i >= n {
                continue;
            }
            if !src {
                match &mut seen[i] {
                    Some(s) => {
                        if !s.merge(&st) {
                            continue;
                        }
                        st = s.clone();
                    }
                    slot => *slot = Some(st.clone()),
                }
                if st.is_empty() {
                    continue;
                }
            }
            if let Err(h) = self.visit(code, i, st, src, depth, &mut out, &mut work) {
                return Outcome::escaped(h);
            }
        }
        out
    }

    /// One instruction of a run: queue the paths it passes the address on
    /// to, or say how the address leaves.
    #[allow(clippy::too_many_arguments)]
    fn visit(
        &mut self,
        code: usize,
        i: usize,
        mut st: State,
        src: bool,
        depth: u32,
        out: &mut Outcome,
        work: &mut Vec<Work>,
    ) -> Result<(), String> {
        let next = i + 1;
        match I::flow(self.m, code, i) {
            Flow::Call => {
                self.call(code, i, &mut st, depth, &mut out.stored, false)?;
                work.push((next, st, false));
            }
            Flow::Return => out.returns |= st.regs & I::RESULT != 0,
            Flow::Jump => self.jump(code, i, st, depth, out, work)?,
            Flow::CondJump if I::CONDITIONAL_TAIL_CALLS => {
                self.jump(code, i, st.clone(), depth, out, work)?;
                work.push((next, st, false));
            }
            Flow::CondJump => {
                work.push((next, st.clone(), false));
                if let Some(Callee::Inside(t)) = I::callee(self.m, code, i) {
                    work.push((t, st, false));
                }
            }
            Flow::IndirectJump => {
                return Err(format!("reaches an indirect jump in {}", self.name(code)))
            }
            Flow::Stop => {}
            Flow::Step => {
                let site = Site {
                    m: self.m,
                    bound: &self.bound,
                    code,
                    i,
                };
                self.isa.step(&site, &mut st, src, &mut out.stored)?;
                work.push((next, st, false));
            }
        }
        Ok(())
    }

    /// A direct jump: inside the function, a return, or a tail call.
    fn jump(
        &mut self,
        code: usize,
        i: usize,
        mut st: State,
        depth: u32,
        out: &mut Outcome,
        work: &mut Vec<Work>,
    ) -> Result<(), String> {
        match I::callee(self.m, code, i) {
            Some(Callee::Inside(t)) => work.push((t, st, false)),
            Some(Callee::Return) => out.returns |= st.regs & I::RESULT != 0,
            _ => {
                // A tail call: a call, then its return.
                self.call(code, i, &mut st, depth, &mut out.stored, true)?;
                out.returns |= st.regs & I::RESULT != 0;
            }
        }
        Ok(())
    }

    /// A call with the address possibly in argument registers.
    /// (`tail`: a jump to the function; a function returning its argument
    /// then returns it to callers that, being void, do not use it.)
    fn call(
        &mut self,
        code: usize,
        i: usize,
        st: &mut State,
        depth: u32,
        stored: &mut Holders,
        tail: bool,
    ) -> Result<(), String> {
        let args = st.regs & I::ARGS.iter().fold(0, |a, &r| a | r);
        let mut result = false;
        if args != 0 {
            result = self.pass(code, i, args, depth, stored, tail)?;
        }
        st.regs &= !I::CALL_CLOBBERED;
        if result {
            st.regs |= I::RESULT;
        }
        Ok(())
    }

    /// The address in `args` passed by the call at `(code, i)`: whether
    /// the callee returns it.
    fn pass(
        &mut self,
        code: usize,
        i: usize,
        args: Regs,
        depth: u32,
        stored: &mut Holders,
        tail: bool,
    ) -> Result<bool, String> {
        match I::callee(self.m, code, i) {
            None | Some(Callee::Inside(_) | Callee::Return) => Ok(false),
            Some(Callee::Indirect) => {
                Err(format!("passed to an indirect call in {}", self.name(code)))
            }
            Some(Callee::Vmlinux(name)) => {
                if keeps_any(&name, args, I::ARGS) {
                    return Err(format!("passed to {name} by {}", self.name(code)));
                }
                let first = I::ARGS.first().copied().unwrap_or(0);
                Ok(!tail && RETURN_FIRST.contains(&name.as_str()) && args & first != 0)
            }
            Some(Callee::Module(k)) if depth >= MAX_DEPTH => {
                Err(format!("passed to {}: followed no further", self.name(k)))
            }
            Some(Callee::Module(k)) => {
                let out = match self.memo.get(&(k, args)) {
                    Some(o) => o.clone(),
                    None => {
                        // (Provisional while it runs: recursion stays.)
                        self.memo.insert((k, args), Outcome::default());
                        let entry = State {
                            regs: args,
                            ..Default::default()
                        };
                        let o = self.run(k, 0, entry, false, depth + 1);
                        self.memo.insert((k, args), o.clone());
                        o
                    }
                };
                if let Some(h) = out.escapes {
                    return Err(h);
                }
                stored.extend(out.stored);
                Ok(out.returns)
            }
        }
    }
}
