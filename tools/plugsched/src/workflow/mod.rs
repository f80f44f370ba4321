// SPDX-License-Identifier: GPL-2.0

//! The scheduler developer's workflow: a development tree of the extracted
//! scheduler (`dev`), its edits checked and built into a module (`build`),
//! exported as the project's patches (`export`), tried in QEMU (`try`),
//! and loaded, inspected and unloaded on a machine (`load`, `status`,
//! `unload`).  Documentation/workflow.rst.

pub mod build;
pub mod dev;
pub mod edits;
pub mod export;
pub mod guest;
pub mod items;
pub mod kernel_args;
pub mod machine;
pub mod project;
pub mod tree;
