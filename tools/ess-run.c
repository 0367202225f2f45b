// SPDX-License-Identifier: MIT
/*
 * ess-run: the default workload.  It drives libess the way a serving
 * engine does, on a synthetic DeepSeek-V3.2-Exp top-k stream: requests are
 * added and their prefill rows ingested, every decode step appends each
 * request's new row per layer and resolves the layer's top-k into slot ids,
 * and every slot the attention kernel would read is checked byte for byte
 * against the row that was written.  It then shows that the runtime's
 * counters equal an independent replay of the same trace, and how each
 * replacement policy compares with Belady's optimum.
 *
 * It runs on the CUDA backend when libess-cuda.so and a GPU are there, on
 * the CPU backend otherwise, and on a /dev/ess region when the module is
 * loaded, on the userspace fallback pool otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ess/ess.h"
#include "ess/trace.h"
#include "../runtime/hotset.h"

struct opts {
	const char *backend;
	const char *pool;
	const char *policy;
	uint32_t requests, layers, steps, context, slots, topk, entry_bytes;
	uint64_t seed;
	int verify;
	int compare;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: ess-run [options]\n"
"Drive libess through a synthetic decode workload, checking every slot.\n"
"  --backend auto|cpu|cuda   hot buffer on the GPU or in host memory (auto)\n"
"  --pool auto|module|fallback  host pool from /dev/ess or userspace (auto)\n"
"  --policy NAME             replacement policy (lru)\n"
"  --requests N              concurrent requests (8)\n"
"  --layers N                layers (4; the model has 61)\n"
"  --steps N                 decode steps (64)\n"
"  --context N               prefill tokens per request (32768)\n"
"  --slots N                 hot-buffer slots per request per layer (6144)\n"
"  --topk N                  top-k per request per layer (2048)\n"
"  --entry-bytes N           bytes per token per layer (656)\n"
"  --seed N                  trace and data seed (1)\n"
"  --no-verify               skip the independent byte check of slots\n"
"  --no-compare              skip the policy and OPT comparison table\n"
"  -h, --help                this text\n");
}

static int parse_u32(const char *s, const char *what, uint32_t min,
		     uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "ess-run: %s must be a number in %u..%u, not '%s'\n",
			what, min, max, s);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "pool", required_argument, NULL, 'p' },
		{ "policy", required_argument, NULL, 'P' },
		{ "requests", required_argument, NULL, 'r' },
		{ "layers", required_argument, NULL, 'l' },
		{ "steps", required_argument, NULL, 's' },
		{ "context", required_argument, NULL, 'c' },
		{ "slots", required_argument, NULL, 'S' },
		{ "topk", required_argument, NULL, 'k' },
		{ "entry-bytes", required_argument, NULL, 'e' },
		{ "seed", required_argument, NULL, 'x' },
		{ "no-verify", no_argument, NULL, 'V' },
		{ "no-compare", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t seed32;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'b': o->backend = optarg; break;
		case 'p': o->pool = optarg; break;
		case 'P': o->policy = optarg; break;
		case 'r': if (parse_u32(optarg, "--requests", 1, 4096, &o->requests)) return -1; break;
		case 'l': if (parse_u32(optarg, "--layers", 1, ESS_MAX_LAYERS, &o->layers)) return -1; break;
		case 's': if (parse_u32(optarg, "--steps", 2, 1u << 20, &o->steps)) return -1; break;
		case 'c': if (parse_u32(optarg, "--context", 1, 1u << 24, &o->context)) return -1; break;
		case 'S': if (parse_u32(optarg, "--slots", 1, 1u << 20, &o->slots)) return -1; break;
		case 'k': if (parse_u32(optarg, "--topk", 1, 1u << 16, &o->topk)) return -1; break;
		case 'e': if (parse_u32(optarg, "--entry-bytes", 1, 1u << 16, &o->entry_bytes)) return -1; break;
		case 'x': if (parse_u32(optarg, "--seed", 0, UINT32_MAX, &seed32)) return -1; o->seed = seed32; break;
		case 'V': o->verify = 0; break;
		case 'C': o->compare = 0; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ess-run: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (strcmp(o->backend, "auto") && strcmp(o->backend, "cpu") &&
	    strcmp(o->backend, "cuda")) {
		fprintf(stderr, "ess-run: --backend must be auto, cpu or cuda, not '%s'\n", o->backend);
		return -1;
	}
	if (strcmp(o->pool, "auto") && strcmp(o->pool, "module") &&
	    strcmp(o->pool, "fallback")) {
		fprintf(stderr, "ess-run: --pool must be auto, module or fallback, not '%s'\n", o->pool);
		return -1;
	}
	if (ess_policy_by_name(o->policy) < 0) {
		fprintf(stderr, "ess-run: unknown policy '%s'\n", o->policy);
		return -1;
	}
	if (o->slots < o->topk) {
		fprintf(stderr, "ess-run: --slots (%u) must be at least --topk (%u)\n",
			o->slots, o->topk);
		return -1;
	}
	if (o->topk > o->context) {
		fprintf(stderr, "ess-run: --topk (%u) must not exceed --context (%u)\n",
			o->topk, o->context);
		return -1;
	}
	return 0;
}

/* The bytes of (req, layer, token): a keyed pseudo-random row, so any row
 * in the wrong place, stale or torn, differs from what is expected. */
static void fill_row(uint8_t *dst, uint32_t n, uint64_t seed, uint32_t req,
		     uint32_t layer, uint32_t token)
{
	uint64_t x = seed ^ ((uint64_t)req << 48) ^ ((uint64_t)layer << 32) ^ token;
	uint32_t i;

	for (i = 0; i < n; i += 8) {
		uint64_t z;

		x += 0x9e3779b97f4a7c15ull;
		z = x;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		memcpy(dst + i, &z, n - i < 8 ? n - i : 8);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct run {
	struct opts o;
	struct ess_trace tr;
	ess_ctx *ctx;
	uint32_t *req;			/* trace column -> request id */
	uint8_t *row;			/* one host row */
	uint8_t *rows_h;		/* [requests * entry] host staging */
	void *rows_b;			/* same, backend memory */
	int32_t *topk_h, *slots_h;	/* [requests * topk] */
	void *topk_b, *slots_b;
	uint8_t *hot_h;			/* one request's slots of a layer */
	uint64_t checked, bad;
	double busy;			/* seconds in append/resolve/sync */
};

static int fail(struct run *r, const char *what, int rc)
{
	fprintf(stderr, "ess-run: %s: %s (%s)\n", what, ess_errmsg(r->ctx),
		ess_strerror(rc));
	return rc;
}

/* Append the tokens held .. len-1 of column q in layer l, one per call. */
static int append_until(struct run *r, uint32_t q, uint32_t l, uint32_t len)
{
	uint32_t held;
	int rc;

	rc = ess_request_tokens(r->ctx, r->req[q], l, &held);
	if (rc)
		return fail(r, "request tokens", rc);
	for (; held < len; held++) {
		double t0;

		fill_row(r->rows_h, r->o.entry_bytes, r->o.seed, q, l, held);
		rc = ess_mem_to_backend(r->ctx, r->rows_b, r->rows_h,
					r->o.entry_bytes, NULL);
		if (rc)
			return fail(r, "row upload", rc);
		t0 = now_s();
		rc = ess_append(r->ctx, l, 1, &r->req[q], r->rows_b, NULL);
		r->busy += now_s() - t0;
		if (rc)
			return fail(r, "append", rc);
	}
	return 0;
}

/* Check every slot id of the batch and, with --verify, its bytes. */
static int verify_batch(struct run *r, uint32_t l, const uint32_t *cols,
			uint32_t n)
{
	const struct ess_config *cfg = ess_get_config(r->ctx);
	uint8_t *hot = ess_hot_layer(r->ctx, l);
	uint32_t i, j, k = r->o.topk, e = r->o.entry_bytes;
	int rc;

	rc = ess_mem_to_host(r->ctx, r->slots_h, r->slots_b,
			     (size_t)n * k * sizeof(int32_t), NULL);
	if (!rc)
		rc = ess_sync(r->ctx, NULL);
	if (rc)
		return fail(r, "slot read-back", rc);
	for (i = 0; i < n; i++) {
		uint32_t rq = r->req[cols[i]];
		uint64_t lo = (uint64_t)rq * cfg->slots;

		if (r->o.verify) {
			rc = ess_mem_to_host(r->ctx, r->hot_h, hot + lo * e,
					     (size_t)cfg->slots * e, NULL);
			if (!rc)
				rc = ess_sync(r->ctx, NULL);
			if (rc)
				return fail(r, "hot buffer read-back", rc);
		}
		for (j = 0; j < k; j++) {
			int32_t tok = r->topk_h[(size_t)i * k + j];
			int32_t s = r->slots_h[(size_t)i * k + j];

			if (tok < 0) {
				r->bad += s != -1;
				continue;
			}
			if (s < 0 || (uint64_t)s < lo || (uint64_t)s >= lo + cfg->slots) {
				if (!r->bad++)
					fprintf(stderr, "ess-run: token %d of request %u in layer %u got slot %d, outside %" PRIu64 "..%" PRIu64 "\n",
						tok, rq, l, s, lo, lo + cfg->slots - 1);
				continue;
			}
			if (!r->o.verify)
				continue;
			fill_row(r->row, e, r->o.seed, cols[i], l, (uint32_t)tok);
			r->checked++;
			if (memcmp(r->row, r->hot_h + ((uint64_t)s - lo) * e, e) &&
			    !r->bad++)
				fprintf(stderr, "ess-run: slot %d of layer %u does not hold token %d of request %u\n",
					s, l, tok, rq);
		}
	}
	return r->bad ? -EIO : 0;
}

static int run_step_layer(struct run *r, uint32_t s, uint32_t l)
{
	const struct ess_trace_info *in = &r->tr.info;
	uint32_t q, n = 0, k = in->topk;
	uint32_t cols[in->requests], reqs[in->requests];
	double t0;
	int rc;

	for (q = 0; q < in->requests; q++) {
		size_t row = ess_trace_row(&r->tr, s, l, q);
		const int32_t *tok = r->tr.tokens + row * k;
		uint32_t len = r->tr.seq_len[row], held;

		if (!len)
			continue;
		rc = append_until(r, q, l, len);
		if (rc)
			return rc;
		/* The first active step is the warm-up: the prefill's top-k. */
		rc = ess_request_tokens(r->ctx, r->req[q], l, &held);
		if (rc)
			return fail(r, "request tokens", rc);
		if (s == 0 || !r->tr.seq_len[ess_trace_row(&r->tr, s - 1, l, q)]) {
			rc = ess_warmup(r->ctx, r->req[q], l, tok, k);
			if (rc)
				return fail(r, "warm-up", rc);
			continue;
		}
		memcpy(r->topk_h + (size_t)n * k, tok, k * sizeof(int32_t));
		cols[n] = q;
		reqs[n++] = r->req[q];
	}
	if (!n)
		return 0;
	rc = ess_mem_to_backend(r->ctx, r->topk_b, r->topk_h,
				(size_t)n * k * sizeof(int32_t), NULL);
	if (rc)
		return fail(r, "top-k upload", rc);
	t0 = now_s();
	rc = ess_resolve(r->ctx, l, n, reqs, r->topk_b, r->slots_b, NULL);
	if (!rc)
		rc = ess_sync(r->ctx, NULL);
	r->busy += now_s() - t0;
	if (rc)
		return fail(r, "resolve", rc);
	return verify_batch(r, l, cols, n);
}

static int setup(struct run *r)
{
	const struct ess_trace_info *in = &r->tr.info;
	struct ess_config cfg;
	char err[512];
	uint32_t q, l, t, maxlen = 0, ext;
	size_t i, rows = (size_t)in->steps * in->layers * in->requests;
	int rc;

	for (i = 0; i < rows; i++)
		if (r->tr.seq_len[i] > maxlen)
			maxlen = r->tr.seq_len[i];
	ess_config_default(&cfg);
	cfg.flags |= ESS_CFG_DATA_CHECK;
	cfg.layers = in->layers;
	cfg.entry_bytes = r->o.entry_bytes;
	cfg.topk = in->topk;
	cfg.slots = r->o.slots;
	cfg.max_requests = in->requests;
	cfg.max_tokens = maxlen;
	cfg.policy = r->o.policy;
	ext = cfg.extent_tokens;
	cfg.pool_bytes = (uint64_t)in->requests * in->layers *
			 ((maxlen + ext - 1) / ext) * ext * cfg.entry_bytes;
	cfg.pool_bytes = (cfg.pool_bytes + (2u << 20) - 1) & ~((uint64_t)(2u << 20) - 1);
	cfg.pool = !strcmp(r->o.pool, "module") ? ESS_POOL_MODULE :
		   !strcmp(r->o.pool, "fallback") ? ESS_POOL_FALLBACK : ESS_POOL_AUTO;
	cfg.backend = !strcmp(r->o.backend, "cpu") ? ESS_BACKEND_CPU : ESS_BACKEND_CUDA;
	rc = ess_create(&cfg, &r->ctx, err, sizeof(err));
	if (rc && !strcmp(r->o.backend, "auto")) {
		printf("CUDA backend not available (%s): using the CPU backend\n", err);
		cfg.backend = ESS_BACKEND_CPU;
		rc = ess_create(&cfg, &r->ctx, err, sizeof(err));
	}
	if (rc) {
		fprintf(stderr, "ess-run: cannot create a context: %s\n", err);
		return rc;
	}
	printf("backend %s, host pool %s (%.1f MiB), policy %s, %u requests x %u layers, "
	       "top-%u of %u slots, %u-byte rows, context %u, %u steps\n",
	       cfg.backend == ESS_BACKEND_CUDA ? "cuda" : "cpu",
	       ess_pool_provider(r->ctx), cfg.pool_bytes / 1048576.0, r->o.policy,
	       in->requests, in->layers, in->topk, cfg.slots, cfg.entry_bytes,
	       r->o.context, in->steps);

	r->req = calloc(in->requests, sizeof(*r->req));
	r->row = malloc(cfg.entry_bytes);
	r->rows_h = malloc((size_t)r->o.context * cfg.entry_bytes);
	r->topk_h = malloc((size_t)in->requests * in->topk * sizeof(int32_t));
	r->slots_h = malloc((size_t)in->requests * in->topk * sizeof(int32_t));
	r->hot_h = malloc((size_t)cfg.slots * cfg.entry_bytes);
	if (!r->req || !r->row || !r->rows_h || !r->topk_h || !r->slots_h || !r->hot_h) {
		fprintf(stderr, "ess-run: out of memory\n");
		return -ENOMEM;
	}
	r->rows_b = ess_mem_alloc(r->ctx, cfg.entry_bytes);
	r->topk_b = ess_mem_alloc(r->ctx, (size_t)in->requests * in->topk * sizeof(int32_t));
	r->slots_b = ess_mem_alloc(r->ctx, (size_t)in->requests * in->topk * sizeof(int32_t));
	if (!r->rows_b || !r->topk_b || !r->slots_b)
		return fail(r, "backend memory", -ENOMEM);

	/* Prefill arrives from the prefill node: ingest it layer by layer. */
	for (q = 0; q < in->requests; q++) {
		rc = ess_request_add(r->ctx, 1000 + q, &r->req[q]);
		if (rc)
			return fail(r, "request add", rc);
		for (l = 0; l < in->layers; l++) {
			for (t = 0; t < r->tr.prefill[q]; t++)
				fill_row(r->rows_h + (size_t)t * cfg.entry_bytes,
					 cfg.entry_bytes, r->o.seed, q, l, t);
			rc = ess_ingest(r->ctx, r->req[q], l, 0, r->tr.prefill[q], r->rows_h);
			if (rc)
				return fail(r, "ingest", rc);
		}
	}
	return 0;
}

static void release(struct run *r)
{
	if (r->ctx) {
		ess_mem_free(r->ctx, r->rows_b);
		ess_mem_free(r->ctx, r->topk_b);
		ess_mem_free(r->ctx, r->slots_b);
		ess_destroy(r->ctx);
	}
	free(r->req);
	free(r->row);
	free(r->rows_h);
	free(r->topk_h);
	free(r->slots_h);
	free(r->hot_h);
	ess_trace_free(&r->tr);
}

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * a / b : 0.0;
}

/* The runtime's counters must equal the CPU replay of the same trace. */
static int compare_replay(struct run *r, const struct ess_stats *st)
{
	struct ess_replay_result rr;
	int rc = ess_trace_replay(&r->tr, r->o.slots,
				  (uint32_t)ess_policy_by_name(r->o.policy), &rr);

	if (rc) {
		fprintf(stderr, "ess-run: replay failed: %s\n", strerror(-rc));
		return rc;
	}
	printf("\ncounters vs an independent replay of the trace (%s):\n", r->o.policy);
	printf("  %-10s %12s %12s\n", "", "runtime", "replay");
	printf("  %-10s %12" PRIu64 " %12" PRIu64 "\n", "lookups", st->lookups, rr.lookups);
	printf("  %-10s %12" PRIu64 " %12" PRIu64 "\n", "misses", st->misses, rr.misses);
	printf("  %-10s %12" PRIu64 " %12" PRIu64 "\n", "evictions", st->evictions, rr.evictions);
	printf("  %-10s %12" PRIu64 " %12" PRIu64 "\n", "appends", st->appends, rr.appends);
	printf("  %-10s %12" PRIu64 " %12" PRIu64 "\n", "warm-up", st->warmups, rr.warmup);
	if (st->lookups != rr.lookups || st->misses != rr.misses ||
	    st->evictions != rr.evictions || st->appends != rr.appends ||
	    st->warmups != rr.warmup) {
		fprintf(stderr, "ess-run: the runtime's counters differ from the replay\n");
		return -EIO;
	}
	printf("  equal\n");
	return 0;
}

static int compare_policies(struct run *r)
{
	const char *const *names = ess_policy_names();
	uint32_t sizes[3] = { r->o.topk, r->o.topk + r->o.topk / 2, r->o.slots };
	uint32_t i, j;

	printf("\nmiss rate after warm-up by hot-buffer size (replay of the same trace):\n");
	printf("  %-12s", "policy");
	for (j = 0; j < 3; j++)
		printf(" %10u", sizes[j]);
	printf("\n");
	for (i = 0; names[i]; i++) {
		printf("  %-12s", names[i]);
		for (j = 0; j < 3; j++) {
			struct ess_replay_result rr;

			if (ess_trace_replay(&r->tr, sizes[j],
					     (uint32_t)ess_policy_by_name(names[i]), &rr))
				return -EIO;
			printf(" %9.3f%%", pct(rr.misses, rr.lookups));
		}
		printf("\n");
	}
	printf("  %-12s", "OPT (Belady)");
	for (j = 0; j < 3; j++) {
		struct ess_replay_result rr;

		if (ess_trace_opt(&r->tr, sizes[j], &rr))
			return -EIO;
		printf(" %9.3f%%", pct(rr.misses, rr.lookups));
	}
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct run r;
	struct ess_trace_gen g;
	struct ess_stats st;
	char err[512];
	uint32_t s, l;
	int rc;

	memset(&r, 0, sizeof(r));
	r.o = (struct opts){ "auto", "auto", "lru", 8, 4, 64, 32768, 6144, 2048,
			     656, 1, 1, 1 };
	if (parse_args(argc, argv, &r.o))
		return 2;

	ess_trace_gen_default(&g);
	g.layers = r.o.layers;
	g.topk = r.o.topk;
	g.requests = r.o.requests;
	g.steps = r.o.steps;
	g.prefill = r.o.context;
	g.seed = r.o.seed;
	rc = ess_trace_gen_check(&g, err, sizeof(err));
	if (!rc)
		rc = ess_trace_generate(&g, &r.tr, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ess-run: trace: %s\n", err);
		return 2;
	}
	rc = setup(&r);
	for (s = 0; !rc && s < r.tr.info.steps; s++)
		for (l = 0; !rc && l < r.tr.info.layers; l++)
			rc = run_step_layer(&r, s, l);
	if (!rc)
		rc = ess_sync(r.ctx, NULL);
	if (!rc)
		rc = ess_stats_get(r.ctx, &st);
	if (rc) {
		if (r.ctx)
			fprintf(stderr, "ess-run: failed: %s\n", ess_errmsg(r.ctx));
		release(&r);
		return 1;
	}
	printf("\n%-28s %14s\n", "counter", "value");
	printf("%-28s %14" PRIu64 "\n", "top-k lookups", st.lookups);
	printf("%-28s %14" PRIu64 "  (%.2f%%)\n", "hits", st.hits, pct(st.hits, st.lookups));
	printf("%-28s %14" PRIu64 "  (%.2f%%)\n", "misses", st.misses, pct(st.misses, st.lookups));
	printf("%-28s %14" PRIu64 "\n", "evictions", st.evictions);
	printf("%-28s %14" PRIu64 "\n", "rows appended", st.appends);
	printf("%-28s %14" PRIu64 "\n", "rows loaded by warm-up", st.warmups);
	printf("%-28s %14.1f\n", "MB host -> hot buffer", st.bytes_h2d / 1e6);
	printf("%-28s %14.1f\n", "MB written back to host", st.bytes_d2h / 1e6);
	printf("%-28s %14" PRIu64 "  (%" PRIu64 " failed)\n", "slots data-checked (runtime)",
	       st.data_checks, st.data_check_failures);
	printf("%-28s %14" PRIu64 "  (%" PRIu64 " bad)\n", "slots byte-checked (here)",
	       r.checked, r.bad);
	printf("%-28s %14.3f\n", "seconds in append/resolve", r.busy);
	printf("%-28s %14.0f\n", "layer resolves per second",
	       r.busy > 0 ? (double)st.resolves / r.busy : 0.0);
	rc = compare_replay(&r, &st);
	if (!rc && r.o.compare)
		rc = compare_policies(&r);
	release(&r);
	if (rc || st.data_check_failures || r.bad)
		return 1;
	printf("\ness-run: every slot held the right row\n");
	return 0;
}
