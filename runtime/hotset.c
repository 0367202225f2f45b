// SPDX-License-Identifier: MIT
/*
 * CPU implementation of the hot-set rule of include/ess/hotset.h.
 *
 * Per hot set we keep, beside the public token/key/freq arrays:
 *  - an open-addressing index token -> slot (linear probing, deletion by
 *    backward shift, so there are no tombstones and probes stay short);
 *  - scratch sized once at init, so a resolve never allocates.
 *
 * A resolve is done in two phases: the first only reads the hot set and
 * writes scratch (lookups, duplicate and range checks), so a bad row is
 * refused before anything changes; the second applies hits, picks victims
 * and fills.  (slot_out doubles as the phase-1 lookup result, so its
 * contents are unspecified after a refused row.)  Victims are the `nmiss` smallest (key, slot) pairs among the
 * slots not hit: a bounded max-heap over one scan of the slots, then a heap
 * sort of what it kept, O(nslots log nmiss).  Misses are put in ascending
 * token order with an LSD radix sort (insertion sort for short lists).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hotset.h"

struct hs_victim {
	uint64_t key;
	uint32_t slot;
};

struct hs_priv {
	uint32_t hash_mask;	/* index capacity - 1 (a power of two) */
	uint32_t hash_bits;
	int32_t *hash;		/* [hash_mask + 1] slot ids, -1 = free */
	uint32_t *stamp;	/* [nslots] resolve epoch that hit the slot */
	uint32_t epoch;
	uint64_t *miss;		/* [nslots] token << 32 | row position */
	uint64_t *miss_tmp;	/* [nslots] radix sort buffer */
	struct hs_victim *heap;	/* [nslots] */
};

static inline uint32_t hs_hash(const struct hs_priv *p, int32_t token)
{
	return ((uint32_t)token * 0x9E3779B1u) >> (32 - p->hash_bits);
}

static int32_t hs_find(const struct ess_hotset *hs, const struct hs_priv *p,
		       int32_t token)
{
	uint32_t i = hs_hash(p, token);

	for (;;) {
		int32_t s = p->hash[i];

		if (s < 0)
			return -1;
		if (hs->token[s] == token)
			return s;
		i = (i + 1) & p->hash_mask;
	}
}

/* token must not be indexed yet; hs->token[slot] must already be token. */
static void hs_index_add(const struct ess_hotset *hs, struct hs_priv *p,
			 int32_t token, uint32_t slot)
{
	uint32_t i = hs_hash(p, token);

	(void)hs;
	while (p->hash[i] >= 0)
		i = (i + 1) & p->hash_mask;
	p->hash[i] = (int32_t)slot;
}

/* Remove the entry of token (held in some slot, still in hs->token). */
static void hs_index_del(const struct ess_hotset *hs, struct hs_priv *p,
			 int32_t token)
{
	uint32_t i = hs_hash(p, token), j, home;

	while (hs->token[p->hash[i]] != token)
		i = (i + 1) & p->hash_mask;
	/* Backward-shift deletion: pull later entries of the cluster into
	 * the hole when their home position allows it. */
	j = i;
	for (;;) {
		int32_t s;

		p->hash[i] = -1;
		for (;;) {
			j = (j + 1) & p->hash_mask;
			s = p->hash[j];
			if (s < 0)
				return;
			home = hs_hash(p, hs->token[s]);
			/* Entry at j may move to i if home is not in (i, j]. */
			if (i <= j ? (home <= i || home > j)
				   : (home <= i && home > j))
				break;
		}
		p->hash[i] = s;
		i = j;
	}
}

int ess_hotset_init(struct ess_hotset *hs, uint32_t nslots, uint32_t policy)
{
	struct hs_priv *p;
	uint32_t cap = 16, bits = 4;

	if (!hs)
		return -EINVAL;
	memset(hs, 0, sizeof(*hs));
	if (nslots == 0 || nslots > (1u << 28) || policy >= ESS_POLICY_COUNT)
		return -EINVAL;
	while (cap < 2 * nslots) {
		cap <<= 1;
		bits++;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->hash_mask = cap - 1;
	p->hash_bits = bits;
	p->hash = malloc(sizeof(*p->hash) * cap);
	p->stamp = calloc(nslots, sizeof(*p->stamp));
	p->miss = malloc(sizeof(*p->miss) * nslots);
	p->miss_tmp = malloc(sizeof(*p->miss_tmp) * nslots);
	p->heap = malloc(sizeof(*p->heap) * nslots);
	hs->token = malloc(sizeof(*hs->token) * nslots);
	hs->key = malloc(sizeof(*hs->key) * nslots);
	hs->freq = malloc(sizeof(*hs->freq) * nslots);
	hs->priv = p;
	hs->nslots = nslots;
	hs->policy = policy;
	if (!p->hash || !p->stamp || !p->miss || !p->miss_tmp || !p->heap ||
	    !hs->token || !hs->key || !hs->freq) {
		ess_hotset_fini(hs);
		return -ENOMEM;
	}
	ess_hotset_reset(hs);
	return 0;
}

void ess_hotset_fini(struct ess_hotset *hs)
{
	struct hs_priv *p;

	if (!hs)
		return;
	p = hs->priv;
	if (p) {
		free(p->hash);
		free(p->stamp);
		free(p->miss);
		free(p->miss_tmp);
		free(p->heap);
		free(p);
	}
	free(hs->token);
	free(hs->key);
	free(hs->freq);
	memset(hs, 0, sizeof(*hs));
}

void ess_hotset_reset(struct ess_hotset *hs)
{
	struct hs_priv *p = hs->priv;
	uint32_t s;

	for (s = 0; s < hs->nslots; s++) {
		hs->token[s] = -1;
		hs->key[s] = 0;
		hs->freq[s] = 0;
		p->stamp[s] = 0;
	}
	memset(p->hash, 0xff, sizeof(*p->hash) * (p->hash_mask + 1));
	p->epoch = 0;
	hs->t = 0;
}

int32_t ess_hotset_lookup(const struct ess_hotset *hs, int32_t token)
{
	if (!hs || !hs->priv || token < 0)
		return -1;
	return hs_find(hs, hs->priv, token);
}

/* Ascending sort of n packed (token << 32 | pos) values by token. */
static void hs_sort_misses(uint64_t *a, uint64_t *tmp, uint32_t n)
{
	uint32_t i, j, pass;

	if (n < 64) {
		for (i = 1; i < n; i++) {
			uint64_t v = a[i];

			for (j = i; j > 0 && (a[j - 1] >> 32) > (v >> 32); j--)
				a[j] = a[j - 1];
			a[j] = v;
		}
		return;
	}
	/* Tokens are < 2^31: three 11-bit passes over bits 32..64. */
	for (pass = 0; pass < 3; pass++) {
		uint32_t count[2048] = { 0 }, shift = 32 + 11 * pass, sum = 0;
		uint64_t *t;

		for (i = 0; i < n; i++)
			count[(a[i] >> shift) & 2047]++;
		for (i = 0; i < 2048; i++) {
			uint32_t c = count[i];

			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			tmp[count[(a[i] >> shift) & 2047]++] = a[i];
		t = a;
		a = tmp;
		tmp = t;
	}
	/* Odd number of passes: the result is in the caller's tmp. */
	memcpy(tmp, a, sizeof(*a) * n);
}

static inline int hs_victim_less(const struct hs_victim *a,
				 const struct hs_victim *b)
{
	return a->key < b->key || (a->key == b->key && a->slot < b->slot);
}

/* Max-heap on (key, slot): the root is the largest pair kept. */
static void hs_sift_down(struct hs_victim *h, uint32_t n, uint32_t i)
{
	struct hs_victim v = h[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && hs_victim_less(&h[c], &h[c + 1]))
			c++;
		if (!hs_victim_less(&v, &h[c]))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = v;
}

/*
 * The `want` smallest (key, slot) pairs among slots whose stamp is not
 * `epoch`, in ascending order, into p->heap[0..want-1].  The caller has
 * made sure that many exist.
 */
static void hs_pick_victims(const struct ess_hotset *hs, struct hs_priv *p,
			    uint32_t want, uint32_t epoch)
{
	struct hs_victim *h = p->heap;
	const uint64_t *key = hs->key;
	const uint32_t *stamp = p->stamp;
	uint32_t s = 0, n = 0, i, nslots = hs->nslots;
	uint64_t top_key;
	uint32_t top_slot;

	if (want == 0)
		return;
	for (; n < want; s++) {
		if (stamp[s] == epoch)
			continue;
		h[n].key = key[s];
		h[n].slot = s;
		n++;
	}
	for (i = want / 2; i-- > 0;)
		hs_sift_down(h, want, i);
	top_key = h[0].key;
	top_slot = h[0].slot;
	/* Most slots are not candidates: test without branches and take the
	 * (rare, well predicted) branch only for one that enters the heap. */
	for (; s < nslots; s++) {
		uint64_t k = key[s];
		int in = (stamp[s] != epoch) &
			 ((k < top_key) | ((k == top_key) & (s < top_slot)));

		if (__builtin_expect(in, 0)) {
			h[0].key = k;
			h[0].slot = s;
			hs_sift_down(h, want, 0);
			top_key = h[0].key;
			top_slot = h[0].slot;
		}
	}
	/* Heap sort in place: ascending order. */
	for (i = want; i > 1; i--) {
		struct hs_victim t = h[0];

		h[0] = h[i - 1];
		h[i - 1] = t;
		hs_sift_down(h, i - 1, 0);
	}
}

static uint32_t hs_next_epoch(struct ess_hotset *hs, struct hs_priv *p)
{
	if (++p->epoch == 0) {
		/* Wrapped: clear the stamps so no stale one matches. */
		memset(p->stamp, 0, sizeof(*p->stamp) * hs->nslots);
		p->epoch = 1;
	}
	return p->epoch;
}

static void hs_fill(struct ess_hotset *hs, struct hs_priv *p, uint32_t slot,
		    int32_t token, uint32_t t, struct ess_hotset_result *res)
{
	if (hs->token[slot] >= 0) {
		hs_index_del(hs, p, hs->token[slot]);
		res->evictions++;
	}
	hs->token[slot] = token;
	hs->key[slot] = ess_policy_fill_key(hs->policy, t);
	hs->freq[slot] = 1;
	hs_index_add(hs, p, token, slot);
}

static void hs_hit(struct ess_hotset *hs, uint32_t slot, uint32_t t)
{
	hs->key[slot] = ess_policy_hit_key(hs->policy, hs->key[slot],
					   hs->freq[slot], t);
	if (hs->freq[slot] != UINT32_MAX)
		hs->freq[slot]++;
}

int ess_hotset_resolve(struct ess_hotset *hs, const int32_t *row, uint32_t n,
		       int32_t *slot_out, int32_t *miss_token,
		       uint32_t *miss_slot, struct ess_hotset_result *res)
{
	struct hs_priv *p;
	uint32_t i, nvalid = 0, nmiss = 0, epoch, t;
	struct ess_hotset_result r = { 0, 0, 0 };

	if (!hs || !hs->priv || (n && (!row || !slot_out)) || !res)
		return -EINVAL;
	p = hs->priv;
	/* Phase 1: checks and lookups; only scratch is written. */
	for (i = 0; i < n; i++) {
		if (row[i] == -1)
			continue;
		if (row[i] < 0)
			return -EINVAL;
		nvalid++;
	}
	if (nvalid > hs->nslots)
		return -EINVAL;
	if (nvalid && (!miss_token || !miss_slot))
		return -EINVAL;
	epoch = hs_next_epoch(hs, p);
	for (i = 0; i < n; i++) {
		int32_t s;

		if (row[i] == -1) {
			slot_out[i] = -1;
			continue;
		}
		s = hs_find(hs, p, row[i]);
		slot_out[i] = s;	/* -1 for a miss, placed below */
		if (s < 0) {
			p->miss[nmiss++] = (uint64_t)(uint32_t)row[i] << 32 | i;
			continue;
		}
		if (p->stamp[s] == epoch)
			goto dup;	/* the same token twice */
		p->stamp[s] = epoch;
	}
	hs_sort_misses(p->miss, p->miss_tmp, nmiss);
	for (i = 1; i < nmiss; i++)
		if (p->miss[i] >> 32 == p->miss[i - 1] >> 32)
			goto dup;

	/* Phase 2: apply. */
	t = ++hs->t;
	for (i = 0; i < n; i++) {
		if (slot_out[i] < 0)
			continue;	/* unused entry, or a miss placed below */
		hs_hit(hs, (uint32_t)slot_out[i], t);
		r.hits++;
	}
	hs_pick_victims(hs, p, nmiss, epoch);
	for (i = 0; i < nmiss; i++) {
		int32_t token = (int32_t)(p->miss[i] >> 32);
		uint32_t pos = (uint32_t)p->miss[i], slot = p->heap[i].slot;

		hs_fill(hs, p, slot, token, t, &r);
		slot_out[pos] = (int32_t)slot;
		miss_token[i] = token;
		miss_slot[i] = slot;
	}
	r.nmiss = nmiss;
	*res = r;
	return 0;
dup:
	/* Forget this epoch's stamps: the next resolve uses a new epoch. */
	return -EINVAL;
}

int ess_hotset_insert(struct ess_hotset *hs, int32_t token, uint32_t *slot,
		      struct ess_hotset_result *res)
{
	struct hs_priv *p;
	struct ess_hotset_result r = { 0, 0, 0 };
	int32_t s;

	if (!hs || !hs->priv || token < 0 || !slot || !res)
		return -EINVAL;
	p = hs->priv;
	s = hs_find(hs, p, token);
	if (s >= 0) {
		hs_hit(hs, (uint32_t)s, hs->t);
		r.hits = 1;
	} else {
		/* Every slot is a candidate: nothing is hit in this row. */
		hs_pick_victims(hs, p, 1, hs_next_epoch(hs, p));
		s = (int32_t)p->heap[0].slot;
		hs_fill(hs, p, (uint32_t)s, token, hs->t, &r);
		r.nmiss = 1;
	}
	*slot = (uint32_t)s;
	*res = r;
	return 0;
}
