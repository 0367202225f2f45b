// SPDX-License-Identifier: GPL-2.0
/*
 * Heat: per heat block access counts reported by userspace (the GPU reads
 * the kernel cannot see), folded periodically into an aged heat value, the
 * way DAMON keeps nr_accesses and age per region.
 *
 * Reports only touch pending[] (atomics, no lock), so reporting never waits
 * for an aggregation pass.  Readers of heat[]/age[] hold the region's heat
 * lock; an aggregation pass holds it one batch of ESS_HEAT_FOLD_BATCH
 * blocks at a time (ess_heat_fold() says why that is exact).  The rule is
 * the one in include/uapi/ess.h:
 *
 *	heat    = heat - ceil(heat * heat_decay_pct / 100) + pending
 *		  (saturating)
 *	age     = pending ? 0 : age + 1                          (saturating)
 *	pending = 0
 */
#include <linux/bitops.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "ess.h"

unsigned int ess_interval_ms = 100;
unsigned int ess_decay_pct = 25;
u32 ess_hot_threshold = 64;
u32 ess_cold_threshold;

int ess_heat_init(struct ess_heat *h, u64 bytes, u32 shift)
{
	h->shift = shift;
	h->nr = bytes >> shift;
	h->pending = kvcalloc(h->nr, sizeof(*h->pending), GFP_KERNEL);
	h->heat = kvcalloc(h->nr, sizeof(*h->heat), GFP_KERNEL);
	h->age = kvcalloc(h->nr, sizeof(*h->age), GFP_KERNEL);
	if (!h->pending || !h->heat || !h->age) {
		ess_heat_free(h);
		return -ENOMEM;
	}
	return 0;
}

void ess_heat_free(struct ess_heat *h)
{
	kvfree(h->pending);
	kvfree(h->heat);
	kvfree(h->age);
	h->pending = NULL;
	h->heat = NULL;
	h->age = NULL;
}

/* The rule for blocks [start, end), with heat.lock held. */
static void ess_heat_fold_range(struct ess_heat *h, u32 start, u32 end,
				u32 decay)
{
	u32 i, p;
	u64 v;

	lockdep_assert_held(&h->lock);
	for (i = start; i < end; i++) {
		/* Most blocks see no access in an interval: skip the xchg. */
		p = atomic_read(&h->pending[i]) ?
			(u32)atomic_xchg(&h->pending[i], 0) : 0;
		v = h->heat[i];
		/* Round the loss up, so idle heat always reaches 0. */
		v = v - DIV_ROUND_UP_ULL(v * decay, 100) + p;
		h->heat[i] = min_t(u64, v, U32_MAX);
		if (p)
			h->age[i] = 0;
		else if (h->age[i] != U32_MAX)
			h->age[i]++;
	}
}

/*
 * One aggregation pass over every heat block, in ascending block order, in
 * batches of ESS_HEAT_FOLD_BATCH blocks: heat.lock is held for one batch
 * and dropped, with a cond_resched(), before the next.  Why the result is
 * still exactly the rule applied once per pass:
 *
 * - A report only adds to pending[b], atomically, and the pass takes
 *   pending[b] with one atomic_xchg() (a read of 0 is the same as an xchg
 *   that returns 0).  Every access is therefore taken by exactly one pass:
 *   the first one whose xchg of its block comes after it.  An access to a
 *   block this pass has already folded (an earlier batch) waits in pending
 *   for the next pass; one to a block not folded yet is taken by this pass.
 *   Nothing is lost or counted twice, whatever the batch boundaries; the
 *   heat is the serial rule applied to the reports, each in the pass that
 *   took it.
 * - heat[b] and age[b] are written only here, under heat.lock, and passes
 *   of one region are serialised by heat.pass_lock, so each block goes
 *   through the passes one after the other, in the same order as every
 *   other block.  decay is read once per pass: a heat_decay_pct write in
 *   the middle of a pass takes effect from the next one.
 * - Readers (HEAT_READ, HEAT_HIST, heat_histogram) hold heat.lock, so they
 *   see each block either before or after this pass folded it, never half
 *   of it.  Between two batches they may see the blocks below the batch
 *   boundary aged and those above it not yet; intervals counts completed
 *   passes and moves with the last batch.
 */
void ess_heat_fold(struct ess_heat *h)
{
	u32 decay = READ_ONCE(ess_decay_pct);
	u32 start, end;

	mutex_lock(&h->pass_lock);
	for (start = 0; start < h->nr; start = end) {
		end = start + min(h->nr - start, ESS_HEAT_FOLD_BATCH);
		mutex_lock(&h->lock);
		ess_heat_fold_range(h, start, end, decay);
		if (end == h->nr)
			h->intervals++;
		mutex_unlock(&h->lock);
		cond_resched();
	}
	mutex_unlock(&h->pass_lock);
}

/*
 * Validate the whole batch before counting any of it; the indices are
 * copied once so that userspace cannot change them between the check and
 * their use.
 */
int ess_heat_report(struct ess_heat *h, struct ess_heat_report *arg)
{
	u32 *idx;
	u32 i;
	int ret = 0;

	idx = kvmalloc_array(arg->nr, sizeof(*idx), GFP_KERNEL);
	if (!idx)
		return -ENOMEM;
	if (copy_from_user(idx, u64_to_user_ptr(arg->addr),
			   (size_t)arg->nr * sizeof(*idx))) {
		ret = -EFAULT;
		goto out;
	}
	for (i = 0; i < arg->nr; i++) {
		if (idx[i] >= h->nr) {
			ret = -EINVAL;
			goto out;
		}
	}
	/* Saturate at U32_MAX: -1 is U32_MAX as an atomic_t. */
	for (i = 0; i < arg->nr; i++)
		atomic_add_unless(&h->pending[idx[i]], 1, -1);
out:
	kvfree(idx);
	return ret;
}

/* Hottest first: descending heat, then ascending block index. */
static int ess_cmp_hottest(const void *a, const void *b)
{
	const struct ess_heat_entry *x = a, *y = b;

	if (x->heat != y->heat)
		return x->heat > y->heat ? -1 : 1;
	return x->block < y->block ? -1 : x->block > y->block;
}

/* Coldest first: ascending heat, then descending age, then block index. */
static int ess_cmp_coldest(const void *a, const void *b)
{
	const struct ess_heat_entry *x = a, *y = b;

	if (x->heat != y->heat)
		return x->heat < y->heat ? -1 : 1;
	if (x->age != y->age)
		return x->age > y->age ? -1 : 1;
	return x->block < y->block ? -1 : x->block > y->block;
}

typedef int (*ess_cmp_t)(const void *a, const void *b);

/*
 * Max-heap (by @cmp order: the entry that sorts last is at the root) of
 * the best @n entries seen so far.
 */
static void ess_sift_down(struct ess_heat_entry *e, u32 n, u32 i, ess_cmp_t cmp)
{
	struct ess_heat_entry t;
	u32 c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && cmp(&e[c + 1], &e[c]) > 0)
			c++;
		if (cmp(&e[c], &e[i]) <= 0)
			break;
		t = e[i];
		e[i] = e[c];
		e[c] = t;
		i = c;
	}
}

static void ess_sift_up(struct ess_heat_entry *e, u32 i, ess_cmp_t cmp)
{
	struct ess_heat_entry t;
	u32 p;

	while (i > 0) {
		p = (i - 1) / 2;
		if (cmp(&e[i], &e[p]) <= 0)
			break;
		t = e[i];
		e[i] = e[p];
		e[p] = t;
		i = p;
	}
}

static void ess_entry_fill(struct ess_heat *h, u32 i, struct ess_heat_entry *e)
{
	e->block = i;
	e->heat = h->heat[i];
	e->age = h->age[i];
	e->pending = atomic_read(&h->pending[i]);
}

/* Select the first @want blocks in @cmp order: O(n log want). */
static u32 ess_heat_select(struct ess_heat *h, struct ess_heat_entry *e,
			   u32 want, ess_cmp_t cmp)
{
	struct ess_heat_entry x;
	u32 i, n = 0;

	mutex_lock(&h->lock);
	for (i = 0; i < h->nr; i++) {
		ess_entry_fill(h, i, &x);
		if (n < want) {
			e[n] = x;
			ess_sift_up(e, n++, cmp);
		} else if (cmp(&x, &e[0]) < 0) {
			e[0] = x;
			ess_sift_down(e, n, 0, cmp);
		}
		if ((i & 0xffff) == 0xffff)
			cond_resched();
	}
	mutex_unlock(&h->lock);
	sort(e, n, sizeof(*e), cmp, NULL);
	return n;
}

int ess_heat_read(struct ess_heat *h, struct ess_heat_read *arg)
{
	ess_cmp_t cmp = arg->flags == ESS_HEAT_HOTTEST ?
			ess_cmp_hottest : ess_cmp_coldest;
	u32 want = min(arg->nr, h->nr);
	struct ess_heat_entry *e;
	int ret = 0;

	e = kvmalloc_array(want, sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	want = ess_heat_select(h, e, want, cmp);
	if (copy_to_user(u64_to_user_ptr(arg->addr), e,
			 (size_t)want * sizeof(*e)))
		ret = -EFAULT;
	arg->nr = want;
	kvfree(e);
	return ret;
}

static u32 ess_bucket(u32 heat)
{
	return heat ? min_t(u32, fls(heat), ESS_HEAT_BUCKETS - 1) : 0;
}

/* Histogram of heat as of the last aggregation, and the hot/cold counts. */
void ess_heat_hist(struct ess_heat *h, struct ess_heat_hist *arg)
{
	u32 hot_thr, cold_thr, i, v;

	mutex_lock(&ess_knob_lock);
	hot_thr = ess_hot_threshold;
	cold_thr = ess_cold_threshold;
	mutex_unlock(&ess_knob_lock);

	memset(arg->buckets, 0, sizeof(arg->buckets));
	arg->hot = 0;
	arg->cold = 0;
	mutex_lock(&h->lock);
	for (i = 0; i < h->nr; i++) {
		v = h->heat[i];
		arg->buckets[ess_bucket(v)]++;
		if (v >= hot_thr)
			arg->hot++;
		if (v <= cold_thr)
			arg->cold++;
		if ((i & 0xffff) == 0xffff)
			cond_resched();
	}
	arg->interval = h->intervals;
	mutex_unlock(&h->lock);
}

/* The periodic aggregation pass over every region. */
static void ess_heat_work_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(ess_heat_work, ess_heat_work_fn);

static unsigned long ess_interval_jiffies(void)
{
	return msecs_to_jiffies(READ_ONCE(ess_interval_ms));
}

/*
 * The region after @prev in ess_regions (the first one if @prev is NULL)
 * that the worker ages, with a reference taken; NULL after the last.  The
 * caller holds a reference on @prev, which keeps it on the list (only the
 * release unlinks a region), so it is a valid cursor even though
 * ess_table_lock was dropped since it was found.  A region whose last
 * reference is gone but which is still listed is being released: skipped.
 */
static struct ess_region *ess_heat_next(struct ess_region *prev)
{
	struct ess_region *r;

	mutex_lock(&ess_table_lock);
	r = prev ? list_next_entry(prev, list) :
		   list_first_entry(&ess_regions, struct ess_region, list);
	list_for_each_entry_from(r, &ess_regions, list) {
		if (!r->manual_heat && kref_get_unless_zero(&r->ref))
			break;
	}
	if (list_entry_is_head(r, &ess_regions, list))
		r = NULL;
	mutex_unlock(&ess_table_lock);
	return r;
}

/*
 * One pass over every region, holding ess_table_lock only to step from one
 * region to the next: CREATE, ATTACH, DESTROY and INFO never wait for a
 * pass, and each region's pass holds its heat lock one batch at a time.
 */
static void ess_heat_work_fn(struct work_struct *work)
{
	struct ess_region *r = NULL, *next;

	while ((next = ess_heat_next(r))) {
		if (r)
			ess_region_put(r);
		ess_heat_fold(&next->heat);
		r = next;
	}
	if (r)
		ess_region_put(r);
	queue_delayed_work(system_unbound_wq, &ess_heat_work,
			   ess_interval_jiffies());
}

void ess_heat_worker_start(void)
{
	queue_delayed_work(system_unbound_wq, &ess_heat_work,
			   ess_interval_jiffies());
}

/* A new interval: the next pass comes one new interval from now. */
void ess_heat_worker_kick(void)
{
	mod_delayed_work(system_unbound_wq, &ess_heat_work,
			 ess_interval_jiffies());
}

void ess_heat_worker_stop(void)
{
	cancel_delayed_work_sync(&ess_heat_work);
}
