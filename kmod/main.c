// SPDX-License-Identifier: GPL-2.0
/*
 * ess.ko: the misc device /dev/ess.
 *
 * One open file is bound to at most one region (file->private_data, set
 * once under ess_table_lock by CREATE or ATTACH and never changed until
 * release).  This file holds the file operations and the ioctl dispatch:
 * every argument is copied in once, checked completely here (size, flags,
 * reserved fields, ranges), and only then handed to region.c or heat.c.
 * Argument errors are reported before -ENXIO (no region bound).
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nodemask.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "ess.h"

static bool ess_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

/* NUL-terminated, 1..ESS_NAME_MAX-1 printable ASCII characters, no '/'. */
static bool ess_name_valid(const char *name)
{
	size_t len = strnlen(name, ESS_NAME_MAX);
	size_t i;

	if (len == 0 || len == ESS_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = name[i];

		if (c < 0x20 || c > 0x7e || c == '/')
			return false;
	}
	return true;
}

static struct ess_region *ess_bound(struct file *file)
{
	/* Pairs with the release in ess_region_create()/attach(). */
	return smp_load_acquire(&file->private_data);
}

static bool ess_node_valid(s32 node)
{
	return node >= 0 && node < nr_node_ids && node_online(node) &&
	       node_state(node, N_MEMORY);
}

static int ess_check_create(const struct ess_create *a)
{
	if (a->size != sizeof(*a) || a->flags & ~ESS_CREATE_FLAGS)
		return -EINVAL;
	if (!a->bytes || a->bytes & (ESS_BLOCK_SIZE - 1) ||
	    a->bytes > ess_total_ram_bytes())
		return -EINVAL;
	if (a->flags & ESS_CREATE_NODE) {
		if (!ess_node_valid(a->node))
			return -EINVAL;
	} else if (a->node) {
		return -EINVAL;
	}
	if (a->heat_shift < ESS_HEAT_SHIFT_MIN ||
	    a->heat_shift > ESS_HEAT_SHIFT_MAX)
		return -EINVAL;
	if (a->flags & ESS_CREATE_NAMED) {
		if (!ess_name_valid(a->name))
			return -EINVAL;
	} else if (!ess_zero(a->name, sizeof(a->name))) {
		return -EINVAL;
	}
	if (a->reserved0 || !ess_zero(a->reserved, sizeof(a->reserved)))
		return -EINVAL;
	return 0;
}

static long ess_ioc_create(struct file *file, void __user *uarg)
{
	struct ess_create a;
	int ret;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	ret = ess_check_create(&a);
	if (ret)
		return ret;
	ret = ess_region_create(file, &a);
	if (ret)
		return ret;
	/* The file stays bound even if the result cannot be written. */
	if (copy_to_user(uarg, &a, sizeof(a)))
		return -EFAULT;
	return 0;
}

static long ess_ioc_attach(struct file *file, void __user *uarg)
{
	struct ess_attach a;
	int ret;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.size != sizeof(a) || a.flags || !ess_name_valid(a.name) ||
	    !ess_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	ret = ess_region_attach(file, &a);
	if (ret)
		return ret;
	if (copy_to_user(uarg, &a, sizeof(a)))
		return -EFAULT;
	return 0;
}

static long ess_ioc_destroy(void __user *uarg)
{
	struct ess_destroy a;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.size != sizeof(a) || a.flags || !ess_name_valid(a.name) ||
	    !ess_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	return ess_region_destroy(&a);
}

static long ess_ioc_info(struct file *file, void __user *uarg)
{
	struct ess_region *r;
	struct ess_info a;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.size != sizeof(a) || !ess_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	r = ess_bound(file);
	if (!r)
		return -ENXIO;
	ess_region_info(r, &a);
	if (copy_to_user(uarg, &a, sizeof(a)))
		return -EFAULT;
	return 0;
}

static long ess_ioc_heat_report(struct file *file, void __user *uarg)
{
	struct ess_heat_report a;
	struct ess_region *r;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.size != sizeof(a) || a.flags || !a.nr ||
	    a.nr > ESS_HEAT_BATCH_MAX || a.reserved0 ||
	    !ess_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	r = ess_bound(file);
	if (!r)
		return -ENXIO;
	return ess_heat_report(&r->heat, &a);
}

static long ess_ioc_heat_read(struct file *file, void __user *uarg)
{
	struct ess_heat_read a;
	struct ess_region *r;
	int ret;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.size != sizeof(a) ||
	    (a.flags != ESS_HEAT_HOTTEST && a.flags != ESS_HEAT_COLDEST) ||
	    !a.nr || a.nr > ESS_HEAT_BATCH_MAX || a.reserved0 ||
	    !ess_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	r = ess_bound(file);
	if (!r)
		return -ENXIO;
	ret = ess_heat_read(&r->heat, &a);
	if (ret)
		return ret;
	if (copy_to_user(uarg, &a, sizeof(a)))
		return -EFAULT;
	return 0;
}

static long ess_ioc_heat_hist(struct file *file, void __user *uarg)
{
	struct ess_heat_hist a;
	struct ess_region *r;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.size != sizeof(a) || a.flags ||
	    !ess_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	r = ess_bound(file);
	if (!r)
		return -ENXIO;
	ess_heat_hist(&r->heat, &a);
	if (copy_to_user(uarg, &a, sizeof(a)))
		return -EFAULT;
	return 0;
}

static long ess_ioc_heat_tick(struct file *file, void __user *uarg)
{
	struct ess_heat_tick a;
	struct ess_region *r;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.size != sizeof(a) || a.flags ||
	    !ess_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	r = ess_bound(file);
	if (!r)
		return -ENXIO;
	ess_heat_fold(&r->heat);
	return 0;
}

static long ess_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case ESS_IOC_CREATE:
		return ess_ioc_create(file, uarg);
	case ESS_IOC_ATTACH:
		return ess_ioc_attach(file, uarg);
	case ESS_IOC_DESTROY:
		return ess_ioc_destroy(uarg);
	case ESS_IOC_INFO:
		return ess_ioc_info(file, uarg);
	case ESS_IOC_HEAT_REPORT:
		return ess_ioc_heat_report(file, uarg);
	case ESS_IOC_HEAT_READ:
		return ess_ioc_heat_read(file, uarg);
	case ESS_IOC_HEAT_HIST:
		return ess_ioc_heat_hist(file, uarg);
	case ESS_IOC_HEAT_TICK:
		return ess_ioc_heat_tick(file, uarg);
	default:
		return -ENOTTY;
	}
}

static int ess_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct ess_region *r = ess_bound(file);

	if (!r)
		return -ENXIO;
	return ess_region_mmap(r, vma);
}

static int ess_open(struct inode *inode, struct file *file)
{
	/* misc_open() left the miscdevice here; unbound is NULL. */
	file->private_data = NULL;
	return 0;
}

static int ess_release(struct inode *inode, struct file *file)
{
	struct ess_region *r = file->private_data;

	if (r)
		ess_region_unbind(r);	/* a named region can be attached again */
	return 0;
}

static const struct file_operations ess_fops = {
	.owner = THIS_MODULE,
	.open = ess_open,
	.release = ess_release,
	.unlocked_ioctl = ess_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = ess_mmap,
	.llseek = noop_llseek,
};

/*
 * World read-write: every byte a user pins is charged to that user's
 * RLIMIT_MEMLOCK (and to the global cap), the way io_uring does.
 */
static struct miscdevice ess_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "ess",
	.fops = &ess_fops,
	.mode = 0666,
};

static int __init ess_init(void)
{
	int ret;

	ret = ess_params_apply();
	if (ret)
		return ret;
	ret = ess_sysfs_init();
	if (ret)
		return ret;
	ret = misc_register(&ess_misc);
	if (ret) {
		ess_sysfs_exit_knobs();
		ess_sysfs_exit();
		return ret;
	}
	ess_heat_worker_start();
	return 0;
}

/*
 * No file is open (each holds a module reference, and every mapping holds
 * its file), so the name table holds the only remaining regions.
 */
static void __exit ess_exit(void)
{
	misc_deregister(&ess_misc);
	ess_sysfs_exit_knobs();
	ess_heat_worker_stop();
	ess_region_drop_names();
	ess_sysfs_exit();
}

module_init(ess_init);
module_exit(ess_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ESS pinned, NUMA-placed host regions with heat tracking");
MODULE_AUTHOR("ESS developers");
