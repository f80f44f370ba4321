// SPDX-License-Identifier: GPL-2.0

//! The module's live-update state, as shown in `/sys/kernel/plugsched/state`.

use kernel::prelude::*;

use kernel::sync::atomic::{
    Acquire,
    Atomic,
    Release, //
};

/// Which scheduler is live, from the module's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum State {
    /// The scheduler built into vmlinux is running.
    Off = 0,
    /// An upgrade to the module's scheduler is under way.
    Upgrading = 1,
    /// The module's scheduler is running.
    Live = 2,
    /// A rollback to the vmlinux scheduler is under way.
    RollingBack = 3,
}

impl State {
    /// The name shown to user space, one word.
    pub(crate) fn name(self) -> &'static CStr {
        match self {
            State::Off => c"off",
            State::Upgrading => c"upgrading",
            State::Live => c"live",
            State::RollingBack => c"rolling-back",
        }
    }

    fn from_i32(v: i32) -> Self {
        match v {
            1 => State::Upgrading,
            2 => State::Live,
            3 => State::RollingBack,
            _ => State::Off,
        }
    }
}

static STATE: Atomic<i32> = Atomic::new(State::Off as i32);

/// The current state.
pub(crate) fn current() -> State {
    State::from_i32(STATE.load(Acquire))
}

/// Enter state `s` (only the live-update controller, under its lock).
pub(crate) fn set(s: State) {
    STATE.store(s as i32, Release);
}
