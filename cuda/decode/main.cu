// SPDX-License-Identifier: MIT
/*
 * ess-bench-decode: an emulated DeepSeek-V3.2-Exp decode loop on the GPU,
 * the baseline (every latent row in HBM) against ESS (rows in pinned host
 * memory, a hot buffer per request and layer), at the batch each can hold
 * in the same HBM budget.  Documentation/dev/decode-bench.md.
 *
 *   ess-bench-decode [options]   markdown table on stdout
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decode.h"
#include "side.h"
#include "standin.h"
#include "stream.h"

extern "C" {
#include "ess/hotset.h"
#include "model.h"
#include "profile.h"
}

struct opts {
	uint32_t ctx[16], nctx;
	uint32_t layers, steps, warm, reps, spin_blocks;
	long batch[2];		/* 0: from the simulator's memory model */
	double mem_frac;
	double hbm_budget;	/* bytes for caches; 0: the simulator's */
	const char *trace, *csv;
	int standin;
};

struct result {
	long batch;
	const char *limit;
	uint32_t layers;
	double layer_us, cache_us, standin_us, head_ms, step_l_ms, step_ms, tok_s;
	double hit, h2d_mb, d2h_mb;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ess-bench-decode [-c CTX[,CTX..]] [-l LAYERS] [--steps N] [--warm N]\n"
		"         [--batch-base N] [--batch-ess N] [-p PROFILE] [-s 'key = value']...\n"
		"         [--trace FILE] [--csv FILE] [--no-standin] [--mem-frac F]\n"
		"         [--spin-blocks N] [--reps N] [--hbm-budget GB] [--small]\n"
		"  -c        contexts (default 8K,16K,32K,64K,128K; K = 1024)\n"
		"  -l        layers run per step (default 4; fewer if memory is short)\n"
		"  --steps   steps of the top-k stream, --warm of them untimed (24, 8)\n"
		"  --reps    timed repetitions of the graph, median reported (5)\n"
		"  --hbm-budget  HBM for caches per GPU, both sides (default: the profile's\n"
		"            HBM x usable - weights - reserve)\n"
		"  -p, -s    simulator profile and overrides: HBM budget, slots, policy,\n"
		"            and the stand-in times (sim/profiles/, ess-sim --keys)\n"
		"  --small   a quick run: context 8K, batch 4 each side, 2 layers\n");
}

static int parse_u32(const char *s, uint32_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || end == s || x > 0xffffffffull)
		return -1;
	if (*end == 'K' || *end == 'k') {
		x *= 1024;
		end++;
	}
	if (*end || x == 0 || x > 0xffffffffull)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

/* The policies the management kernel knows (include/ess/hotset.h). */
static int policy_id(const char *name)
{
	return !strcmp(name, "lru") ? ESS_POLICY_LRU : !strcmp(name, "lfru") ? ESS_POLICY_LFRU
		: !strcmp(name, "ret") ? ESS_POLICY_RET : -1;
}

static int parse_args(int argc, char **argv, struct opts *o, struct sim_params *p)
{
	char msg[256];
	const uint32_t dctx[] = {8192, 16384, 32768, 65536, 131072};
	memset(o, 0, sizeof(*o));
	memcpy(o->ctx, dctx, sizeof(dctx));
	o->nctx = 5;
	o->layers = 4;
	o->steps = 24;
	o->warm = 8;
	o->reps = 5;
	o->mem_frac = 0.85;
	o->standin = 1;
	sim_params_default(p);
	/* one query token per request and step: no MTP draft */
	if (sim_profile_set(p, "deploy.mtp_depth = 0", msg, sizeof(msg)))
		return -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint32_t u;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--small")) {
			o->ctx[0] = 8192;
			o->nctx = 1;
			o->batch[0] = o->batch[1] = 4;
			o->layers = 2;
			o->steps = 12;
			o->warm = 4;
			o->reps = 3;
		} else if (!strcmp(a, "--no-standin")) {
			o->standin = 0;
		} else if (!v) {
			fprintf(stderr, "ess-bench-decode: %s: missing argument or unknown option\n", a);
			return -1;
		} else if (!strcmp(a, "-c")) {
			char buf[256], *save = NULL;
			snprintf(buf, sizeof(buf), "%s", v);
			o->nctx = 0;
			for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				if (o->nctx == 16 || parse_u32(t, &u) || u < DEC_TOPK) {
					fprintf(stderr, "ess-bench-decode: bad context '%s' (>= 2048, at most 16)\n", t);
					return -1;
				}
				o->ctx[o->nctx++] = u;
			}
			if (!o->nctx)
				return -1;
			i++;
		} else if (!strcmp(a, "-l") || !strcmp(a, "--steps") || !strcmp(a, "--warm") ||
			   !strcmp(a, "--spin-blocks") || !strcmp(a, "--reps")) {
			if (parse_u32(v, &u) || u > 100000) {
				fprintf(stderr, "ess-bench-decode: %s: bad count '%s'\n", a, v);
				return -1;
			}
			*(!strcmp(a, "-l") ? &o->layers : !strcmp(a, "--steps") ? &o->steps
				: !strcmp(a, "--warm") ? &o->warm : !strcmp(a, "--reps") ? &o->reps
				: &o->spin_blocks) = u;
			i++;
		} else if (!strcmp(a, "--batch-base") || !strcmp(a, "--batch-ess")) {
			if (parse_u32(v, &u) || u > 65535) {
				fprintf(stderr, "ess-bench-decode: %s: bad batch '%s'\n", a, v);
				return -1;
			}
			o->batch[!strcmp(a, "--batch-ess")] = u;
			i++;
		} else if (!strcmp(a, "--hbm-budget")) {
			char *end;
			o->hbm_budget = strtod(v, &end) * 1e9;
			if (*end || !(o->hbm_budget >= 1e9 && o->hbm_budget <= 1e13)) {
				fprintf(stderr, "ess-bench-decode: --hbm-budget: want GB for caches, 1 to 10000\n");
				return -1;
			}
			i++;
		} else if (!strcmp(a, "--mem-frac")) {
			char *end;
			o->mem_frac = strtod(v, &end);
			if (*end || !(o->mem_frac > 0.05 && o->mem_frac <= 0.98)) {
				fprintf(stderr, "ess-bench-decode: --mem-frac: want 0.05 < F <= 0.98\n");
				return -1;
			}
			i++;
		} else if (!strcmp(a, "-p")) {
			if (sim_profile_load(p, v, msg, sizeof(msg))) {
				fprintf(stderr, "ess-bench-decode: %s\n", msg);
				return -1;
			}
			i++;
		} else if (!strcmp(a, "-s")) {
			if (sim_profile_set(p, v, msg, sizeof(msg))) {
				fprintf(stderr, "ess-bench-decode: %s\n", msg);
				return -1;
			}
			i++;
		} else if (!strcmp(a, "--trace")) {
			o->trace = v;
			i++;
		} else if (!strcmp(a, "--csv")) {
			o->csv = v;
			i++;
		} else {
			fprintf(stderr, "ess-bench-decode: unknown option %s\n", a);
			return -1;
		}
	}
	/* the cache budget is what the simulator leaves after weights and
	 * the reserve: move the reserve so that it leaves the given bytes */
	if (o->hbm_budget > 0) {
		const double room = sim_hbm_for_cache(p) + p->deploy.hbm_reserve;
		if (o->hbm_budget > room) {
			fprintf(stderr, "ess-bench-decode: --hbm-budget above the %.1f GB the profile's HBM "
				"leaves after the weights\n", room / 1e9);
			return -1;
		}
		p->deploy.hbm_reserve = room - o->hbm_budget;
	}
	if (p->deploy.mtp_depth != 0) {
		fprintf(stderr, "ess-bench-decode: deploy.mtp_depth must stay 0 (one query token per step)\n");
		return -1;
	}
	if (!o->layers || o->warm < 1 || o->warm >= o->steps || o->reps > 31) {
		fprintf(stderr, "ess-bench-decode: want layers >= 1, 1 <= warm < steps, reps <= 31\n");
		return -1;
	}
	if (policy_id(p->ess.policy) < 0) {
		fprintf(stderr, "ess-bench-decode: ess.policy '%s': the GPU knows lru, lfru, ret\n",
			p->ess.policy);
		return -1;
	}
	if (p->ess.slots < DEC_TOPK) {
		fprintf(stderr, "ess-bench-decode: ess.slots %.0f below top-k %u\n", p->ess.slots, DEC_TOPK);
		return -1;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	const double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/*
 * One timed pass: the steps after the warm-up are captured once into a
 * graph; each repetition resets the hot buffers, runs the warm-up steps
 * eagerly and launches the graph between two events.  The median time
 * is returned, the counters are the last repetition's.
 */
static int pass(struct dec_side *d, const struct opts *o, int standin, double *ms,
		struct dec_counts *cn)
{
	cudaStream_t s = dec_side_stream(d);
	cudaGraph_t g;
	cudaGraphExec_t ge;
	cudaEvent_t e0, e1;
	double t[32];
	float f;
	int r;
	/* warm-up steps once before capture: lazy module and attribute set-up */
	if ((r = dec_side_reset(d)))
		return r;
	for (uint32_t k = 0; k < o->warm; k++)
		if ((r = dec_side_step(d, k, standin)))
			return r;
	if (cudaStreamSynchronize(s))
		return -EIO;
	if (cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal))
		return -EIO;
	for (uint32_t k = o->warm; k < o->steps; k++)
		if ((r = dec_side_step(d, k, standin))) {
			cudaStreamEndCapture(s, &g);
			return r;
		}
	if (cudaStreamEndCapture(s, &g) || cudaGraphInstantiate(&ge, g, 0))
		return -EIO;
	if (cudaEventCreate(&e0) || cudaEventCreate(&e1) || cudaGraphUpload(ge, s))
		return -EIO;
	for (uint32_t rep = 0; rep < o->reps; rep++) {
		if ((r = dec_side_reset(d)))
			return r;
		for (uint32_t k = 0; k < o->warm; k++)
			if ((r = dec_side_step(d, k, standin)))
				return r;
		if ((r = dec_side_zero_counts(d)))
			return r;
		if (cudaEventRecord(e0, s) || cudaGraphLaunch(ge, s) || cudaEventRecord(e1, s) ||
		    cudaEventSynchronize(e1) || cudaEventElapsedTime(&f, e0, e1))
			return -EIO;
		t[rep] = f;
	}
	qsort(t, o->reps, sizeof(t[0]), cmp_double);
	*ms = t[o->reps / 2];
	cudaEventDestroy(e0);
	cudaEventDestroy(e1);
	cudaGraphExecDestroy(ge);
	cudaGraphDestroy(g);
	return dec_side_counts(d, cn);
}

static int run_side(int ess, uint32_t ctx, long batch, uint32_t layers, const struct opts *o,
		    const struct sim_params *p, const struct dec_topk_stream *ts, struct result *res)
{
	struct dec_standin si;
	struct dec_cfg c;
	struct dec_stream st = {ts->rows, ts->seq_len};
	struct dec_counts cn, cn0;
	char err[256];
	double full, bare;
	dec_standin_get(p, batch, &si);
	memset(&c, 0, sizeof(c));
	c.ess = ess;
	c.batch = (uint32_t)batch;
	c.layers = layers;
	c.steps = o->steps;
	c.warm = o->warm;
	c.slots = (uint32_t)p->ess.slots;
	c.policy = (uint32_t)policy_id(p->ess.policy);
	c.cap = (ts->max_len + 63) / 64 * 64;
	c.prefill = ts->prefill;
	c.pre_ns = (uint64_t)(si.pre_s * 1e9);
	c.mid_ns = (uint64_t)(si.mid_s * 1e9);
	c.post_ns = (uint64_t)(si.post_s * 1e9);
	c.spin_blocks = o->spin_blocks;
	struct dec_side *d = dec_side_new(&c, &st, err, sizeof(err));
	if (!d) {
		fprintf(stderr, "ess-bench-decode: %s at context %u: %s\n", ess ? "ESS" : "baseline", ctx, err);
		return -1;
	}
	int r = pass(d, o, o->standin, &full, &cn);
	if (!r)
		r = pass(d, o, 0, &bare, &cn0);
	dec_side_free(d);
	if (r) {
		fprintf(stderr, "ess-bench-decode: pass failed (%d): %s\n", r,
			cudaGetErrorString(cudaGetLastError()));
		return -1;
	}
	if (cn.err) {
		fprintf(stderr, "ess-bench-decode: management error word %d\n", cn.err);
		return -1;
	}
	const double steps = o->steps - o->warm, scale = si.layers / layers;
	res->batch = batch;
	res->layers = layers;
	res->layer_us = full * 1e3 / (steps * layers);
	res->cache_us = bare * 1e3 / (steps * layers);
	res->standin_us = o->standin ? (si.pre_s + si.mid_s + si.post_s) * 1e6 : 0;
	res->head_ms = si.head_s * 1e3;
	res->step_l_ms = full / steps;
	res->step_ms = res->step_l_ms * scale + res->head_ms;
	res->tok_s = batch / (res->step_ms * 1e-3);
	res->hit = cn.lookups ? (double)cn.hits / (double)cn.lookups : 1.0;
	res->h2d_mb = cn.bytes_h2d / steps * scale / 1e6;
	res->d2h_mb = ess ? (double)batch * DEC_ROW * si.layers / 1e6 : 0;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct sim_params p;
	cudaDeviceProp prop;
	int dev, drv = 0, n = 0;
	if (parse_args(argc, argv, &o, &p)) {
		usage(stderr);
		return 2;
	}
	if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
		fprintf(stderr, "ess-bench-decode: no CUDA device\n");
		return 1;
	}
	cudaGetDevice(&dev);
	cudaGetDeviceProperties(&prop, dev);
	cudaDriverGetVersion(&drv);
	if (!o.spin_blocks)
		o.spin_blocks = (uint32_t)prop.multiProcessorCount;
	FILE *csv = NULL;
	if (o.csv && !(csv = fopen(o.csv, "w"))) {
		perror(o.csv);
		return 1;
	}
	time_t now = time(NULL);
	char date[64];
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
	printf("# ess-bench-decode: %s, %d SMs, %.0f MiB, CUDA driver API %d.%d, %s\n\n", prop.name,
	       prop.multiProcessorCount, prop.totalGlobalMem / 1048576.0, drv / 1000, (drv % 1000) / 10, date);
	printf("Batch: the largest each side holds in the simulator's HBM budget for %.0f layers "
	       "(%.1f GB for caches; --batch-* overrides).  %u steps of top-k 2048 from %s, "
	       "%u warm-up, the rest one CUDA graph (median of %u launches).  **Stand-in:** projections, FFN/MoE, "
	       "all-to-all and overhead are busy kernels timed by the simulator's model, the LM "
	       "head is added from it%s.  Step = measured per layer x %.0f + head.\n\n",
	       p.model.layers, sim_hbm_for_cache(&p) / 1e9, o.steps,
	       o.trace ? o.trace : "the synthetic generator", o.warm, o.reps,
	       o.standin ? "" : " (stand-in kernels OFF: --no-standin)", p.model.layers);
	printf("| context | side | batch | layers run | layer us | cache part us | stand-in us | "
	       "step ms (run) | step ms (model) | tok/s | ratio | hit %% | H2D MB/step | D2H MB/step |\n"
	       "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	if (csv) {
		fprintf(csv, "# ess-bench-decode (cuda/decode/, Documentation/dev/decode-bench.md) on %s,\n"
			"# CUDA driver API %d.%d, %s; %u steps (%u warm-up), top-k from %s.\n"
			"# Stand-in (not run as real kernels): projections, FFN/MoE, all-to-all and\n"
			"# overhead as busy kernels of the simulator's times (standin_us per layer), LM\n"
			"# head added (head_ms).  layer_us: measured per layer with the stand-in;\n"
			"# cache_us: the cache part alone (indexer, top-k, resolve+fetch, attention,\n"
			"# row writes); step_ms = layer_us x model_layers / 1000 + head_ms.\n"
			"what,side,context,batch,limit,layers_run,model_layers,layer_us,cache_us,standin_us,"
			"head_ms,step_ms,tok_s,ratio,hit_rate,h2d_mb_per_step,d2h_mb_per_step\n",
			prop.name, drv / 1000, (drv % 1000) / 10, date, o.steps, o.warm,
			o.trace ? o.trace : "the synthetic generator");
	}
	int rc = 0;
	for (uint32_t i = 0; i < o.nctx; i++) {
		const uint32_t ctx = o.ctx[i];
		struct result res[2];
		struct dec_topk_stream ts;
		enum sim_limit lim[2] = {SIM_LIMIT_HBM, SIM_LIMIT_HBM};
		long B[2];
		char err[256];
		p.work.context = ctx;
		for (int side = 0; side < 2; side++) {
			B[side] = o.batch[side] ? o.batch[side]
						: sim_mem_batch(&p, side ? SIM_ESS : SIM_BASELINE, &lim[side]);
			if (B[side] < 1 || B[side] > 65535) {
				fprintf(stderr, "ess-bench-decode: context %u: batch %ld out of range\n", ctx, B[side]);
				rc = 1;
				goto next;
			}
		}
		if (dec_stream_make(o.trace, ctx, B[0] > B[1] ? B[0] : B[1], o.layers, o.steps, &ts, err,
				    sizeof(err))) {
			fprintf(stderr, "ess-bench-decode: %s\n", err);
			rc = 1;
			goto next;
		}
		{
			/* the same number of layers for both sides, as many as fit */
			size_t fr, tot;
			uint32_t L = o.layers;
			cudaMemGetInfo(&fr, &tot);
			for (; L > 1; L--) {
				uint64_t need = 0;
				for (int side = 0; side < 2; side++) {
					struct dec_cfg c;
					uint64_t dv, hs;
					memset(&c, 0, sizeof(c));
					c.ess = side;
					c.batch = (uint32_t)B[side];
					c.layers = L;
					c.steps = o.steps;
					c.slots = (uint32_t)p.ess.slots;
					c.cap = (ts.max_len + 63) / 64 * 64;
					dec_side_bytes(&c, &dv, &hs);
					if (dv > need)
						need = dv;
				}
				if (need <= fr * o.mem_frac)
					break;
			}
			for (int side = 0; side < 2 && !rc; side++) {
				if (run_side(side, ctx, B[side], L, &o, &p, &ts, &res[side])) {
					rc = 1;
					break;
				}
				res[side].limit = o.batch[side] ? "given" : sim_limit_name(lim[side]);
			}
		}
		dec_stream_free(&ts);
		if (rc)
			break;
		for (int side = 0; side < 2; side++) {
			const struct result *r = &res[side];
			const double ratio = r->tok_s / res[0].tok_s;
			char hit[32] = "-";
			if (side)
				snprintf(hit, sizeof(hit), "%.1f", 100 * r->hit);
			char cx[16];
			snprintf(cx, sizeof(cx), ctx % 1024 ? "%u" : "%uK", ctx % 1024 ? ctx : ctx / 1024);
			printf("| %s | %s | %ld (%s) | %u | %.1f | %.1f | %.1f | %.2f | %.1f | %.0f | %.3f | %s | "
			       "%.1f | %.1f |\n", cx, side ? "ESS" : "baseline", r->batch, r->limit,
			       r->layers, r->layer_us, r->cache_us, r->standin_us, r->step_l_ms, r->step_ms,
			       r->tok_s, ratio, hit, r->h2d_mb, r->d2h_mb);
			if (csv)
				fprintf(csv, "context %u %s,%s,%u,%ld,%s,%u,%.0f,%.2f,%.2f,%.2f,%.3f,%.3f,%.1f,%.4f,"
					"%.4f,%.3f,%.3f\n", ctx, side ? "ess" : "baseline",
					side ? "ess" : "baseline", ctx, r->batch, r->limit, r->layers,
					p.model.layers, r->layer_us, r->cache_us, r->standin_us, r->head_ms,
					r->step_ms, r->tok_s, ratio, side ? r->hit : 1.0, r->h2d_mb, r->d2h_mb);
		}
		fflush(stdout);
next:
		if (rc)
			break;
	}
	if (csv)
		fclose(csv);
	printf("\nLayers run may be fewer than %.0f (memory); per-layer figures are measured, "
	       "\"model\" figures scale them to %.0f layers.  Results are for one query token per "
	       "request and step (no MTP).\n", p.model.layers, p.model.layers);
	return rc;
}
