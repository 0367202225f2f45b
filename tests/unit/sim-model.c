// SPDX-License-Identifier: MIT
/*
 * ess-sim model sanity: memory and batch limits against hand arithmetic,
 * monotonic behaviour in context and batch, the ESS overlap, MTP, caps and
 * the SLO search, and the built-in profile's baseline batch near the
 * paper's 52 at 32K.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../sim/model.h"
#include "../../sim/profile.h"

static int n;

static void ok(int cond, const char *desc)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, desc);
}

static int near(double a, double b, double rel)
{
	return fabs(a - b) <= rel * fabs(b);
}

/* A small deployment whose memory arithmetic is done by hand below. */
static void small(struct sim_params *p)
{
	char err[256];
	int rc;

	sim_params_default(p);
	rc = sim_profile_parse(p,
		"hw.hbm_bytes = 100 GB\nhw.hbm_usable = 1\n"
		"deploy.weights_per_gpu = 20 GB\ndeploy.hbm_reserve = 0 B\n"
		"model.layers = 2\nmodel.dense_layers = 0\ndeploy.mtp_depth = 0\n"
		"workload.context = 1000\nworkload.output = 24\n"
		"ess.slots = 256\nhw.host_dram_bytes = 1 TB\nhw.host_dram_usable = 1\n"
		"hw.gpus_per_node = 8\n", "small", err, sizeof(err));
	if (rc)
		printf("# %s\n", err);
}

int main(void)
{
	struct sim_params p, q;
	struct sim_step a, b;
	struct sim_point pt, pb;
	enum sim_limit lim;
	long mb;

	printf("1..22\n");

	/* whole model on one GPU, 1 byte per weight: DeepSeek-V3's 671B */
	sim_params_default(&p);
	p.deploy.ep = 1;
	p.deploy.mtp_depth = 0;
	p.model.embed_bytes = 1;
	ok(sim_weights_per_gpu(&p) > 670e9 && sim_weights_per_gpu(&p) < 673e9,
	   "weights of the full model come to 671B parameters");
	sim_params_default(&p);
	ok(sim_weights_per_gpu(&p) > 35e9 && sim_weights_per_gpu(&p) < 45e9,
	   "built-in EP32 deployment holds 35-45 GB of weights per GPU");

	small(&p);
	/* 1024 tokens (1000+24, one 64-token page granule), 2 layers */
	ok(sim_request_tokens(&p) == 1024, "request reserves context + output rounded to pages");
	ok(sim_hbm_per_request(&p, SIM_BASELINE) == 1024.0 * 2 * (656 + 132),
	   "baseline HBM per request = tokens x layers x (656 + 132)");
	ok(sim_hbm_per_request(&p, SIM_ESS) == 1024.0 * 2 * (132 + 2) + 256.0 * 2 * (656 + 18),
	   "ESS HBM per request = tokens x (indexer cache + map entry) + slots x (656 + metadata)");
	mb = sim_mem_batch(&p, SIM_BASELINE, &lim);
	ok(mb == 49571 && lim == SIM_LIMIT_HBM, "baseline batch = floor(80e9 / 1613824) = 49571");
	mb = sim_mem_batch(&p, SIM_ESS, &lim);
	ok(mb == 93041 && lim == SIM_LIMIT_HOST,
	   "ESS batch = min(HBM 129132, host 125e9 / 1343488 = 93041), host-limited");
	p.hw.host_dram_bytes = 8e12;
	mb = sim_mem_batch(&p, SIM_ESS, &lim);
	ok(mb == 129132 && lim == SIM_LIMIT_HBM, "with more host DRAM ESS is HBM-limited at 129132");
	p.ess.slots = 1e6;
	ok(sim_hbm_per_request(&p, SIM_ESS) == 1024.0 * 2 * (132 + 2 + 656 + 18),
	   "slots beyond the request's tokens cost nothing");

	/* monotonic in context */
	sim_params_default(&p);
	{
		int mono = 1;
		struct sim_point prev_b, prev_e;
		struct sim_step sprev, s;

		memset(&prev_b, 0, sizeof(prev_b));
		memset(&prev_e, 0, sizeof(prev_e));
		memset(&sprev, 0, sizeof(sprev));
		for (int i = 0, c = 4096; c <= 262144; c *= 2, i++) {
			q = p;
			q.work.context = c;
			sim_evaluate(&q, SIM_BASELINE, &pb);
			sim_evaluate(&q, SIM_ESS, &pt);
			sim_step_time(&q, SIM_ESS, 32, &s);
			if (i > 0 && (pb.batch > prev_b.batch || pt.batch > prev_e.batch ||
				      pb.tok_s > prev_b.tok_s || s.total < sprev.total ||
				      fabs(s.fetch_bytes - sprev.fetch_bytes) > 1e-6 * s.fetch_bytes))
				mono = 0;
			prev_b = pb;
			prev_e = pt;
			sprev = s;
		}
		ok(mono, "longer context: batches and baseline tok/s never rise, step time "
		   "never falls, ESS fetch bytes unchanged at a fixed batch");
	}
	{
		int mono = 1;

		for (long bt = 1; bt < 400; bt += 7) {
			sim_step_time(&p, SIM_BASELINE, bt, &a);
			sim_step_time(&p, SIM_BASELINE, bt + 7, &b);
			if (b.total <= a.total)
				mono = 0;
			sim_step_time(&p, SIM_ESS, bt, &a);
			sim_step_time(&p, SIM_ESS, bt + 7, &b);
			if (b.total <= a.total)
				mono = 0;
		}
		ok(mono, "step time rises with batch on both sides");
	}

	/* ESS with no misses = baseline + resolve kernels */
	q = p;
	q.ess.miss_rate = 0;
	q.deploy.mtp_depth = 0;	/* the breakdown's manage excludes the MTP layer */
	q.ess.split_min_context = 1e9;	/* one indexer chunk: no extra kernels */
	sim_step_time(&q, SIM_BASELINE, 64, &a);
	sim_step_time(&q, SIM_ESS, 64, &b);
	ok(b.fetch == 0 && near(b.total, a.total + b.manage, 1e-12),
	   "no misses: ESS step = baseline step + resolve kernels");

	ok(near(sim_fetch_time(&p, 131072, 0), p.hw.fetch_latency + 131072.0 * 656 / p.hw.pcie_h2d, 1e-12) &&
	   sim_fetch_time(&p, 0, 1) == 0,
	   "fetch time = latency + rows x 656 B / PCIe rate; nothing to fetch costs nothing");

	/* overlap: a small fetch hides completely, a huge one is exposed */
	q = p;
	q.ess.miss_rate = 0.001;
	sim_step_time(&q, SIM_ESS, 64, &a);
	ok(a.fetch > 0 && a.fetch_exposed == 0, "a small fetch hides behind the indexer");
	q.ess.miss_rate = 1;
	sim_step_time(&q, SIM_ESS, 64, &a);
	ok(a.fetch_exposed > 0.5 * a.fetch, "a fetch of every top-k row is mostly exposed");
	q.ess.miss_rate = 0.2;
	q.ess.split_min_context = 0;
	q.ess.splits = 1;
	sim_step_time(&q, SIM_ESS, 64, &a);
	q.ess.splits = 8;
	sim_step_time(&q, SIM_ESS, 64, &b);
	ok(b.fetch_exposed < a.fetch_exposed, "splitting the indexer along the batch hides more fetch");

	/* MTP: accepted tokens */
	q = p;
	q.deploy.mtp_depth = 2;
	q.deploy.mtp_accept = 0.5;
	sim_step_time(&q, SIM_BASELINE, 8, &a);
	ok(near(a.tokens, 1.75, 1e-12), "MTP depth 2 at 50% acceptance gives 1.75 tokens per step");

	sim_evaluate(&p, SIM_BASELINE, &pb);
	ok(pb.batch > 0 && near(pb.tok_s, pb.batch * pb.step.tokens / pb.step.total, 1e-12),
	   "tokens/s = batch x accepted tokens / step time");

	q = p;
	q.deploy.max_batch = 10;
	sim_evaluate(&q, SIM_ESS, &pt);
	ok(pt.batch == 10 && pt.limit == SIM_LIMIT_CAP, "max_batch caps the batch");

	q = p;
	q.deploy.tpot_slo = 0.020;
	sim_evaluate(&q, SIM_ESS, &pt);
	{
		struct sim_step s1;

		sim_step_time(&q, SIM_ESS, pt.batch + 1, &s1);
		ok(pt.limit == SIM_LIMIT_SLO && pt.batch > 0 && pt.tpot <= 0.020 &&
		   s1.total / s1.tokens > 0.020,
		   "TPOT limit: the largest batch meeting it, and one more breaks it");
	}

	q = p;
	q.work.context = 32768;
	sim_evaluate(&q, SIM_BASELINE, &pb);
	ok(pb.batch >= 47 && pb.batch <= 57 && pb.limit == SIM_LIMIT_HBM,
	   "built-in profile: baseline batch at 32K is HBM-bound near the paper's 52");
	printf("# baseline batch at 32K: %ld\n", pb.batch);

	q = p;
	q.hw.hbm_bytes = 10e9;
	sim_evaluate(&q, SIM_BASELINE, &pb);
	ok(pb.batch == 0 && pb.tok_s == 0, "weights larger than HBM: batch 0, no throughput");
	return 0;
}
