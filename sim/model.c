// SPDX-License-Identifier: MIT
/*
 * Decode-step model.  Each operator is a roofline: the larger of its HBM
 * traffic at the achieved bandwidth and its FLOPs at the achieved tensor
 * rate.  Decode operators at these batch sizes sit near the ridge, so the
 * roofline is the simplest model that moves the right way with batch and
 * context; the constants that make it match a GPU are in the hardware
 * profile and are calibrated (sim/calibration/).
 */
#include <math.h>
#include <string.h>

#include "model.h"

/*
 * A non-GEMM kernel (indexer scan, top-k, attention, streaming reads): its
 * fixed time plus the larger of its HBM traffic and its compute.
 */
static double roofline_eff(const struct sim_params *p, double bytes, double flops,
			   double rate, double eff)
{
	double tm = bytes / (p->hw.hbm_bw * eff);
	double tc = rate > 0 ? flops / rate : 0;

	return p->hw.kernel_floor + (tm > tc ? tm : tc);
}

static double roofline(const struct sim_params *p, double bytes, double flops,
		       double rate)
{
	return roofline_eff(p, bytes, flops, rate, p->hw.hbm_eff);
}

/*
 * A GEMM streaming `bytes` of weights for `flops`: fixed time plus a
 * smooth roofline (m^p + c^p)^(1/p), which follows measured decode GEMMs
 * near the ridge better than max(m, c) (sim/calibration/h200-compute.csv).
 */
static double gemm_t(const struct sim_params *p, double bytes, double flops,
		     int fp8)
{
	const struct sim_hw *hw = &p->hw;
	double m = bytes / (hw->hbm_bw * hw->gemm_bw_eff);
	double c = flops / (fp8 ? hw->fp8_rate * hw->gemm_eff :
			    hw->bf16_rate * hw->gemm_eff_bf16);
	double e = hw->gemm_sharpness;

	if (bytes <= 0 && flops <= 0)
		return 0;
	return hw->kernel_floor + pow(pow(m, e) + pow(c, e), 1 / e);
}

double sim_gemm_time(const struct sim_params *p, double K, double M, double N,
		     int fp8)
{
	return gemm_t(p, K * M * (fp8 ? 1 : 2), 2 * K * M * N, fp8);
}

double sim_stream_time(const struct sim_params *p, double bytes)
{
	return roofline(p, bytes, 0, 0);
}

/* Parameters of the layer parts, in weights (not bytes). */
struct shapes {
	double q_a, kv_a, idx_q, idx_k;	/* before the indexer */
	double q_b, uk;			/* after it, before attention */
	double uv, o;			/* after attention */
	double expert, router, dense_ffn;
};

static void shapes(const struct sim_params *p, struct shapes *s)
{
	const struct sim_model *m = &p->model;

	s->q_a = m->hidden * m->q_lora_rank;
	s->kv_a = m->hidden * (m->kv_lora_rank + m->rope_dim);
	s->idx_q = m->q_lora_rank * m->index_heads * m->index_dim;
	s->idx_k = m->hidden * m->index_dim + m->hidden * m->index_heads;
	s->q_b = m->q_lora_rank * m->heads * (m->nope_dim + m->rope_dim);
	s->uk = m->kv_lora_rank * m->heads * m->nope_dim;
	s->uv = m->kv_lora_rank * m->heads * m->v_dim;
	s->o = m->heads * m->v_dim * m->hidden;
	s->expert = 3 * m->hidden * m->moe_intermediate;
	s->router = m->hidden * m->routed_experts;
	s->dense_ffn = 3 * m->hidden * m->dense_intermediate;
}

static double local_experts(const struct sim_params *p)
{
	return ceil(p->model.routed_experts / p->deploy.ep) + p->deploy.redundant_experts;
}

double sim_weights_per_gpu(const struct sim_params *p)
{
	const struct sim_model *m = &p->model;
	struct shapes s;
	double attn, moe_layers, w;

	if (p->deploy.weights_per_gpu > 0)
		return p->deploy.weights_per_gpu;
	shapes(p, &s);
	attn = s.q_a + s.kv_a + s.idx_q + s.idx_k + s.q_b + s.uk + s.uv + s.o;
	moe_layers = m->layers - m->dense_layers;
	/* replicated under data-parallel attention */
	w = (m->layers * attn + m->dense_layers * s.dense_ffn +
	     moe_layers * (m->shared_experts * s.expert + s.router)) * m->weight_bytes;
	w += 2 * m->vocab * m->hidden * m->embed_bytes;
	/* routed experts, split over the EP group */
	w += moe_layers * local_experts(p) * s.expert * m->weight_bytes;
	if (p->deploy.mtp_depth > 0)	/* one MTP layer, reused per draft */
		w += (attn + m->shared_experts * s.expert + s.router +
		      2 * m->hidden * m->hidden +
		      local_experts(p) * s.expert) * m->weight_bytes;
	return w;
}

double sim_cache_layers(const struct sim_params *p)
{
	return p->model.layers + (p->deploy.mtp_depth > 0 ? 1 : 0);
}

double sim_request_tokens(const struct sim_params *p)
{
	double t = p->work.context + p->work.output, g = p->model.page_tokens;

	return ceil(t / g) * g;
}

double sim_hbm_per_request(const struct sim_params *p, enum sim_side side)
{
	double t = sim_request_tokens(p), l = sim_cache_layers(p);
	double slots;

	if (side == SIM_BASELINE)
		return t * l * (p->model.latent_entry + p->model.index_entry);
	slots = p->ess.slots < t ? p->ess.slots : t;
	return t * l * (p->model.index_entry + p->ess.token_meta) +
	       slots * l * (p->model.latent_entry + p->ess.slot_meta);
}

double sim_host_per_request(const struct sim_params *p, enum sim_side side)
{
	if (side == SIM_BASELINE)
		return 0;
	return sim_request_tokens(p) * sim_cache_layers(p) * p->model.latent_entry;
}

double sim_hbm_for_cache(const struct sim_params *p)
{
	return p->hw.hbm_bytes * p->hw.hbm_usable - sim_weights_per_gpu(p) -
	       p->deploy.hbm_reserve;
}

long sim_mem_batch(const struct sim_params *p, enum sim_side side,
		   enum sim_limit *limit)
{
	double hbm = sim_hbm_for_cache(p);
	double b = hbm > 0 ? floor(hbm / sim_hbm_per_request(p, side)) : 0;

	if (limit)
		*limit = SIM_LIMIT_HBM;
	if (side == SIM_ESS) {
		double host = p->hw.host_dram_bytes * p->hw.host_dram_usable /
			      p->hw.gpus_per_node;
		double hb = floor(host / sim_host_per_request(p, side));

		if (hb < b) {
			b = hb;
			if (limit)
				*limit = SIM_LIMIT_HOST;
		}
	}
	return b > 1e9 ? 1000000000L : (long)b;
}

double sim_writeback_time(const struct sim_params *p, double rows)
{
	if (rows <= 0)
		return 0;
	return p->hw.writeback_latency + rows * p->model.latent_entry / p->hw.pcie_d2h;
}

double sim_manage_time(const struct sim_params *p, double requests, double miss)
{
	/* one block per request: requests beyond one per SM run in waves */
	double waves = ceil(requests / p->hw.sms);

	if (requests <= 0)
		return 0;
	return waves * (p->ess.manage_time + p->ess.manage_per_miss * miss);
}

double sim_gather_time(const struct sim_params *p, double rows)
{
	return rows * p->model.latent_entry / p->hw.gather_bw;
}

double sim_fetch_time(const struct sim_params *p, double rows, int overlapped)
{
	double rate = overlapped ? p->hw.pcie_h2d_overlap : p->hw.pcie_h2d;

	if (rows <= 0)
		return 0;
	return p->hw.fetch_latency + rows * p->model.latent_entry / rate;
}

/* Pre-attention pipeline of ESS: S chunks, compute stage a, fetch stage b. */
static double pipeline_end(double S, double a, double b)
{
	return a + b + (S - 1) * (a > b ? a : b);
}

/* ESS's part of a layer from the indexer to the start of attention. */
struct ess_part {
	double time, manage, fetch, exposed, contention, wb_exposed, fetch_bytes;
	double splits;
};

static void ess_pre_attention(const struct sim_params *p, double S, double batch,
			      double nq, double idx, double topk, double post,
			      double rest, struct ess_part *e)
{
	const struct sim_hw *hw = &p->hw;
	const struct sim_model *m = &p->model;
	double rows = batch * m->topk * p->ess.miss_rate;
	double manage = S * sim_manage_time(p, ceil(batch / S), p->ess.miss_rate);
	double fetch = rows > 0 ? S * hw->fetch_latency +
		       rows * m->latent_entry / hw->pcie_h2d_overlap : 0;
	/* each extra chunk of the indexer and top-k is two more kernels */
	double a = (idx + topk + (S - 1) * 2 * hw->kernel_floor + manage) / S;
	double b = fetch / S;
	double compute_end = S * a + post;
	double fetch_end = rows > 0 ? pipeline_end(S, a, b) : 0;
	double wb_t = sim_writeback_time(p, batch * nq);

	e->splits = S;
	e->manage = manage;
	e->fetch = fetch;
	e->fetch_bytes = rows * m->latent_entry;
	e->exposed = fetch_end > compute_end ? fetch_end - compute_end : 0;
	/* the fetch's SMs are lost to compute while it runs hidden */
	e->contention = p->ess.fetch_sm_share * (fetch - e->exposed);
	/* write-through runs on the other PCIe direction beside the layer */
	e->wb_exposed = wb_t > rest ? wb_t - rest : 0;
	e->time = compute_end + e->exposed + e->contention + e->wb_exposed;
}

/*
 * One layer at `batch` requests with nq query tokens each.  moe: 1 = MoE
 * FFN, 0 = dense FFN.  Adds its parts to *st and returns its time.
 */
static double layer_time(const struct sim_params *p, enum sim_side side,
			 double batch, double nq, int moe, struct sim_step *st)
{
	const struct sim_model *m = &p->model;
	const struct sim_hw *hw = &p->hw;
	double N = batch * nq, ctx = p->work.context + p->work.output / 2;
	double fp8 = hw->fp8_rate * hw->gemm_eff, wb = m->weight_bytes;
	double pre, post, after, idx, topk, attn, ffn, a2a = 0, t;
	struct shapes s;

	shapes(p, &s);
	/* one kernel each: fused q_a/kv_a, indexer q, indexer k + weights */
	pre = gemm_t(p, (s.q_a + s.kv_a) * wb, 2 * N * (s.q_a + s.kv_a), 1) +
	      gemm_t(p, s.idx_q * wb, 2 * N * s.idx_q, 1) +
	      gemm_t(p, s.idx_k * wb, 2 * N * s.idx_k, 1);
	post = gemm_t(p, s.q_b * wb, 2 * N * s.q_b, 1) +
	       gemm_t(p, s.uk * wb, 2 * N * s.uk, 1);
	after = gemm_t(p, s.uv * wb, 2 * N * s.uv, 1) +
		gemm_t(p, s.o * wb, 2 * N * s.o, 1);
	idx = roofline_eff(p, batch * ctx * m->index_entry,
			   2 * N * ctx * m->index_heads * m->index_dim, fp8, hw->index_eff);
	/* scores written once and read once by the selection, fp32 */
	topk = hw->kernel_floor + N * ctx * 4 * 2 / (hw->hbm_bw * hw->index_eff);
	/* the top-k rows are scattered: they stream at the gather rate */
	attn = N * m->topk * m->latent_entry / hw->gather_bw;
	t = 2 * N * m->heads * m->topk * (2 * m->kv_lora_rank + m->rope_dim) /
	    (hw->bf16_rate * hw->attn_eff);
	attn = hw->kernel_floor + hw->attn_fixed + (t > attn ? t : attn);
	if (moe) {
		double touched = local_experts(p) *
			(1 - exp(-N * p->deploy.ep * m->active_experts / m->routed_experts));
		double bytes = N * m->active_experts * m->hidden * 3; /* fp8 out, bf16 back */
		double gpn = hw->gpus_per_node, ep = p->deploy.ep;
		double f_inter = ep > gpn ? (ep - gpn) / ep : 0;
		double f_intra = ((ep < gpn ? ep : gpn) - 1) / ep;
		double ti = f_intra * bytes / hw->a2a_intra_bw;
		double tx = f_inter * bytes / hw->a2a_inter_bw;
		double eg = s.expert * 2 / 3, ed = s.expert / 3; /* gate+up, down */

		/* router; shared expert; routed experts as grouped GEMMs */
		ffn = gemm_t(p, s.router * wb, 2 * N * s.router, 1) +
		      m->shared_experts * (gemm_t(p, eg * wb, 2 * N * eg, 1) +
					   gemm_t(p, ed * wb, 2 * N * ed, 1)) +
		      gemm_t(p, touched * eg * wb, 2 * N * m->active_experts * eg, 1) +
		      gemm_t(p, touched * ed * wb, 2 * N * m->active_experts * ed, 1);
		if (ep > 1)
			a2a = (2 * hw->a2a_latency + (ti > tx ? ti : tx)) *
			      (1 - p->deploy.a2a_hidden);
	} else {
		double eg = s.dense_ffn * 2 / 3, ed = s.dense_ffn / 3;

		ffn = gemm_t(p, eg * wb, 2 * N * eg, 1) + gemm_t(p, ed * wb, 2 * N * ed, 1);
	}

	t = pre + attn + after + ffn + a2a + hw->layer_overhead;
	if (side == SIM_BASELINE) {
		t += idx + topk + post;
	} else {
		struct ess_part best, e;
		double lo = 1, hi = 1;

		/* splits 0: the engine picks the best of 1, 2, 4, 8 chunks */
		if (ctx >= p->ess.split_min_context) {
			lo = p->ess.splits > 0 ? p->ess.splits : 1;
			hi = p->ess.splits > 0 ? p->ess.splits : 8;
		}
		ess_pre_attention(p, lo, batch, nq, idx, topk, post,
				  pre + attn + after + ffn, &best);
		for (double S = lo * 2; S <= hi; S *= 2) {
			ess_pre_attention(p, S, batch, nq, idx, topk, post,
					  pre + attn + after + ffn, &e);
			if (e.time < best.time)
				best = e;
		}
		t += best.time;
		st->manage += best.manage;
		st->fetch += best.fetch;
		st->fetch_exposed += best.exposed;
		st->contention += best.contention;
		st->writeback += best.wb_exposed;
		st->fetch_bytes += best.fetch_bytes;
		st->splits = best.splits;
	}
	st->proj += pre + post + after;
	st->indexer += idx;
	st->topk += topk;
	st->attn += attn;
	st->ffn += ffn;
	st->a2a += a2a;
	st->overhead += hw->layer_overhead;
	return t;
}

static void add_scaled(struct sim_step *st, const struct sim_step *one, double n)
{
	st->proj += n * one->proj;
	st->indexer += n * one->indexer;
	st->topk += n * one->topk;
	st->attn += n * one->attn;
	st->ffn += n * one->ffn;
	st->a2a += n * one->a2a;
	st->overhead += n * one->overhead;
	st->manage += n * one->manage;
	st->fetch += n * one->fetch;
	st->fetch_exposed += n * one->fetch_exposed;
	st->contention += n * one->contention;
	st->writeback += n * one->writeback;
	st->fetch_bytes += n * one->fetch_bytes;
	if (one->splits > 0)
		st->splits = one->splits;
}

void sim_step_time(const struct sim_params *p, enum sim_side side,
		   long batch, struct sim_step *st)
{
	const struct sim_model *m = &p->model;
	double nq = 1 + p->deploy.mtp_depth, B = (double)batch, t = 0;
	double nd = m->dense_layers, nm = m->layers - m->dense_layers;
	double head_bytes = m->vocab * m->hidden * m->embed_bytes;
	double a = 1;
	struct sim_step one;

	memset(st, 0, sizeof(*st));
	if (batch <= 0)
		return;
	/* layers of one kind are identical: time one, multiply */
	if (nd > 0) {
		memset(&one, 0, sizeof(one));
		t += nd * layer_time(p, side, B, nq, 0, &one);
		add_scaled(st, &one, nd);
	}
	if (nm > 0) {
		memset(&one, 0, sizeof(one));
		t += nm * layer_time(p, side, B, nq, 1, &one);
		add_scaled(st, &one, nm);
	}
	st->head = gemm_t(p, head_bytes, 2 * B * nq * m->vocab * m->hidden, 0);
	t += st->head;
	/* each draft: the MTP layer over one token per request, and the head */
	if (p->deploy.mtp_depth > 0) {
		memset(&one, 0, sizeof(one));
		st->mtp = p->deploy.mtp_depth *
			  (layer_time(p, side, B, 1, 1, &one) +
			   gemm_t(p, head_bytes, 2 * B * m->vocab * m->hidden, 0));
		st->fetch_bytes += p->deploy.mtp_depth * one.fetch_bytes;
		t += st->mtp;
	}
	/* accepted tokens: 1 + a + a^2 + ... (draft i needs drafts < i) */
	st->tokens = 1;
	for (int i = 0; i < (int)p->deploy.mtp_depth; i++) {
		a *= p->deploy.mtp_accept;
		st->tokens += a;
	}
	st->total = t;
}

void sim_evaluate(const struct sim_params *p, enum sim_side side,
		  struct sim_point *pt)
{
	enum sim_limit lim;
	long b = sim_mem_batch(p, side, &lim);

	memset(pt, 0, sizeof(*pt));
	pt->mem_batch = b;
	if (p->deploy.max_batch > 0 && b > (long)p->deploy.max_batch) {
		b = (long)p->deploy.max_batch;
		lim = SIM_LIMIT_CAP;
	}
	if (p->deploy.tpot_slo > 0 && b > 0) {
		struct sim_step st;

		sim_step_time(p, side, b, &st);
		if (st.total / st.tokens > p->deploy.tpot_slo) {
			/* step time grows with batch: largest b meeting the SLO */
			long lo = 0, hi = b;

			while (lo < hi) {
				long mid = lo + (hi - lo + 1) / 2;

				sim_step_time(p, side, mid, &st);
				if (st.total / st.tokens <= p->deploy.tpot_slo)
					lo = mid;
				else
					hi = mid - 1;
			}
			b = lo;
			lim = SIM_LIMIT_SLO;
		}
	}
	pt->batch = b;
	pt->limit = lim;
	sim_step_time(p, side, b, &pt->step);
	if (b > 0) {
		pt->tpot = pt->step.total / pt->step.tokens;
		pt->tok_s = (double)b * pt->step.tokens / pt->step.total;
	}
}

const char *sim_limit_name(enum sim_limit l)
{
	switch (l) {
	case SIM_LIMIT_HBM:  return "hbm";
	case SIM_LIMIT_HOST: return "host";
	case SIM_LIMIT_CAP:  return "cap";
	case SIM_LIMIT_SLO:  return "slo";
	}
	return "?";
}
