// SPDX-License-Identifier: MIT
/*
 * Model-based run: thousands of random operations (add, remove, ingest,
 * append, warm-up, resolve, and bad calls of each) against a plain model
 * of what the context must hold: every request's rows per layer, and a
 * reference hot set per (request, layer) fed the same rows.  After each
 * operation the context must agree with the model: return codes, token
 * counts, host rows, slot ids, hot-buffer bytes and counters.
 */
#include "runtime-tap.h"
#include "../../runtime/hotset.h"

#define NL 2
#define NR 4
#define K 6
#define S 10
#define EB 20
#define MAXT 200
#define OPS 6000

struct mreq {
	int used;
	uint64_t tag;
	uint32_t id;
	uint32_t n[NL];
	uint8_t rows[NL][MAXT][EB];
	struct ess_hotset hs[NL];
};

static struct mreq M[NR];	/* indexed by request id */
static uint64_t hits, misses, lookups, evictions, appends, ingested, warmups;
static uint64_t added, removed;
static int bad_ret, bad_state, bad_slots, bad_bytes;

static uint32_t pick_used(void)
{
	uint32_t r = (uint32_t)(rnd() % NR);

	for (uint32_t k = 0; k < NR; k++)
		if (M[(r + k) % NR].used)
			return (r + k) % NR;
	return UINT32_MAX;
}

/* A row of distinct tokens < held, with holes. */
static uint32_t make_row(int32_t *row, uint32_t n, uint32_t held,
			 uint32_t maxvalid)
{
	uint32_t v = 0;

	for (uint32_t j = 0; j < n; j++) {
		row[j] = -1;
		if (held && v < maxvalid && rnd() % 4) {
			int32_t t = (int32_t)(rnd() % held), dup = 0;

			for (uint32_t i = 0; i < j; i++)
				dup |= row[i] == t;
			if (!dup) {
				row[j] = t;
				v++;
			}
		}
	}
	return v;
}

static void check_slots(ess_ctx *ctx, uint32_t l, uint32_t r,
			const int32_t *row, const int32_t *out,
			const int32_t *ref, uint32_t n)
{
	const uint8_t *hot = ess_hot_layer(ctx, l);

	for (uint32_t j = 0; j < n; j++) {
		if (row[j] < 0) {
			bad_slots += out[j] != -1;
			continue;
		}
		bad_slots += out[j] != (int32_t)(r * S) + ref[j];
		bad_bytes += memcmp(hot + (size_t)out[j] * EB,
				    M[r].rows[l][row[j]], EB) != 0;
	}
}

static void compare(ess_ctx *ctx)
{
	struct ess_stats st;
	uint32_t n, id;

	ess_stats_get(ctx, &st);
	bad_state += st.hits != hits || st.misses != misses ||
		     st.lookups != lookups || st.evictions != evictions ||
		     st.appends != appends || st.ingested != ingested ||
		     st.warmups != warmups || st.requests_added != added ||
		     st.requests_removed != removed;
	for (uint32_t r = 0; r < NR; r++) {
		if (!M[r].used) {
			bad_state += ess_request_tokens(ctx, r, 0, &n) != -ENOENT;
			continue;
		}
		bad_state += ess_request_find(ctx, M[r].tag, &id) || id != r;
		for (uint32_t l = 0; l < NL; l++) {
			bad_state += ess_request_tokens(ctx, r, l, &n) || n != M[r].n[l];
			for (uint32_t t = 0; t < M[r].n[l]; t += 7)
				bad_state += memcmp(ess_host_row(ctx, r, l, t),
						    M[r].rows[l][t], EB) != 0;
		}
	}
}

int main(void)
{
	struct ess_config c;
	int32_t row[NR * K], out[NR * K], ref[S], mt[S];
	uint32_t ms[S], reqs[NR + 1];
	uint8_t buf[MAXT * EB];
	uint64_t next_tag = 1;
	ess_ctx *ctx;

	seed_rng();
	small_cfg(&c);
	c.layers = NL;
	c.max_requests = NR;
	c.topk = K;
	c.slots = S;
	c.entry_bytes = EB;
	c.max_tokens = MAXT;
	c.extent_tokens = 8;
	c.pool_bytes = (uint64_t)NR * NL * MAXT * EB;
	ctx = make_ctx(&c);

	for (int op = 0; op < OPS; op++) {
		uint32_t kind = (uint32_t)(rnd() % 100), r, l = (uint32_t)(rnd() % NL);
		struct ess_hotset_result res;
		int ret;

		if (kind < 5) {			/* add */
			uint32_t id;

			ret = ess_request_add(ctx, next_tag, &id);
			if (ret == 0) {
				bad_ret += id >= NR || M[id].used;
				memset(&M[id], 0, sizeof(M[id]));
				M[id].used = 1;
				M[id].tag = next_tag;
				for (uint32_t k = 0; k < NL; k++)
					MUST(ess_hotset_init(&M[id].hs[k], S, 0));
				added++;
			} else {
				bad_ret += ret != -ENOSPC || pick_used() == UINT32_MAX;
			}
			next_tag++;
		} else if (kind < 8) {		/* remove */
			r = pick_used();
			if (r == UINT32_MAX)
				continue;
			bad_ret += ess_request_remove(ctx, r) != 0;
			for (uint32_t k = 0; k < NL; k++)
				ess_hotset_fini(&M[r].hs[k]);
			M[r].used = 0;
			removed++;
		} else if (kind < 18) {		/* ingest a chunk */
			uint32_t cnt = (uint32_t)(rnd() % 40);

			r = pick_used();
			if (r == UINT32_MAX)
				continue;
			if (M[r].n[l] + cnt > MAXT) {
				bad_ret += ess_ingest(ctx, r, l, M[r].n[l], cnt, buf) != -EINVAL;
				continue;
			}
			fill_random(buf, (size_t)cnt * EB);
			bad_ret += ess_ingest(ctx, r, l, M[r].n[l], cnt, buf) != 0;
			memcpy(M[r].rows[l][M[r].n[l]], buf, (size_t)cnt * EB);
			M[r].n[l] += cnt;
			ingested += cnt;
		} else if (kind < 30) {		/* append to a batch */
			uint32_t nb = 0, ok_all = 1;

			for (uint32_t k = 0; k < NR; k++)
				if (M[k].used && rnd() % 2) {
					reqs[nb++] = k;
					ok_all &= M[k].n[l] < MAXT;
				}
			if (!nb || !ok_all)
				continue;
			fill_random(buf, (size_t)nb * EB);
			bad_ret += ess_append(ctx, l, nb, reqs, buf, NULL) != 0;
			for (uint32_t i = 0; i < nb; i++) {
				struct mreq *m = &M[reqs[i]];
				uint32_t slot;

				memcpy(m->rows[l][m->n[l]], buf + i * EB, EB);
				MUST(ess_hotset_insert(&m->hs[l], (int32_t)m->n[l], &slot, &res));
				m->n[l]++;
				appends++;
				evictions += res.evictions;
			}
		} else if (kind < 35) {		/* warm-up */
			uint32_t n = 1 + (uint32_t)(rnd() % S);

			r = pick_used();
			if (r == UINT32_MAX || !M[r].n[l])
				continue;
			make_row(row, n, M[r].n[l], S);
			bad_ret += ess_warmup(ctx, r, l, row, n) != 0;
			MUST(ess_hotset_resolve(&M[r].hs[l], row, n, ref, mt, ms, &res));
			warmups += res.nmiss;
			evictions += res.evictions;
		} else if (kind < 45) {		/* a bad resolve: nothing moves */
			uint32_t nb = 0;

			for (uint32_t k = 0; k < NR; k++)
				if (M[k].used && M[k].n[l])
					reqs[nb++] = k;
			if (!nb)
				continue;
			for (uint32_t i = 0; i < nb; i++)
				make_row(row + i * K, K, M[reqs[i]].n[l], K);
			switch (rnd() % 3) {
			case 0:	/* a token past the end in the last row */
				row[(nb - 1) * K + rnd() % K] = (int32_t)M[reqs[nb - 1]].n[l];
				break;
			case 1:	/* a duplicate */
				row[(nb - 1) * K] = 0;
				row[(nb - 1) * K + 1] = 0;
				break;
			default: /* a request twice */
				reqs[nb] = reqs[0];
				nb++;
				break;
			}
			bad_ret += ess_resolve(ctx, l, nb, reqs, row, out, NULL) != -EINVAL;
		} else {			/* resolve a batch */
			uint32_t nb = 0;

			for (uint32_t k = 0; k < NR; k++)
				if (M[k].used && M[k].n[l] && rnd() % 4)
					reqs[nb++] = k;
			if (!nb)
				continue;
			for (uint32_t i = 0; i < nb; i++)
				make_row(row + i * K, K, M[reqs[i]].n[l], K);
			ret = ess_resolve(ctx, l, nb, reqs, row, out, NULL);
			bad_ret += ret != 0;
			if (ret)
				continue;
			for (uint32_t i = 0; i < nb; i++) {
				struct mreq *m = &M[reqs[i]];

				MUST(ess_hotset_resolve(&m->hs[l], row + i * K, K, ref,
							mt, ms, &res));
				hits += res.hits;
				misses += res.nmiss;
				lookups += res.hits + res.nmiss;
				evictions += res.evictions;
				check_slots(ctx, l, reqs[i], row + i * K, out + i * K, ref, K);
			}
		}
		if (op % 50 == 0)
			compare(ctx);
	}
	compare(ctx);
	ok(bad_ret == 0, "%d operations: every return code as the model says (%d off)",
	   OPS, bad_ret);
	ok(bad_slots == 0, "slot ids equal the reference hot sets' (%d off)", bad_slots);
	ok(bad_bytes == 0, "every resolved slot holds its row (%d off)", bad_bytes);
	ok(bad_state == 0, "counts, rows and counters match the model (%d off)", bad_state);
	diag("lookups %llu hits %llu misses %llu appends %llu ingested %llu",
	     (unsigned long long)lookups, (unsigned long long)hits,
	     (unsigned long long)misses, (unsigned long long)appends,
	     (unsigned long long)ingested);
	for (uint32_t r = 0; r < NR; r++)
		if (M[r].used)
			for (uint32_t k = 0; k < NL; k++)
				ess_hotset_fini(&M[r].hs[k]);
	ess_destroy(ctx);
	return done();
}
