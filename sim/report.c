// SPDX-License-Identifier: MIT
/*
 * Table and CSV output of ess-sim.  The paper's numbers (arXiv 2512.10576,
 * as summarised in the project's reference facts) are printed beside ours
 * so a reader sees both without looking them up.
 */
#include <string.h>

#include "report.h"

static const struct sim_paper paper[] = {
	{ 32768, 1120, 1900, 0.694 },
	{ 65536, 780, 1450, 0.86 },
	{ 131072, 450, 1000, 1.23 },
};

const struct sim_paper *sim_paper_at(double context)
{
	for (size_t i = 0; i < sizeof(paper) / sizeof(paper[0]); i++)
		if (paper[i].context == context)
			return &paper[i];
	return NULL;
}

void sim_row_eval(const struct sim_params *p, double context, struct sim_row *r)
{
	struct sim_params q = *p;

	q.work.context = context;
	memset(r, 0, sizeof(*r));
	r->context = context;
	sim_evaluate(&q, SIM_BASELINE, &r->base);
	sim_evaluate(&q, SIM_ESS, &r->ess);
	if (r->base.tok_s > 0)
		r->ratio = r->ess.tok_s / r->base.tok_s;
}

static void ctx_str(double c, char *buf, size_t len)
{
	if (c >= 1024 && (long)c % 1024 == 0)
		snprintf(buf, len, "%ldK", (long)c / 1024);
	else
		snprintf(buf, len, "%ld", (long)c);
}

static void breakdown_write(const char *side, const struct sim_point *pt, FILE *out)
{
	const struct sim_step *s = &pt->step;

	fprintf(out, "  %-8s batch %ld: proj %.2f  indexer %.2f  topk %.2f  attn %.2f  "
		"ffn %.2f  a2a %.2f  head %.2f  mtp %.2f  overhead %.2f",
		side, pt->batch, s->proj * 1e3, s->indexer * 1e3, s->topk * 1e3,
		s->attn * 1e3, s->ffn * 1e3, s->a2a * 1e3, s->head * 1e3,
		s->mtp * 1e3, s->overhead * 1e3);
	if (s->fetch > 0 || s->manage > 0)
		fprintf(out, "  manage %.2f  fetch %.2f (exposed %.2f, %.0f MB, %g indexer chunks)  "
			"contention %.2f  writeback %.2f",
			s->manage * 1e3, s->fetch * 1e3, s->fetch_exposed * 1e3,
			s->fetch_bytes / 1e6, s->splits, s->contention * 1e3, s->writeback * 1e3);
	fprintf(out, "  = %.2f ms\n", s->total * 1e3);
}

static void with_miss(const struct sim_params *p, const double *miss, int i,
		      struct sim_params *q)
{
	*q = *p;
	if (miss)
		q->ess.miss_rate = miss[i];
}

void sim_table_write(const struct sim_params *p, const double *ctx,
		     const double *miss, int n, const char *profile_name,
		     const char *miss_src, int breakdown, FILE *out)
{
	fprintf(out, "ess-sim: DeepSeek-V3.2-Exp decode, baseline vs ESS, tokens/s per GPU\n"
		"  profile: %s; output %ld tokens; ESS: %ld slots, %s, miss rate %s\n",
		profile_name, (long)p->work.output, (long)p->ess.slots, p->ess.policy,
		miss_src);
	fprintf(out, "%-7s | %-27s | %-34s | %-7s | %s\n", "",
		"baseline", "ESS", "", "paper (tok/s per GPU)");
	fprintf(out, "%-7s | %5s %-4s %7s %8s | %5s %-4s %6s %7s %8s | %7s | %6s %6s %7s\n",
		"context", "batch", "by", "step ms", "tok/s", "batch", "by", "miss%",
		"step ms", "tok/s", "gain", "base", "ESS", "gain");
	for (int i = 0; i < n; i++) {
		struct sim_row r;
		struct sim_params q;
		const struct sim_paper *pp = sim_paper_at(ctx[i]);
		char c[32], gain[16] = "-", pb[16] = "-", pe[16] = "-", pg[16] = "-";

		with_miss(p, miss, i, &q);
		sim_row_eval(&q, ctx[i], &r);
		ctx_str(ctx[i], c, sizeof(c));
		if (r.ratio > 0)
			snprintf(gain, sizeof(gain), "%+.1f%%", (r.ratio - 1) * 100);
		if (pp) {
			snprintf(pb, sizeof(pb), "%.0f", pp->base_tok_s);
			snprintf(pe, sizeof(pe), "%.0f", pp->ess_tok_s);
			snprintf(pg, sizeof(pg), "%+.1f%%", pp->gain * 100);
		}
		fprintf(out, "%-7s | %5ld %-4s %7.2f %8.0f | %5ld %-4s %6.2f %7.2f %8.0f | %7s | %6s %6s %7s\n",
			c, r.base.batch, sim_limit_name(r.base.limit), r.base.step.total * 1e3,
			r.base.tok_s, r.ess.batch, sim_limit_name(r.ess.limit),
			q.ess.miss_rate * 100, r.ess.step.total * 1e3, r.ess.tok_s, gain,
			pb, pe, pg);
		if (breakdown) {
			breakdown_write("baseline", &r.base, out);
			breakdown_write("ESS", &r.ess, out);
		}
	}
	fprintf(out, "by: what limits the batch (hbm, host DRAM, cap, slo).  "
		"Node figures: x%ld.\n", (long)p->hw.gpus_per_node);
}

void sim_csv_write(const struct sim_params *p, const double *ctx,
		   const double *miss, int n, FILE *out)
{
	fprintf(out, "context,base_batch,base_limit,base_step_ms,base_tok_s,"
		"ess_batch,ess_limit,ess_step_ms,ess_tok_s,ratio,ess_fetch_mb_per_step,"
		"ess_fetch_exposed_ms,miss_rate,slots,paper_base_tok_s,paper_ess_tok_s,"
		"paper_ratio\n");
	for (int i = 0; i < n; i++) {
		struct sim_row r;
		struct sim_params q;
		const struct sim_paper *pp = sim_paper_at(ctx[i]);

		with_miss(p, miss, i, &q);
		sim_row_eval(&q, ctx[i], &r);
		fprintf(out, "%ld,%ld,%s,%.4f,%.2f,%ld,%s,%.4f,%.2f,%.4f,%.3f,%.4f,%.6g,%ld,",
			(long)ctx[i], r.base.batch, sim_limit_name(r.base.limit),
			r.base.step.total * 1e3, r.base.tok_s, r.ess.batch,
			sim_limit_name(r.ess.limit), r.ess.step.total * 1e3, r.ess.tok_s,
			r.ratio, r.ess.step.fetch_bytes / 1e6,
			r.ess.step.fetch_exposed * 1e3, q.ess.miss_rate, (long)p->ess.slots);
		if (pp)
			fprintf(out, "%.0f,%.0f,%.4f\n", pp->base_tok_s, pp->ess_tok_s,
				1 + pp->gain);
		else
			fprintf(out, ",,\n");
	}
}
