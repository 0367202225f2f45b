/* SPDX-License-Identifier: MIT */
/*
 * The baseline-vs-ESS table over a list of contexts, as text or CSV, with
 * the paper's published figures beside ours where it has them.
 */
#ifndef ESS_SIM_REPORT_H
#define ESS_SIM_REPORT_H

#include <stdio.h>

#include "model.h"

struct sim_row {
	double context;
	struct sim_point base, ess;
	double ratio;			/* ESS tok/s over baseline tok/s; 0 if none */
};

/* The paper's figures at one context, or NULL (tokens/s per GPU). */
struct sim_paper {
	double context, base_tok_s, ess_tok_s, gain;
};
const struct sim_paper *sim_paper_at(double context);

/* Evaluate both sides at p with workload.context replaced by context. */
void sim_row_eval(const struct sim_params *p, double context, struct sim_row *r);

/*
 * miss: per-context ESS miss rates (from a replay), or NULL to use
 * p->ess.miss_rate everywhere; miss_src says where they came from.
 */
void sim_table_write(const struct sim_params *p, const double *ctx,
		     const double *miss, int n, const char *profile_name,
		     const char *miss_src, int breakdown, FILE *out);
void sim_csv_write(const struct sim_params *p, const double *ctx,
		   const double *miss, int n, FILE *out);

#endif /* ESS_SIM_REPORT_H */
