// SPDX-License-Identifier: GPL-2.0
/*
 * plugsched_sched.ko: the scheduler extracted from the target kernel by
 * `plugsched init` (build/sched-src/<target>/), compiled as a module on its
 * own.  Nothing in it runs: loading it proves that the extracted scheduler
 * builds against the target tree and that every kernel symbol it uses is
 * bound by the module loader (klp relocations).  The live update that
 * switches to this code is the next step of the project.
 */
#include <linux/module.h>

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("plugsched-rs: the extracted Linux scheduler (not yet switched to)");
