/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ess.ko internals shared by main.c, region.c, limits.c, heat.c and sysfs.c.
 *
 * Lifetime of a region: struct ess_region.ref (a kref) counts its users:
 * every file of /dev/ess bound to it, plus one for the name table while a
 * named region has not been destroyed, plus one while the heat worker
 * ages it.  Mappings hold the file (vm_file), so they keep the region alive
 * through the file's reference.  When the kref drops to zero the region is
 * torn down (pages, charges, heat, sysfs directory) and the embedded
 * kobject's release frees the struct itself.
 *
 * A region is bound to at most one file at a time (region->users is 0 or
 * 1): CREATE binds the new region to its file, ATTACH of a held named
 * region fails with -EBUSY, and the file's release unbinds it.
 *
 * Locking:
 *   ess_table_lock	the list of live regions and the name table (names
 *			of named, not destroyed regions), file binding and
 *			region->users changes
 *   heat.pass_lock	one aggregation pass at a time per region
 *   heat.lock		heat and age arrays and the aggregation counter;
 *			an aggregation pass takes it once per batch
 *   ess_knob_lock	hot/cold threshold pair (they are checked together)
 * Order: ess_table_lock -> heat.pass_lock -> heat.lock, though no path
 * takes ess_table_lock with either heat lock held or the other way round
 * today.  A kref_put() on a region is never done with any of these locks
 * held (teardown takes ess_table_lock).
 */
#ifndef _ESS_KMOD_H
#define _ESS_KMOD_H

#include <linux/atomic.h>
#include <linux/kobject.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/sched/user.h>
#include <linux/types.h>
#include <linux/uidgid.h>

#include <uapi/ess.h>

#define ESS_PAGES_PER_BLOCK	(ESS_BLOCK_SIZE >> PAGE_SHIFT)
#define ESS_BLOCK_ORDER		(ESS_BLOCK_SHIFT - PAGE_SHIFT)

/*
 * Heat blocks an aggregation pass folds per hold of heat.lock; between
 * batches it drops the lock and reschedules, so a pass over millions of
 * blocks never keeps readers or the next region waiting for long.
 * tests/kselftest/ess-heat-batch.c sizes its regions from this value.
 */
#define ESS_HEAT_FOLD_BATCH	4096U

/* Per heat block state: see the aggregation rule in include/uapi/ess.h. */
struct ess_heat {
	struct mutex pass_lock;	/* serialises aggregation passes */
	struct mutex lock;	/* heat[], age[], intervals */
	u32 shift;		/* log2 of the heat block size */
	u32 nr;			/* heat blocks in the region */
	atomic_t *pending;	/* accesses since the last aggregation */
	u32 *heat;
	u32 *age;
	u64 intervals;		/* aggregations done */
};

struct ess_region {
	struct kref ref;		/* bound files + name table */
	struct kobject kobj;		/* regions/<id>/, frees the struct */
	bool kobj_added;
	struct list_head list;		/* ess_regions, under ess_table_lock */
	u64 id;
	u64 bytes;
	int node;
	u32 nr_blocks;
	struct page **blocks;		/* first page of each 2 MiB block */
	char name[ESS_NAME_MAX];	/* "" when anonymous */
	bool named;
	bool manual_heat;		/* skipped by the periodic worker */
	bool pinned;			/* bytes charged (ess_charge()) */
	bool destroyed;			/* under ess_table_lock */
	kuid_t owner;
	struct user_struct *charged_user; /* NULL: not charged to a user */
	atomic_t users;			/* files bound: 0 or 1 */
	atomic_t mappings;		/* live VMAs */
	struct ess_heat heat;
};

/* region.c */
extern struct mutex ess_table_lock;
extern struct list_head ess_regions;
extern atomic_t ess_nr_regions;
struct file;
struct vm_area_struct;
int ess_region_create(struct file *file, struct ess_create *arg);
int ess_region_attach(struct file *file, struct ess_attach *arg);
int ess_region_destroy(struct ess_destroy *arg);
void ess_region_info(struct ess_region *r, struct ess_info *arg);
void ess_region_put(struct ess_region *r);
void ess_region_unbind(struct ess_region *r);
int ess_region_mmap(struct ess_region *r, struct vm_area_struct *vma);
void ess_region_drop_names(void);

/* limits.c */
extern atomic64_t ess_pinned_bytes;
extern u64 ess_pinned_cap;
int ess_charge(u64 bytes, struct user_struct **user);
void ess_uncharge(u64 bytes, struct user_struct *user);
u64 ess_total_ram_bytes(void);

/* heat.c */
/* Range of aggregation_interval_ms (sysfs and module parameter). */
#define ESS_INTERVAL_MIN_MS	10
#define ESS_INTERVAL_MAX_MS	60000

/* params.c: check the module parameters and set the knobs from them. */
int ess_params_apply(void);

extern unsigned int ess_interval_ms;
extern unsigned int ess_decay_pct;
extern u32 ess_hot_threshold;
extern u32 ess_cold_threshold;
int ess_heat_init(struct ess_heat *h, u64 bytes, u32 shift);
void ess_heat_free(struct ess_heat *h);
void ess_heat_fold(struct ess_heat *h);
int ess_heat_report(struct ess_heat *h, struct ess_heat_report *arg);
int ess_heat_read(struct ess_heat *h, struct ess_heat_read *arg);
void ess_heat_hist(struct ess_heat *h, struct ess_heat_hist *arg);
void ess_heat_worker_start(void);
void ess_heat_worker_stop(void);
void ess_heat_worker_kick(void);

/* sysfs.c */
extern struct mutex ess_knob_lock;
int ess_sysfs_init(void);
void ess_sysfs_exit_knobs(void);
void ess_sysfs_exit(void);
int ess_sysfs_region_add(struct ess_region *r);
void ess_sysfs_region_del(struct ess_region *r);
void ess_region_kobj_init(struct ess_region *r);

#endif /* _ESS_KMOD_H */
