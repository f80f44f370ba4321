/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What bindgen reads to generate the Rust declarations of the module's C
 * interface (Kbuild: $(obj)/rust/shims_generated.rs, included by
 * rust/bindings.rs), as rust/bindings/bindings_helper.h is for the kernel's
 * own bindings.  Only plugsched_* functions and types and PLUGSCHED_*
 * constants are generated (c_shims/bindgen_parameters).
 */
#include "manifest.h"
#include "shims.h"
