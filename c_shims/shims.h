/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interface between the Rust crate and the C shims of plugsched.ko.
 *
 * Every function declared here is either defined in c_shims/ and called
 * from rust/shim.rs, or defined in Rust (#[no_mangle] extern "C") and
 * called from C.  The Rust declarations in rust/shim.rs must match.
 */
#ifndef _PLUGSCHED_SHIMS_H
#define _PLUGSCHED_SHIMS_H

#include <linux/types.h>

/* C, called from Rust. */
int plugsched_sysfs_create(void);
void plugsched_sysfs_destroy(void);
ssize_t plugsched_sysfs_read(const char *name, char *buf, size_t len);
unsigned long plugsched_ksym_lookup(const char *name);
unsigned long plugsched_ksym_text_mutex(void);

/* Rust, called from C. */
ssize_t plugsched_rs_state_show(char *buf, size_t len);

#endif /* _PLUGSCHED_SHIMS_H */
