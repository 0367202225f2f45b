// SPDX-License-Identifier: GPL-2.0
/*
 * Regions: physically contiguous, zeroed 2 MiB blocks on one NUMA node,
 * mapped into processes as normal refcounted pages.
 *
 * Each block is one order-9 allocation split into 512 order-0 pages, so
 * every 4 KiB page has its own refcount.  vm_insert_pages() maps them as
 * ordinary pages (not VM_PFNMAP), which is what lets get_user_pages() and
 * pin_user_pages() (O_DIRECT, io_uring, cudaHostRegister) pin them.  The
 * pages are not on any LRU and have no mapping, so they are never swapped,
 * reclaimed or migrated.  At free time a block nobody else holds goes back
 * whole; one with a page somebody still pins goes page by page, each page
 * when its pin is dropped (ess_block_free()).
 */
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/nodemask.h>
#include <linux/page_ref.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/topology.h>
#include <linux/uidgid.h>

#include "ess.h"

/* Guards ess_regions, names, destroyed flags and file binding. */
DEFINE_MUTEX(ess_table_lock);
LIST_HEAD(ess_regions);
atomic_t ess_nr_regions = ATOMIC_INIT(0);
static atomic64_t ess_next_id = ATOMIC64_INIT(0);

/* Under ess_table_lock: the live, not destroyed region called @name. */
static struct ess_region *ess_find_name(const char *name)
{
	struct ess_region *r;

	lockdep_assert_held(&ess_table_lock);
	list_for_each_entry(r, &ess_regions, list) {
		if (r->named && !r->destroyed && !strcmp(r->name, name))
			return r;
	}
	return NULL;
}

/* Under ess_table_lock: any named region not destroyed yet. */
static struct ess_region *ess_find_name_any(void)
{
	struct ess_region *r;

	lockdep_assert_held(&ess_table_lock);
	list_for_each_entry(r, &ess_regions, list) {
		if (r->named && !r->destroyed)
			return r;
	}
	return NULL;
}

static bool ess_may_manage(struct ess_region *r)
{
	return uid_eq(r->owner, current_euid()) || capable(CAP_SYS_ADMIN);
}

/*
 * Give a block back to the allocator whole when nothing else holds any of
 * its pages.  Freeing it as 512 order-0 pages would put them on per-cpu
 * lists, where small unmovable allocations take a few before the buddies
 * can merge again; after some create/destroy cycles the node would have
 * no free 2 MiB block left.  Freezing every refcount (1 -> 0) makes sure
 * no pin or speculative reference exists; a page still pinned (O_DIRECT in
 * flight, a device that registered the memory) makes the block go page by
 * page instead, each page when its last holder drops it.
 */
static void ess_block_free(struct page *head)
{
	u32 i, frozen;

	for (frozen = 0; frozen < ESS_PAGES_PER_BLOCK; frozen++) {
		if (!page_ref_freeze(nth_page(head, frozen), 1))
			break;
	}
	if (frozen == ESS_PAGES_PER_BLOCK) {
		page_ref_unfreeze(head, 1);
		__free_pages(head, ESS_BLOCK_ORDER);
		return;
	}
	for (i = 0; i < frozen; i++)
		page_ref_unfreeze(nth_page(head, i), 1);
	for (i = 0; i < ESS_PAGES_PER_BLOCK; i++)
		put_page(nth_page(head, i));
}

static void ess_blocks_free(struct ess_region *r)
{
	u32 b;

	if (!r->blocks)
		return;
	for (b = 0; b < r->nr_blocks && r->blocks[b]; b++) {
		ess_block_free(r->blocks[b]);
		cond_resched();
	}
	kvfree(r->blocks);
	r->blocks = NULL;
}

/* Allocate every block; a partial result is undone by ess_blocks_free(). */
static int ess_blocks_alloc(struct ess_region *r)
{
	const gfp_t gfp = GFP_KERNEL | __GFP_THISNODE | __GFP_ZERO |
			  __GFP_NOWARN | __GFP_RETRY_MAYFAIL;
	struct page *page;
	u32 b;

	r->blocks = kvcalloc(r->nr_blocks, sizeof(*r->blocks), GFP_KERNEL);
	if (!r->blocks)
		return -ENOMEM;
	for (b = 0; b < r->nr_blocks; b++) {
		if (fatal_signal_pending(current))
			return -EINTR;
		page = alloc_pages_node(r->node, gfp, ESS_BLOCK_ORDER);
		if (!page)
			return -ENOMEM;
		split_page(page, ESS_BLOCK_ORDER);
		r->blocks[b] = page;
		cond_resched();
	}
	return 0;
}

static struct ess_region *ess_region_alloc(void)
{
	struct ess_region *r = kzalloc(sizeof(*r), GFP_KERNEL);

	if (!r)
		return NULL;
	kref_init(&r->ref);
	INIT_LIST_HEAD(&r->list);
	mutex_init(&r->heat.lock);
	mutex_init(&r->heat.pass_lock);
	ess_region_kobj_init(r);
	return r;
}

/*
 * Last user gone (or a create that failed): unpublish, free everything,
 * drop the charge.  The kobject's release frees the struct.
 */
static void ess_region_release(struct kref *ref)
{
	struct ess_region *r = container_of(ref, struct ess_region, ref);
	bool published;

	mutex_lock(&ess_table_lock);
	published = !list_empty(&r->list);
	list_del_init(&r->list);
	mutex_unlock(&ess_table_lock);

	/* Waits for sysfs readers of this region to finish. */
	ess_sysfs_region_del(r);
	ess_heat_free(&r->heat);
	ess_blocks_free(r);
	if (r->pinned)
		ess_uncharge(r->bytes, r->charged_user);
	if (published)
		atomic_dec(&ess_nr_regions);
	kobject_put(&r->kobj);
}

void ess_region_put(struct ess_region *r)
{
	kref_put(&r->ref, ess_region_release);
}

/* @arg has passed ess_ioc_create()'s checks. */
int ess_region_create(struct file *file, struct ess_create *arg)
{
	bool named = arg->flags & ESS_CREATE_NAMED;
	struct ess_region *r;
	int ret;

	/* Fast path; rechecked under ess_table_lock before binding. */
	if (smp_load_acquire(&file->private_data))
		return -EBUSY;
	if (named) {
		/* Early check, so a taken name costs no allocation. */
		mutex_lock(&ess_table_lock);
		ret = ess_find_name(arg->name) ? -EEXIST : 0;
		mutex_unlock(&ess_table_lock);
		if (ret)
			return ret;
	}

	r = ess_region_alloc();
	if (!r)
		return -ENOMEM;
	r->bytes = arg->bytes;
	r->nr_blocks = arg->bytes >> ESS_BLOCK_SHIFT;
	r->node = (arg->flags & ESS_CREATE_NODE) ? arg->node : numa_mem_id();
	r->named = named;
	r->manual_heat = arg->flags & ESS_CREATE_HEAT_MANUAL;
	if (named)
		strscpy(r->name, arg->name, sizeof(r->name));
	r->owner = current_euid();

	ret = ess_charge(r->bytes, &r->charged_user);
	if (ret)
		goto fail;
	r->pinned = true;
	ret = ess_heat_init(&r->heat, r->bytes, arg->heat_shift);
	if (ret)
		goto fail;
	ret = ess_blocks_alloc(r);
	if (ret)
		goto fail;
	r->id = atomic64_inc_return(&ess_next_id);
	ret = ess_sysfs_region_add(r);
	if (ret)
		goto fail;

	mutex_lock(&ess_table_lock);
	if (file->private_data)
		ret = -EBUSY;
	else if (named && ess_find_name(r->name))
		ret = -EEXIST;
	if (ret) {
		mutex_unlock(&ess_table_lock);
		goto fail;
	}
	list_add_tail(&r->list, &ess_regions);
	atomic_inc(&ess_nr_regions);
	if (named)
		kref_get(&r->ref);	/* the name table's reference */
	atomic_set(&r->users, 1);
	/* Publish a fully set up region to lockless ess_bound() readers. */
	smp_store_release(&file->private_data, r);
	mutex_unlock(&ess_table_lock);

	arg->id = r->id;
	arg->node_out = r->node;
	return 0;

fail:
	ess_region_put(r);
	return ret;
}

/*
 * Attach is exclusive: a named region is bound to at most one open file at
 * a time, because two holders would each take its rows for their own and
 * overwrite each other.  The holder is the file (shared by dup(), fork()
 * and SCM_RIGHTS, as any open file is), and it stays the holder until the
 * file is released: after the last close() and the last munmap() of its
 * mappings (a mapping holds the file), or when its process dies.  Another
 * user's region is -EPERM before it is -EBUSY, so a caller who may not
 * attach learns nothing about who holds it.
 */
int ess_region_attach(struct file *file, struct ess_attach *arg)
{
	struct ess_region *r;
	int ret = 0;

	mutex_lock(&ess_table_lock);
	r = ess_find_name(arg->name);
	if (file->private_data)
		ret = -EBUSY;
	else if (!r)
		ret = -ENOENT;
	else if (!ess_may_manage(r))
		ret = -EPERM;
	else if (atomic_read(&r->users))
		ret = -EBUSY;	/* held through another open file */
	if (!ret) {
		kref_get(&r->ref);
		atomic_inc(&r->users);
		/* Pairs with the acquire in ess_bound(). */
		smp_store_release(&file->private_data, r);
		arg->id = r->id;
		arg->bytes = r->bytes;
	}
	mutex_unlock(&ess_table_lock);
	return ret;
}

/*
 * The file bound to @r is being released (ess_release(): no descriptor and
 * no mapping holds it any more).  Under ess_table_lock so that an ATTACH
 * racing with it sees the region either held or free, never in between.
 */
void ess_region_unbind(struct ess_region *r)
{
	mutex_lock(&ess_table_lock);
	atomic_dec(&r->users);
	mutex_unlock(&ess_table_lock);
	ess_region_put(r);
}

int ess_region_destroy(struct ess_destroy *arg)
{
	struct ess_region *r;
	int ret = 0;

	mutex_lock(&ess_table_lock);
	r = ess_find_name(arg->name);
	if (!r)
		ret = -ENOENT;
	else if (!ess_may_manage(r))
		ret = -EPERM;
	else
		r->destroyed = true;
	mutex_unlock(&ess_table_lock);
	if (!ret)
		ess_region_put(r);	/* the name table's reference */
	return ret;
}

void ess_region_info(struct ess_region *r, struct ess_info *arg)
{
	arg->flags = r->named ? ESS_INFO_NAMED : 0;
	mutex_lock(&ess_table_lock);
	if (r->destroyed)
		arg->flags |= ESS_INFO_DESTROYED;
	mutex_unlock(&ess_table_lock);
	arg->id = r->id;
	arg->bytes = r->bytes;
	arg->node = r->node;
	arg->nr_blocks = r->nr_blocks;
	arg->heat_shift = r->heat.shift;
	arg->nr_heat_blocks = r->heat.nr;
	arg->owner_uid = from_kuid_munged(current_user_ns(), r->owner);
	arg->users = atomic_read(&r->users);
	arg->mappings = atomic_read(&r->mappings);
	arg->reserved0 = 0;
	memset(arg->name, 0, sizeof(arg->name));
	strscpy(arg->name, r->name, sizeof(arg->name));
}

/* Module exit: no file is open, so only the name table holds regions. */
void ess_region_drop_names(void)
{
	struct ess_region *r;

	for (;;) {
		mutex_lock(&ess_table_lock);
		r = ess_find_name_any();
		if (r)
			r->destroyed = true;
		mutex_unlock(&ess_table_lock);
		if (!r)
			break;
		ess_region_put(r);
	}
}

static struct page *ess_region_page(struct ess_region *r, pgoff_t pg)
{
	return nth_page(r->blocks[pg / ESS_PAGES_PER_BLOCK],
			pg % ESS_PAGES_PER_BLOCK);
}

static void ess_vm_open(struct vm_area_struct *vma)
{
	struct ess_region *r = vma->vm_private_data;

	atomic_inc(&r->mappings);
}

static void ess_vm_close(struct vm_area_struct *vma)
{
	struct ess_region *r = vma->vm_private_data;

	atomic_dec(&r->mappings);
}

/*
 * Every page is inserted at mmap() time; a fault only happens after the
 * page table entries were zapped (madvise(MADV_DONTNEED)), and puts the
 * same page back.
 */
static vm_fault_t ess_vm_fault(struct vm_fault *vmf)
{
	struct ess_region *r = vmf->vma->vm_private_data;

	if (vmf->pgoff >= r->bytes >> PAGE_SHIFT)
		return VM_FAULT_SIGBUS;
	return vmf_insert_page(vmf->vma, vmf->address & PAGE_MASK,
			       ess_region_page(r, vmf->pgoff));
}

static const struct vm_operations_struct ess_vm_ops = {
	.open = ess_vm_open,
	.close = ess_vm_close,
	.fault = ess_vm_fault,
};

static int ess_insert_all(struct ess_region *r, struct vm_area_struct *vma)
{
	unsigned long addr = vma->vm_start;
	pgoff_t pg = vma->vm_pgoff;
	pgoff_t end = pg + vma_pages(vma);
	unsigned long n, num, i;
	struct page **pages;
	int ret = 0;

	pages = kmalloc_array(ESS_PAGES_PER_BLOCK, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	while (pg < end) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		n = min_t(unsigned long, end - pg,
			  ESS_PAGES_PER_BLOCK - pg % ESS_PAGES_PER_BLOCK);
		for (i = 0; i < n; i++)
			pages[i] = ess_region_page(r, pg + i);
		num = n;
		ret = vm_insert_pages(vma, addr, pages, &num);
		if (ret)
			break;
		addr += n << PAGE_SHIFT;
		pg += n;
		cond_resched();
	}
	kfree(pages);
	return ret;
}

/*
 * MAP_SHARED only (a private copy-on-write view of pinned memory makes no
 * sense); the range must lie inside the region.  A read-only open of
 * /dev/ess gives VM_MAYSHARE without VM_SHARED, which is fine for
 * PROT_READ.
 */
int ess_region_mmap(struct ess_region *r, struct vm_area_struct *vma)
{
	unsigned long total = r->bytes >> PAGE_SHIFT;
	int ret;

	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff >= total || vma_pages(vma) > total - vma->vm_pgoff)
		return -EINVAL;
	vma->vm_flags |= VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_ops = &ess_vm_ops;
	vma->vm_private_data = r;
	ret = ess_insert_all(r, vma);
	if (ret)
		return ret;	/* the caller zaps what was inserted */
	atomic_inc(&r->mappings);
	return 0;
}
