// SPDX-License-Identifier: GPL-2.0

//! The architecture's patch sites, for the arch-neutral engine: where the
//! redirect of a function goes, its bytes, what the site holds untouched,
//! and why a site holds something else.  The encodings and classifications
//! are the `no_std` core's ([`crate::pcore::x86`], [`crate::pcore::arm64`],
//! host-tested); this file only reads the kernel's text for them.

use core::fmt;

use kernel::prelude::*;

use super::Show;
use crate::kapi;

/// The most bytes a site takes on any architecture built here.
#[cfg(CONFIG_X86_64)]
pub(super) const SITE_MAX: usize = crate::pcore::x86::PATCH_LEN;
#[cfg(CONFIG_ARM64)]
pub(super) const SITE_MAX: usize = crate::pcore::arm64::PATCH_MAX;

/// The bytes of a patch site.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Bytes {
    len: usize,
    buf: [u8; SITE_MAX],
}

impl Bytes {
    /// `b`, which must fit ([`SITE_MAX`]).
    pub(super) fn new(b: &[u8]) -> Result<Self> {
        let mut buf = [0u8; SITE_MAX];
        buf.get_mut(..b.len()).ok_or(EINVAL)?.copy_from_slice(b);
        Ok(Bytes { len: b.len(), buf })
    }

    /// What the kernel holds at `addr` now, `len` bytes.
    pub(super) fn read(addr: u64, len: usize) -> Result<Self> {
        let mut buf = [0u8; SITE_MAX];
        kapi::read_kernel(addr, buf.get_mut(..len).ok_or(EINVAL)?)?;
        Ok(Bytes { len, buf })
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Copy the bytes to the start of `dst` (a C structure's byte array of
    /// a site write); how many were copied.
    pub(super) fn copy_to(&self, dst: &mut [u8]) -> u32 {
        let mut n = 0;
        for (d, s) in dst.iter_mut().zip(self.as_slice()) {
            *d = *s;
            n += 1;
        }
        n
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x?}", self.as_slice())
    }
}

/// Where and how a function is redirected.
pub(super) struct Planned {
    /// The patch site.
    pub(super) at: u64,
    /// What ftrace calls the function's record (its `rec->ip`), for a
    /// traceable function: what ftrace is told to leave alone.
    pub(super) ftrace_ip: u64,
    /// The site's bytes as the function was built (ftrace's NOP(s) for a
    /// traceable one: a tracer's call is not frozen into the rollback).
    pub(super) orig: Bytes,
    /// The redirect to the new function.
    pub(super) redirect: Bytes,
}

#[cfg(CONFIG_X86_64)]
mod imp {
    use super::*;
    use crate::pcore::x86::{self, Entry, Expected, Site, NOP5, PATCH_LEN};

    /// The redirect of `name` at `func` (`size` bytes) to `to`.
    pub(in crate::engine) fn plan(name: &CStr, func: u64, _size: u64, to: u64) -> Result<Planned> {
        let mut head = [0u8; 4];
        kapi::read_kernel(func, &mut head)?;
        let at = func + Entry::of(&head).patch_offset();
        let orig = if kapi::is_ftrace_location(at) {
            NOP5
        } else {
            let mut body = [0u8; PATCH_LEN];
            kapi::read_kernel(at, &mut body)?;
            if !matches!(Site::of(at, &body), Site::Other(_)) {
                pr_err!(
                    "{:?}: notrace function patched at {:#x} ({:02x?}); remove the patcher first\n",
                    name,
                    at,
                    body
                );
                return Err(EBUSY);
            }
            body
        };
        let jmp = x86::encode_jmp(at, to).map_err(|e| {
            pr_err!("{:?}: {}\n", name, Show(e));
            ERANGE
        })?;
        Ok(Planned {
            at,
            ftrace_ip: at,
            orig: Bytes::new(&orig)?,
            redirect: Bytes::new(&jmp)?,
        })
    }

    fn code(b: &Bytes) -> [u8; PATCH_LEN] {
        let mut c = [0u8; PATCH_LEN];
        for (d, s) in c.iter_mut().zip(b.as_slice()) {
            *d = *s;
        }
        c
    }

    /// Why `now` at `at` is not `orig`: what another patcher left there.
    pub(in crate::engine) fn why_not(
        at: u64,
        now: &Bytes,
        orig: &Bytes,
    ) -> Result<(), impl fmt::Display> {
        x86::check_untouched(at, &code(now), Expected::Body(code(orig)))
    }

    /// Whether `now` at `at` is an untouched site (ftrace's NOP or a body).
    pub(in crate::engine) fn check_untouched(
        at: u64,
        now: &Bytes,
    ) -> Result<(), impl fmt::Display> {
        let now = code(now);
        let expect = match Site::of(at, &now) {
            Site::Other(body) => Expected::Body(body),
            _ => Expected::FtraceNop,
        };
        x86::check_untouched(at, &now, expect)
    }
}

#[cfg(CONFIG_ARM64)]
mod imp {
    use super::*;
    use crate::pcore::arm64::{self, Code, Entry, Expected, Layout, Site, Via, INSN_LEN};

    /// The redirect of `name` at `func` (`size` bytes) to `to`: a `B`, or a
    /// veneer where `to` is out of its reach, which must then land on a
    /// landing pad of `to`.
    pub(in crate::engine) fn plan(name: &CStr, func: u64, size: u64, to: u64) -> Result<Planned> {
        let mut head = [0u8; INSN_LEN];
        kapi::read_kernel(func, &mut head)?;
        let entry = Entry::of(&head);
        let ftrace_ip = entry.ftrace_ip(func);
        let layout = Layout {
            entry,
            traceable: kapi::is_ftrace_location(ftrace_ip),
        };
        let r = arm64::redirect(layout, func, size, to).map_err(|e| {
            pr_err!("{:?}: {}\n", name, Show(e));
            ERANGE
        })?;
        if r.via == Via::Veneer {
            let mut target = [0u8; INSN_LEN];
            kapi::read_kernel(to, &mut target)?;
            arm64::check_landing(r.via, &target).map_err(|e| {
                pr_err!("{:?}: {}\n", name, Show(e));
                EINVAL
            })?;
        }
        let now = Bytes::read(r.at, r.code.len())?;
        let orig = arm64::untouched(r.at, layout, &code(&now)?).map_err(|e| {
            pr_err!(
                "{:?}: patch site {:#x}: {}; remove the patcher first\n",
                name,
                r.at,
                Show(e)
            );
            EBUSY
        })?;
        Ok(Planned {
            at: r.at,
            ftrace_ip,
            orig: Bytes::new(orig.as_bytes())?,
            redirect: Bytes::new(r.code.as_bytes())?,
        })
    }

    fn code(b: &Bytes) -> Result<Code> {
        Code::from_bytes(b.as_slice()).ok_or(EINVAL)
    }

    /// Why `now` at `at` is not `orig`: what another patcher left there.
    pub(in crate::engine) fn why_not(
        at: u64,
        now: &Bytes,
        orig: &Bytes,
    ) -> Result<(), impl fmt::Display> {
        match (code(now), code(orig)) {
            (Ok(now), Ok(orig)) => arm64::check_untouched(at, &now, Expected::Body(orig)),
            _ => Ok(()),
        }
    }

    /// Whether `now` at `at` is an untouched site (ftrace's slots or a
    /// body).
    pub(in crate::engine) fn check_untouched(
        at: u64,
        now: &Bytes,
    ) -> Result<(), impl fmt::Display> {
        let Ok(now) = code(now) else {
            return Ok(());
        };
        let expect = match Site::of(at, &now) {
            Site::Other(body) => Expected::Body(body),
            _ => Expected::FtraceNop,
        };
        arm64::check_untouched(at, &now, expect)
    }
}

pub(super) use imp::{check_untouched, plan, why_not};
