// SPDX-License-Identifier: GPL-2.0

//! The paths of the arm64 escape analysis: branches, calls and returns.

use super::*;

impl<'m> Follow<'m> {
    pub fn new(
        m: &'m Module,
        called_from_outside: BTreeSet<usize>,
        bound: BTreeSet<usize>,
    ) -> Self {
        let mut f = Follow {
            m,
            memo: BTreeMap::new(),
            callers: BTreeMap::new(),
            called_from_outside,
            bound,
        };
        for (ci, c) in m.code64.iter().enumerate() {
            for (i, ins) in c.insns.iter().enumerate() {
                if matches!(ins.opcode(), Some(Opcode::BL | Opcode::B)) {
                    if let Some(Callee::Module(k)) = f.callee(ci, i) {
                        f.callers.entry(k).or_default().push((ci, i));
                    }
                }
            }
        }
        f
    }

    pub(super) fn name(&self, code: usize) -> &str {
        &self.m.syms[self.m.code64[code].sym].name
    }

    /// Where the branch at `(code, i)` goes: its relocation (a call to
    /// another function) or its own offset (inside the section).
    fn callee(&self, code: usize, i: usize) -> Option<Callee> {
        let c: &Code64 = &self.m.code64[code];
        let ins = &c.insns[i];
        let Some(own) = ins.branch_target() else {
            return Some(Callee::Indirect);
        };
        let target = match self.m.reloc_at(c.sec, ins.addr) {
            Some(r) if matches!(r.rtype, R_AARCH64_CALL26 | R_AARCH64_JUMP26) => {
                let s = &self.m.syms[r.sym];
                if s.shndx == 0 {
                    return Some(Callee::Vmlinux(s.name.clone()));
                }
                self.m.target(r, None)?
            }
            _ => Target {
                sec: c.sec,
                offset: own,
            },
        };
        if target.sec == c.sec {
            if let Some(k) = c.index_of(target.offset) {
                return Some(Callee::Inside(k));
            }
        }
        let sym = self.m.symbol_at(target)?;
        Some(Callee::Module(self.m.code_of(sym)?))
    }

    /// Where the address taken by `t` goes.
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
        let sym = self.m.code64[code].sym;
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
                regs: X0,
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
    /// (or, with `source`, formed by the instruction at `start`).
    pub(super) fn run(
        &mut self,
        code: usize,
        start: usize,
        entry: State,
        source: bool,
        depth: u32,
    ) -> Outcome {
        let n = self.m.code64[code].insns.len();
        let mut seen: Vec<Option<State>> = vec![None; n];
        let mut work: Vec<(usize, State, bool)> = vec![(start, entry, source)];
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
            match self.branch(code, i, st, src, depth, &mut out) {
                Ok(next) => work.extend(next),
                Err(h) => return Outcome::escaped(h),
            }
        }
        out
    }

    /// One instruction of a run: the states it passes on.
    fn branch(
        &mut self,
        code: usize,
        i: usize,
        mut st: State,
        src: bool,
        depth: u32,
        out: &mut Outcome,
    ) -> Result<Vec<(usize, State, bool)>, String> {
        let ins: &Insn = &self.m.code64[code].insns[i];
        let op = ins.opcode();
        let next = i + 1;
        match op {
            Some(Opcode::BL | Opcode::BLR) => {
                self.call(code, i, &mut st, depth, &mut out.stored, false)?;
                Ok(vec![(next, st, false)])
            }
            Some(Opcode::RET | Opcode::RETAA | Opcode::RETAB) => {
                out.returns |= st.regs & X0 != 0;
                Ok(vec![])
            }
            Some(Opcode::B) => match self.callee(code, i) {
                Some(Callee::Inside(t)) => Ok(vec![(t, st, false)]),
                _ => {
                    self.call(code, i, &mut st, depth, &mut out.stored, true)?;
                    out.returns |= st.regs & X0 != 0;
                    Ok(vec![])
                }
            },
            Some(Opcode::Bcc(_) | Opcode::CBZ | Opcode::CBNZ | Opcode::TBZ | Opcode::TBNZ) => {
                let mut v = vec![(next, st.clone(), false)];
                if let Some(Callee::Inside(t)) = self.callee(code, i) {
                    v.push((t, st, false));
                }
                Ok(v)
            }
            _ if ins.ends_flow() && op != Some(Opcode::UDF) => {
                Err(format!("reaches an indirect jump in {}", self.name(code)))
            }
            Some(Opcode::UDF) => Ok(vec![]),
            _ => {
                self.step(code, i, &mut st, src, &mut out.stored)?;
                Ok(vec![(next, st, false)])
            }
        }
    }

    /// A call with the address possibly in argument registers.
    fn call(
        &mut self,
        code: usize,
        i: usize,
        st: &mut State,
        depth: u32,
        stored: &mut Holders,
        tail: bool,
    ) -> Result<(), String> {
        let args = st.regs & ARGS;
        let mut result = false;
        if args != 0 {
            result = self.pass(code, i, args, depth, stored, tail)?;
        }
        st.regs &= !CALL_CLOBBERED;
        if result {
            st.regs |= X0;
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
        match self.callee(code, i) {
            None | Some(Callee::Inside(_)) => Ok(false),
            Some(Callee::Indirect) => {
                Err(format!("passed to an indirect call in {}", self.name(code)))
            }
            Some(Callee::Vmlinux(name)) => {
                let kept = (0..8).any(|n| args & (1 << n) != 0 && !keeps_nothing_of(&name, n + 1));
                if kept {
                    return Err(format!("passed to {name} by {}", self.name(code)));
                }
                Ok(!tail && RETURN_FIRST.contains(&name.as_str()) && args & X0 != 0)
            }
            Some(Callee::Module(k)) if depth >= MAX_DEPTH => {
                Err(format!("passed to {}: followed no further", self.name(k)))
            }
            Some(Callee::Module(k)) => {
                let out = match self.memo.get(&(k, args)) {
                    Some(o) => o.clone(),
                    None => {
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
