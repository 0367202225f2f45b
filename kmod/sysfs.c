// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/ess/: global knobs and state, and one read-only directory
 * per live region under regions/<id>/.  Documentation/ABI/testing/
 * sysfs-kernel-ess describes every file.  A rejected write returns -EINVAL
 * and leaves the old value.
 */
#include <linux/kernel.h>
#include <linux/kobject.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/uidgid.h>

#include "ess.h"

/* Serialises hot_threshold/cold_threshold updates (checked as a pair). */
DEFINE_MUTEX(ess_knob_lock);
static struct kobject *ess_kobj;
static struct kobject *ess_regions_kobj;

static ssize_t abi_version_show(struct kobject *kobj,
				struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", ESS_ABI_VERSION);
}

static ssize_t pinned_cap_bytes_show(struct kobject *kobj,
				     struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", READ_ONCE(ess_pinned_cap));
}

static ssize_t pinned_cap_bytes_store(struct kobject *kobj,
				      struct kobj_attribute *attr,
				      const char *buf, size_t count)
{
	u64 v;

	if (kstrtou64(buf, 10, &v) || v > ess_total_ram_bytes())
		return -EINVAL;
	WRITE_ONCE(ess_pinned_cap, v);
	return count;
}

static ssize_t pinned_bytes_show(struct kobject *kobj,
				 struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&ess_pinned_bytes));
}

static ssize_t nr_regions_show(struct kobject *kobj,
			       struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&ess_nr_regions));
}

static ssize_t aggregation_interval_ms_show(struct kobject *kobj,
					    struct kobj_attribute *attr,
					    char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(ess_interval_ms));
}

static ssize_t aggregation_interval_ms_store(struct kobject *kobj,
					     struct kobj_attribute *attr,
					     const char *buf, size_t count)
{
	unsigned int v;

	if (kstrtouint(buf, 10, &v) || v < ESS_INTERVAL_MIN_MS ||
	    v > ESS_INTERVAL_MAX_MS)
		return -EINVAL;
	WRITE_ONCE(ess_interval_ms, v);
	ess_heat_worker_kick();
	return count;
}

static ssize_t heat_decay_pct_show(struct kobject *kobj,
				   struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(ess_decay_pct));
}

static ssize_t heat_decay_pct_store(struct kobject *kobj,
				    struct kobj_attribute *attr,
				    const char *buf, size_t count)
{
	unsigned int v;

	if (kstrtouint(buf, 10, &v) || v > 100)
		return -EINVAL;
	WRITE_ONCE(ess_decay_pct, v);
	return count;
}

static ssize_t hot_threshold_show(struct kobject *kobj,
				  struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(ess_hot_threshold));
}

static ssize_t hot_threshold_store(struct kobject *kobj,
				   struct kobj_attribute *attr,
				   const char *buf, size_t count)
{
	ssize_t ret = count;
	u32 v;

	if (kstrtou32(buf, 10, &v))
		return -EINVAL;
	mutex_lock(&ess_knob_lock);
	if (v > ess_cold_threshold)
		WRITE_ONCE(ess_hot_threshold, v);
	else
		ret = -EINVAL;
	mutex_unlock(&ess_knob_lock);
	return ret;
}

static ssize_t cold_threshold_show(struct kobject *kobj,
				   struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(ess_cold_threshold));
}

static ssize_t cold_threshold_store(struct kobject *kobj,
				    struct kobj_attribute *attr,
				    const char *buf, size_t count)
{
	ssize_t ret = count;
	u32 v;

	if (kstrtou32(buf, 10, &v))
		return -EINVAL;
	mutex_lock(&ess_knob_lock);
	if (v < ess_hot_threshold)
		WRITE_ONCE(ess_cold_threshold, v);
	else
		ret = -EINVAL;
	mutex_unlock(&ess_knob_lock);
	return ret;
}

static struct kobj_attribute ess_attr_abi_version = __ATTR_RO(abi_version);
static struct kobj_attribute ess_attr_pinned_cap_bytes =
	__ATTR_RW(pinned_cap_bytes);
static struct kobj_attribute ess_attr_pinned_bytes = __ATTR_RO(pinned_bytes);
static struct kobj_attribute ess_attr_nr_regions = __ATTR_RO(nr_regions);
static struct kobj_attribute ess_attr_aggregation_interval_ms =
	__ATTR_RW(aggregation_interval_ms);
static struct kobj_attribute ess_attr_heat_decay_pct =
	__ATTR_RW(heat_decay_pct);
static struct kobj_attribute ess_attr_hot_threshold = __ATTR_RW(hot_threshold);
static struct kobj_attribute ess_attr_cold_threshold =
	__ATTR_RW(cold_threshold);

static struct attribute *ess_knob_attrs[] = {
	&ess_attr_abi_version.attr,
	&ess_attr_pinned_cap_bytes.attr,
	&ess_attr_pinned_bytes.attr,
	&ess_attr_nr_regions.attr,
	&ess_attr_aggregation_interval_ms.attr,
	&ess_attr_heat_decay_pct.attr,
	&ess_attr_hot_threshold.attr,
	&ess_attr_cold_threshold.attr,
	NULL,
};

static const struct attribute_group ess_knob_group = {
	.attrs = ess_knob_attrs,
};

/* Per region directory: regions/<id>/ */

static struct ess_region *to_region(struct kobject *kobj)
{
	return container_of(kobj, struct ess_region, kobj);
}

static ssize_t bytes_show(struct kobject *kobj, struct kobj_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%llu\n", to_region(kobj)->bytes);
}

static ssize_t region_pinned_bytes_show(struct kobject *kobj,
					struct kobj_attribute *attr, char *buf)
{
	struct ess_region *r = to_region(kobj);

	return sysfs_emit(buf, "%llu\n", r->pinned ? r->bytes : 0);
}

static ssize_t node_show(struct kobject *kobj, struct kobj_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%d\n", to_region(kobj)->node);
}

static ssize_t name_show(struct kobject *kobj, struct kobj_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%s\n", to_region(kobj)->name);
}

static ssize_t owner_show(struct kobject *kobj, struct kobj_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%u\n",
			  from_kuid_munged(&init_user_ns,
					   to_region(kobj)->owner));
}

static ssize_t users_show(struct kobject *kobj, struct kobj_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&to_region(kobj)->users));
}

static ssize_t mappings_show(struct kobject *kobj,
			     struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n",
			  atomic_read(&to_region(kobj)->mappings));
}

static ssize_t heat_block_size_show(struct kobject *kobj,
				    struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", 1ULL << to_region(kobj)->heat.shift);
}

static ssize_t heat_histogram_show(struct kobject *kobj,
				   struct kobj_attribute *attr, char *buf)
{
	struct ess_heat_hist *hist;
	ssize_t len = 0;
	int i;

	hist = kzalloc(sizeof(*hist), GFP_KERNEL);
	if (!hist)
		return -ENOMEM;
	ess_heat_hist(&to_region(kobj)->heat, hist);
	for (i = 0; i < ESS_HEAT_BUCKETS; i++)
		len += sysfs_emit_at(buf, len, "%u%c", hist->buckets[i],
				     i == ESS_HEAT_BUCKETS - 1 ? '\n' : ' ');
	kfree(hist);
	return len;
}

static struct kobj_attribute ess_region_attr_bytes = __ATTR_RO(bytes);
static struct kobj_attribute ess_region_attr_pinned_bytes =
	__ATTR(pinned_bytes, 0444, region_pinned_bytes_show, NULL);
static struct kobj_attribute ess_region_attr_node = __ATTR_RO(node);
static struct kobj_attribute ess_region_attr_name = __ATTR_RO(name);
static struct kobj_attribute ess_region_attr_owner = __ATTR_RO(owner);
static struct kobj_attribute ess_region_attr_users = __ATTR_RO(users);
static struct kobj_attribute ess_region_attr_mappings = __ATTR_RO(mappings);
static struct kobj_attribute ess_region_attr_heat_block_size =
	__ATTR_RO(heat_block_size);
static struct kobj_attribute ess_region_attr_heat_histogram =
	__ATTR_RO(heat_histogram);

static struct attribute *ess_region_attrs[] = {
	&ess_region_attr_bytes.attr,
	&ess_region_attr_pinned_bytes.attr,
	&ess_region_attr_node.attr,
	&ess_region_attr_name.attr,
	&ess_region_attr_owner.attr,
	&ess_region_attr_users.attr,
	&ess_region_attr_mappings.attr,
	&ess_region_attr_heat_block_size.attr,
	&ess_region_attr_heat_histogram.attr,
	NULL,
};
ATTRIBUTE_GROUPS(ess_region);

/* The region's memory lives as long as its kobject. */
static void ess_region_kobj_release(struct kobject *kobj)
{
	kfree(to_region(kobj));
}

static const struct kobj_type ess_region_ktype = {
	.release = ess_region_kobj_release,
	.sysfs_ops = &kobj_sysfs_ops,
	.default_groups = ess_region_groups,
};

void ess_region_kobj_init(struct ess_region *r)
{
	kobject_init(&r->kobj, &ess_region_ktype);
}

int ess_sysfs_region_add(struct ess_region *r)
{
	int ret = kobject_add(&r->kobj, ess_regions_kobj, "%llu", r->id);

	if (!ret)
		r->kobj_added = true;
	return ret;
}

/* Removes the directory; returns once no reader is inside a show(). */
void ess_sysfs_region_del(struct ess_region *r)
{
	if (r->kobj_added)
		kobject_del(&r->kobj);
	r->kobj_added = false;
}

int ess_sysfs_init(void)
{
	int ret;

	ess_kobj = kobject_create_and_add("ess", kernel_kobj);
	if (!ess_kobj)
		return -ENOMEM;
	ess_regions_kobj = kobject_create_and_add("regions", ess_kobj);
	if (!ess_regions_kobj) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = sysfs_create_group(ess_kobj, &ess_knob_group);
	if (ret)
		goto fail;
	return 0;
fail:
	kobject_put(ess_regions_kobj);
	kobject_put(ess_kobj);
	return ret;
}

/* First step of unloading: no knob write can run (or kick the worker). */
void ess_sysfs_exit_knobs(void)
{
	sysfs_remove_group(ess_kobj, &ess_knob_group);
}

void ess_sysfs_exit(void)
{
	kobject_put(ess_regions_kobj);
	kobject_put(ess_kobj);
}
