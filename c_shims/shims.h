/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interface between the Rust crate and the C shims of plugsched.ko.
 *
 * Every function declared here is either defined in c_shims/ and called
 * from rust/kapi.rs or rust/shim.rs, or defined in Rust (#[no_mangle]
 * extern "C", in rust/shim.rs) and called from C.  The Rust declarations
 * are generated from this header by bindgen at build time (Kbuild,
 * rust/bindings.rs); rust/shim.rs checks its definitions against them.
 */
#ifndef _PLUGSCHED_SHIMS_H
#define _PLUGSCHED_SHIMS_H

#include <linux/types.h>

/* C, called from Rust. */
int plugsched_sysfs_create(void);
void plugsched_sysfs_destroy(void);
ssize_t plugsched_sysfs_read(const char *name, char *buf, size_t len);
unsigned long plugsched_ksym_lookup(const char *name);
unsigned long plugsched_ksym_at(const char *name, unsigned long link_addr);
unsigned long plugsched_ksym_text_mutex(void);
int plugsched_check_build_id(const char *expected, const u8 *id, char *hex);
const char *plugsched_built_for_build_id(void);

/* c_shims/engine.c */
struct task_struct;
void plugsched_cpus_read_lock(void);
void plugsched_cpus_read_unlock(void);
void plugsched_text_mutex_lock(void);
void plugsched_text_mutex_unlock(void);
int plugsched_stop_machine_cpuslocked(int (*fn)(void *), void *data);
unsigned int plugsched_next_online_cpu(int cpu);
u64 plugsched_local_clock(void);
void plugsched_touch_nmi_watchdog(void);
void plugsched_sync_core(void);
void plugsched_for_each_task(void (*fn)(void *, struct task_struct *, unsigned long),
			     void *data);
struct task_struct *plugsched_idle_task(unsigned int cpu);
bool plugsched_task_on_cpu(struct task_struct *t);
bool plugsched_task_is_idle(struct task_struct *t);
unsigned int plugsched_stack_trace(struct task_struct *t, unsigned long *entries,
				   unsigned int n);
void plugsched_log_trace(const unsigned long *entries, unsigned int n);
void plugsched_task_info(struct task_struct *t, int *pid, char *comm, size_t len);
int plugsched_walk_stack(struct task_struct *t,
			 bool (*consume)(void *, unsigned long), void *cookie);

/* What identifies the state of a task's stack between two looks at it. */
struct plugsched_task_mark {
	u64 switches;	/* nvcsw + nivcsw */
	u64 start;	/* start_time */
};
void plugsched_task_mark(struct task_struct *t, struct plugsched_task_mark *mark);
int plugsched_walk_stack_held(struct task_struct *t,
			      bool (*consume)(void *, unsigned long), void *cookie,
			      struct plugsched_task_mark *mark);
bool plugsched_ksym_size_offset(unsigned long addr, unsigned long *size,
				unsigned long *offset);
int plugsched_for_each_ksym(int (*fn)(void *, const char *, unsigned long), void *data);
void plugsched_for_each_module_symbol(void (*fn)(void *, unsigned long), void *data);
bool plugsched_core_kernel_text(unsigned long addr);
const char *plugsched_text_reserved(unsigned long addr, size_t len);
/*
 * The most bytes written at a patch site: x86_64's jmp rel32; on arm64 a
 * BTI C in place of a leading PACIASP and a veneer (LDR X16, BR X16, the
 * 64-bit target) where a B cannot reach (pcore::arm64::PATCH_MAX).
 */
#ifdef CONFIG_ARM64
#define PLUGSCHED_SITE_MAX 20
#else
#define PLUGSCHED_SITE_MAX 5
#endif

/*
 * One patch site of a poke window: its offset from the window's start and
 * the @len bytes it gets.
 */
struct plugsched_poke_site {
	unsigned int offset;
	unsigned int len;
	unsigned char bytes[PLUGSCHED_SITE_MAX];
};

/* Patch sites within two pages, written with one mapping of them. */
struct plugsched_poke_window {
	unsigned long start;	/* address of the first site */
	size_t len;		/* from the first site's start to the last's end */
	unsigned int nr_sites;
	const struct plugsched_poke_site *sites;
};

void plugsched_text_poke_window(const struct plugsched_poke_window *w);

/*
 * A patch site written on the running kernel (before and after a switch's
 * rendezvous; x86_64): its address and the @len bytes of the one
 * instruction it gets.
 */
struct plugsched_live_poke {
	unsigned long addr;
	unsigned int len;
	unsigned char bytes[PLUGSCHED_SITE_MAX];
};

/* Three-way comparison of two unsigned longs, for bsearch() and sort(). */
static inline int plugsched_cmp_ulong(const void *key, const void *elt)
{
	unsigned long a = *(const unsigned long *)key, b = *(const unsigned long *)elt;

	return a < b ? -1 : a > b;
}

/* c_shims/text_x86.c: the hops of rust/engine/hops.rs */
struct plugsched_hop_guard;
struct plugsched_hop_guard *plugsched_hop_guard_alloc(const unsigned long *sites, size_t n);
void plugsched_hop_guard_free(struct plugsched_hop_guard *g);
void *plugsched_hops_alloc(size_t size);
bool plugsched_hops_write(void *text, const void *code, size_t len);
void *plugsched_hop_flag_alloc(void);
void plugsched_hops_free(void *text, void *flag);
void plugsched_text_poke_live(const struct plugsched_live_poke *p, size_t n);
unsigned long plugsched_ksym_lookup_pos(const char *name, unsigned long pos);
void plugsched_patchers_lock(void);
void plugsched_patchers_unlock(void);
bool plugsched_ftrace_location(unsigned long ip);
unsigned long plugsched_probed_in(bool (*covered)(void *, unsigned long), void *cookie,
				  const char **what);
long plugsched_ftrace_mark(const unsigned long *ips, size_t n, bool disable);
unsigned long plugsched_ftrace_user(const unsigned long *ips, size_t n);

/* c_shims/switchlog.c */
int plugsched_switch_log_start(unsigned int cap);
void plugsched_switch_log_stop(void);
struct task_struct *const *plugsched_switch_log_get(unsigned int cpu, unsigned int *n,
						    bool *overflow);

/* c_shims/rq.c */
struct plugsched_rq_stats {
	unsigned long nr_running_before;	/* before the clear */
	unsigned long nr_running_after;		/* after the rebuild */
	unsigned long dequeued;			/* by the clear, to be rebuilt */
	unsigned long finished_delayed;		/* delayed dequeues finished */
	unsigned long enqueued;			/* by the rebuild */
	unsigned long fair;			/* fair tasks rebuilt */
	unsigned long grouped;			/* of them, in task groups */
	unsigned long replaced;			/* placed again (new weight) */
	u64 lag_drift_max, lag_drift_sum;	/* |lag after - before|, ns */
	u64 util_drift_max, load_drift_max;	/* |PELT after - before| */
	u64 lag_clamp_max;			/* lag the dequeues clamped */
};
bool plugsched_scx_enabled(void);
int plugsched_rq_check(void);
int plugsched_rq_bufs_alloc(void);
void plugsched_rq_bufs_free(void);
int plugsched_rq_clear(struct plugsched_rq_stats *st);
void plugsched_rq_rebuild(struct plugsched_rq_stats *st);
void plugsched_module_text(unsigned long *base, unsigned long *size);
void plugsched_pin_module(void);

/* c_shims/escape.c */
unsigned long plugsched_module_pointers(void);
void plugsched_rcu_barrier(void);

/* tests-kunit/support.c (KUnit builds only) */
struct kunit;
int plugsched_test_defer(struct kunit **test, void (*action)(void *), void *ctx);
void plugsched_test_release(struct kunit *test, void (*action)(void *), void *ctx);
int plugsched_test_run_nested(void (*fn)(void *), void *ctx);
void plugsched_test_skip(const char *reason);
void plugsched_test_park(void);
void plugsched_test_wait(void);
int plugsched_test_threads_start(unsigned int n, unsigned int in_target);
void plugsched_test_threads_stop(void);
long plugsched_test_call_syscall(unsigned long fn, unsigned long arg);
unsigned long plugsched_test_int3_at(unsigned long addr);
int plugsched_test_kprobe_arm(unsigned long addr);
void plugsched_test_kprobe_disarm(void);
unsigned long plugsched_test_sleeper_stacks(unsigned long *hits, unsigned long *unreliable);
int plugsched_test_ftrace_arm(unsigned long addr);
void plugsched_test_ftrace_disarm(void);

/* Rust, called from C (c_shims/sysfs.c formats the values). */
const char *plugsched_rs_state_name(void);
bool plugsched_rs_selftest_active(void);
int plugsched_rs_selftest_store(const char *buf, size_t len);
int plugsched_rs_stat(const char *name, s64 *value);
bool plugsched_rs_text_hash(u64 *hash);
int plugsched_rs_enable_store(const char *buf, size_t len);

#endif /* _PLUGSCHED_SHIMS_H */
