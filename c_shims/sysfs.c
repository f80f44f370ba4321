// SPDX-License-Identifier: GPL-2.0
/*
 * sysfs interface of plugsched.ko: /sys/kernel/plugsched/
 *
 *   state   the module's live-update state
 *   built_for_release, running_release, built_for_build_id
 *           the kernel the module was built for, and the running one
 *   selftest  engine self-test: write "apply"/"revert" (rust/selftest.rs)
 *   switches, last_*  what the last switch measured (one value each)
 *
 * The values come from Rust (the plugsched_rs_* functions of shims.h); every
 * show() formats them here with sysfs_emit().  The kobject is created at
 * module init and removed at module exit, from Rust (rust/shim.rs, struct
 * Sysfs).
 */
#include <linux/err.h>
#include <linux/gfp.h>
#include <linux/kernfs.h>
#include <linux/kobject.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/utsname.h>
#include <generated/utsrelease.h>

#include "shims.h"

static struct kobject *plugsched_kobj;

static ssize_t state_show(struct kobject *kobj, struct kobj_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%s\n", plugsched_rs_state_name());
}

static ssize_t built_for_release_show(struct kobject *kobj,
				      struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", UTS_RELEASE);
}

static ssize_t running_release_show(struct kobject *kobj,
				    struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", init_utsname()->release);
}

static ssize_t built_for_build_id_show(struct kobject *kobj,
				       struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", plugsched_built_for_build_id());
}

static ssize_t selftest_show(struct kobject *kobj, struct kobj_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%s\n", plugsched_rs_selftest_active() ? "applied" : "idle");
}

static ssize_t selftest_store(struct kobject *kobj, struct kobj_attribute *attr,
			      const char *buf, size_t count)
{
	int ret = plugsched_rs_selftest_store(buf, count);

	return ret ? ret : count;
}

/* The value of the statistic @name, or -ENOENT if there is none. */
static ssize_t plugsched_stat_show(const char *name, char *buf)
{
	s64 v;
	int ret = plugsched_rs_stat(name, &v);

	return ret ? ret : sysfs_emit(buf, "%lld\n", v);
}

/* One-value statistics of the last switch and of the live update. */
#define PLUGSCHED_STAT(name)							\
static ssize_t name##_show(struct kobject *kobj, struct kobj_attribute *attr,	\
			   char *buf)						\
{										\
	return plugsched_stat_show(#name, buf);					\
}										\
static struct kobj_attribute name##_attr = __ATTR_RO(name)

PLUGSCHED_STAT(switches);
PLUGSCHED_STAT(last_result);
PLUGSCHED_STAT(last_stop_machine_ns);
PLUGSCHED_STAT(last_enter_ns);
PLUGSCHED_STAT(last_leave_ns);
PLUGSCHED_STAT(last_stack_check_ns);
PLUGSCHED_STAT(last_clear_ns);
PLUGSCHED_STAT(last_redirect_ns);
PLUGSCHED_STAT(last_rebuild_ns);
PLUGSCHED_STAT(last_tasks);
PLUGSCHED_STAT(last_unchanged_tasks);
PLUGSCHED_STAT(last_prescan_ns);
PLUGSCHED_STAT(last_link_ns);
PLUGSCHED_STAT(last_cpus);
PLUGSCHED_STAT(last_functions);
PLUGSCHED_STAT(last_rebuilt_tasks);
PLUGSCHED_STAT(generation);
PLUGSCHED_STAT(module_pointers);
PLUGSCHED_STAT(last_attempts);
PLUGSCHED_STAT(safe_points);
PLUGSCHED_STAT(module_safe_points);

/* Hash of the text at every patch site, "none" before the plan exists. */
static ssize_t text_hash_show(struct kobject *kobj, struct kobj_attribute *attr,
			      char *buf)
{
	u64 hash;

	if (!plugsched_rs_text_hash(&hash))
		return sysfs_emit(buf, "none\n");
	return sysfs_emit(buf, "%016llx\n", hash);
}

static struct kobj_attribute text_hash_attr = __ATTR_RO(text_hash);

/* "1": upgrade to the module's scheduler, "0": roll back. */
static ssize_t enable_show(struct kobject *kobj, struct kobj_attribute *attr,
			   char *buf)
{
	return plugsched_stat_show("enable", buf);
}

static ssize_t enable_store(struct kobject *kobj, struct kobj_attribute *attr,
			    const char *buf, size_t count)
{
	int ret = plugsched_rs_enable_store(buf, count);

	return ret ? ret : count;
}

static struct kobj_attribute enable_attr = __ATTR_RW_MODE(enable, 0600);

static struct kobj_attribute state_attr = __ATTR_RO(state);
static struct kobj_attribute selftest_attr = __ATTR_RW_MODE(selftest, 0600);
static struct kobj_attribute built_for_release_attr = __ATTR_RO(built_for_release);
static struct kobj_attribute running_release_attr = __ATTR_RO(running_release);
static struct kobj_attribute built_for_build_id_attr = __ATTR_RO(built_for_build_id);

static struct attribute *plugsched_attrs[] = {
	&state_attr.attr,
	&enable_attr.attr,
	&generation_attr.attr,
	&text_hash_attr.attr,
	&module_pointers_attr.attr,
	&last_attempts_attr.attr,
	&safe_points_attr.attr,
	&module_safe_points_attr.attr,
	&built_for_release_attr.attr,
	&running_release_attr.attr,
	&built_for_build_id_attr.attr,
	&selftest_attr.attr,
	&switches_attr.attr,
	&last_result_attr.attr,
	&last_stop_machine_ns_attr.attr,
	&last_enter_ns_attr.attr,
	&last_leave_ns_attr.attr,
	&last_stack_check_ns_attr.attr,
	&last_clear_ns_attr.attr,
	&last_redirect_ns_attr.attr,
	&last_rebuild_ns_attr.attr,
	&last_tasks_attr.attr,
	&last_unchanged_tasks_attr.attr,
	&last_prescan_ns_attr.attr,
	&last_link_ns_attr.attr,
	&last_cpus_attr.attr,
	&last_functions_attr.attr,
	&last_rebuilt_tasks_attr.attr,
	NULL,
};

static const struct attribute_group plugsched_group = {
	.attrs = plugsched_attrs,
};

int plugsched_sysfs_create(void)
{
	int ret;

	if (plugsched_kobj)
		return -EBUSY;
	plugsched_kobj = kobject_create_and_add("plugsched", kernel_kobj);
	if (!plugsched_kobj)
		return -ENOMEM;
	ret = sysfs_create_group(plugsched_kobj, &plugsched_group);
	if (ret) {
		kobject_put(plugsched_kobj);
		plugsched_kobj = NULL;
	}
	return ret;
}

void plugsched_sysfs_destroy(void)
{
	if (!plugsched_kobj)
		return;
	sysfs_remove_group(plugsched_kobj, &plugsched_group);
	kobject_put(plugsched_kobj);
	plugsched_kobj = NULL;
}

/*
 * Read attribute @name of /sys/kernel/plugsched the way sysfs does: find
 * its node in the sysfs (kernfs) tree, then call its show() with a zeroed
 * page.  Copies up to @len bytes to @buf and returns the length shown.
 * (Kernel threads such as KUnit's do not see user space's mounts, so the
 * KUnit suites cannot open the file by path; the scenarios do that.)
 */
ssize_t plugsched_sysfs_read(const char *name, char *buf, size_t len)
{
	struct kernfs_node *kn;
	struct attribute **a;
	char *page;
	ssize_t ret = -ENOENT;

	if (!plugsched_kobj)
		return -ENODEV;
	kn = kernfs_find_and_get(plugsched_kobj->sd, name);
	if (!kn)
		return -ENOENT;
	kernfs_put(kn);
	page = (char *)get_zeroed_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	for (a = plugsched_attrs; *a; a++) {
		struct kobj_attribute *ka = container_of(*a, struct kobj_attribute, attr);

		if (strcmp((*a)->name, name))
			continue;
		ret = ka->show(plugsched_kobj, ka, page);
		if (ret > 0)
			memcpy(buf, page, min_t(size_t, ret, len));
		break;
	}
	free_page((unsigned long)page);
	return ret;
}
