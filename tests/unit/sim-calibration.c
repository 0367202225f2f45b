// SPDX-License-Identifier: MIT
/*
 * ess-sim calibration: every measured configuration in the CSV files of
 * sim/calibration must be predicted within 10% by the simulator.  Two file
 * formats, told apart by their column line:
 *   what,model,rows,row_bytes,gbps_low,gbps_high,profile   transfers
 *   group,kind,shape,K,M,N,ms                              kernel times,
 *                                                          summed per group
 *   what,model,batch,miss_rate,slots,us                    resolve kernel
 *   what,side,context,batch,limit,layers_run,...           ess-bench-decode
 *                                                          --csv, as written
 * The decode-loop rows compare the simulator's cache part of a layer
 * (indexer, top-k, attention, and for ESS resolve, exposed fetch, SM
 * contention and write-back) with the measured cache_us, at the row's
 * context, batch and (ESS) miss rate = 1 - hit_rate, under the overlay a
 * "# profile: PATH" comment line of the file names.
 */
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sim/model.h"
#include "../../sim/profile.h"

#define MAX_ROWS 1024
#define GROUP_MAX 64
#define DECODE_HEADER "what,side,context,batch,limit,layers_run,model_layers,layer_us,cache_us," \
		      "standin_us,head_ms,step_ms,tok_s,ratio,hit_rate,h2d_mb_per_step,d2h_mb_per_step"
#define DECODE_FIELDS 17

struct cal {
	char what[128], model[32], profile[256], file[256];
	double rows, row_bytes, lo, hi;
	int line;
	/* kernel-time rows */
	int kernel, manage;
	/* decode-loop rows: side (1 ESS), context, cache part per layer (us),
	 * hit rate; the batch is in rows */
	int decode, ess;
	double context, cache_us, hit;
	double K, M, N, ms;
};

static int n;

static void ok(int cond, const char *desc)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, desc);
}

/* Read one file's rows; returns how many, or -1 on a malformed line. */
static int read_file(const char *path, struct cal *c, int max)
{
	FILE *f = fopen(path, "r");
	char line[1024], profile[256] = "";
	int got = 0, lineno = 0, header = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *fld[DECODE_FIELDS + 1], *s = line;
		int nf = 0;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (!strncmp(line, "# profile: ", 11))
			snprintf(profile, sizeof(profile), "%.255s", line + 11);
		if (line[0] == '#' || !line[0])
			continue;
		if (!header) {	/* the column names say the format */
			if (!strcmp(line, "group,kind,shape,K,M,N,ms")) {
				header = 2;
			} else if (!strcmp(line, "what,model,batch,miss_rate,slots,us")) {
				header = 3;
			} else if (!strcmp(line, "what,model,rows,row_bytes,gbps_low,gbps_high,profile")) {
				header = 1;
			} else if (!strcmp(line, DECODE_HEADER)) {
				header = 4;
			} else {
				printf("# %s:%d: unknown column line\n", path, lineno);
				fclose(f);
				return -1;
			}
			continue;
		}
		const int want = header == 3 ? 6 : header == 4 ? DECODE_FIELDS : 7;
		while (nf < DECODE_FIELDS + 1 && (fld[nf] = strsep(&s, ",")))
			nf++;
		if (nf != want || got >= max) {
			printf("# %s:%d: want %d fields\n", path, lineno, want);
			fclose(f);
			return -1;
		}
		memset(&c[got], 0, sizeof(c[got]));
		snprintf(c[got].file, sizeof(c[got].file), "%s", path);
		c[got].line = lineno;
		if (header == 4) {
			snprintf(c[got].what, sizeof(c[got].what), "%s", fld[0]);
			snprintf(c[got].profile, sizeof(c[got].profile), "%s", profile);
			c[got].decode = 1;
			c[got].ess = !strcmp(fld[1], "ess");
			c[got].context = atof(fld[2]);
			c[got].rows = atof(fld[3]);	/* batch */
			c[got].cache_us = atof(fld[8]);
			c[got].hit = atof(fld[14]);
			if ((!c[got].ess && strcmp(fld[1], "baseline")) || c[got].context <= 0 ||
			    c[got].rows < 1 || c[got].cache_us <= 0 || c[got].hit < 0 || c[got].hit > 1) {
				printf("# %s:%d: bad numbers\n", path, lineno);
				fclose(f);
				return -1;
			}
			got++;
			continue;
		}
		if (header == 3) {
			snprintf(c[got].what, sizeof(c[got].what), "%s", fld[0]);
			snprintf(c[got].model, sizeof(c[got].model), "%s", fld[1]);
			c[got].manage = 1;
			c[got].rows = atof(fld[2]);	/* batch */
			c[got].lo = atof(fld[3]);	/* miss rate */
			c[got].ms = atof(fld[5]) * 1e-3;
			if (c[got].rows <= 0 || c[got].lo < 0 || c[got].lo > 1 || c[got].ms <= 0) {
				printf("# %s:%d: bad numbers\n", path, lineno);
				fclose(f);
				return -1;
			}
			got++;
			continue;
		}
		if (header == 2) {
			snprintf(c[got].what, sizeof(c[got].what), "%s", fld[0]);
			snprintf(c[got].model, sizeof(c[got].model), "%s", fld[1]);
			c[got].kernel = 1;
			c[got].K = atof(fld[3]);
			c[got].M = atof(fld[4]);
			c[got].N = atof(fld[5]);
			c[got].ms = atof(fld[6]);
			if (c[got].K <= 0 || c[got].ms <= 0 || strlen(fld[0]) >= GROUP_MAX) {
				printf("# %s:%d: bad numbers\n", path, lineno);
				fclose(f);
				return -1;
			}
			got++;
			continue;
		}
		snprintf(c[got].what, sizeof(c[got].what), "%s", fld[0]);
		snprintf(c[got].model, sizeof(c[got].model), "%s", fld[1]);
		c[got].rows = atof(fld[2]);
		c[got].row_bytes = atof(fld[3]);
		c[got].lo = atof(fld[4]);
		c[got].hi = atof(fld[5]);
		snprintf(c[got].profile, sizeof(c[got].profile), "%s", fld[6]);
		if (c[got].rows <= 0 || c[got].row_bytes <= 0 || c[got].lo <= 0 ||
		    c[got].hi < c[got].lo) {
			printf("# %s:%d: bad numbers\n", path, lineno);
			fclose(f);
			return -1;
		}
		got++;
	}
	fclose(f);
	return got;
}

int main(void)
{
	static struct cal c[MAX_ROWS];
	int total = 0, bad = 0;
	glob_t g;

	if (glob("sim/calibration/*.csv", 0, NULL, &g) || g.gl_pathc == 0) {
		printf("1..1\nnot ok 1 - calibration data found in sim/calibration/\n");
		return 0;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		int k = read_file(g.gl_pathv[i], c + total, MAX_ROWS - total);

		if (k < 0)
			bad = 1;
		else
			total += k;
	}
	{
		int ntests = 1;

		for (int i = 0; i < total; i++) {
			int first = 1;

			for (int j = 0; c[i].kernel && j < i; j++)
				if (c[j].kernel && !strcmp(c[j].what, c[i].what) &&
				    !strcmp(c[j].file, c[i].file))
					first = 0;
			ntests += first;
		}
		printf("1..%d\n", ntests);
	}
	ok(!bad && total > 0, "calibration files parse");
	for (int i = 0; i < total; i++) {
		struct sim_params p;
		char err[512], desc[700];
		double meas, pred = -1;

		sim_params_default(&p);
		if (c[i].kernel) {
			int first = 1, kinds_ok = 1, nrows = 0;

			for (int j = 0; j < i; j++)
				if (c[j].kernel && !strcmp(c[j].what, c[i].what) &&
				    !strcmp(c[j].file, c[i].file))
					first = 0;
			if (!first)
				continue;
			meas = 0;
			pred = 0;
			for (int j = i; j < total; j++) {
				if (!c[j].kernel || strcmp(c[j].what, c[i].what) ||
				    strcmp(c[j].file, c[i].file))
					continue;
				nrows++;
				meas += c[j].ms * 1e-3;
				if (!strcmp(c[j].model, "gemm_fp8"))
					pred += sim_gemm_time(&p, c[j].K, c[j].M, c[j].N, 1);
				else if (!strcmp(c[j].model, "gemm_bf16"))
					pred += sim_gemm_time(&p, c[j].K, c[j].M, c[j].N, 0);
				else if (!strcmp(c[j].model, "stream"))
					pred += sim_stream_time(&p, c[j].K);
				else
					kinds_ok = 0;
				printf("# %s %s K=%g M=%g N=%g: predicted %.4f ms, measured %.4f ms\n",
				       c[j].what, c[j].model, c[j].K, c[j].M, c[j].N,
				       (!strcmp(c[j].model, "stream") ? sim_stream_time(&p, c[j].K) :
					sim_gemm_time(&p, c[j].K, c[j].M, c[j].N,
						      !strcmp(c[j].model, "gemm_fp8"))) * 1e3,
				       c[j].ms);
			}
			snprintf(desc, sizeof(desc), "%.200s:%d group %.60s (%d kernels): "
				 "predicted %.4f ms, measured %.4f ms", c[i].file, c[i].line,
				 c[i].what, nrows, pred * 1e3, meas * 1e3);
			ok(kinds_ok && fabs(pred - meas) <= 0.10 * meas, desc);
			continue;
		}
		if (c[i].decode) {
			struct sim_step st;

			meas = c[i].cache_us * 1e-6;
			/* the benchmark's own setting: one query token per step */
			if (sim_profile_set(&p, "deploy.mtp_depth = 0", err, sizeof(err)) ||
			    (c[i].profile[0] && sim_profile_load(&p, c[i].profile, err, sizeof(err)))) {
				printf("# %s\n", err);
			} else {
				p.work.context = c[i].context;
				if (c[i].ess)
					p.ess.miss_rate = 1 - c[i].hit;
				sim_step_time(&p, c[i].ess ? SIM_ESS : SIM_BASELINE, (long)c[i].rows, &st);
				pred = (st.indexer + st.topk + st.attn + st.manage + st.fetch_exposed +
					st.contention + st.writeback) / sim_cache_layers(&p);
			}
			snprintf(desc, sizeof(desc), "%.200s:%d %.120s batch %.0f: cache part predicted "
				 "%.1f us per layer, measured %.1f us", c[i].file, c[i].line, c[i].what,
				 c[i].rows, pred * 1e6, meas * 1e6);
			ok(pred > 0 && fabs(pred - meas) <= 0.10 * meas, desc);
			continue;
		}
		if (c[i].manage) {
			meas = c[i].ms * 1e-3;
			if (!strcmp(c[i].model, "manage"))
				pred = sim_manage_time(&p, c[i].rows, c[i].lo);
			snprintf(desc, sizeof(desc), "%.200s:%d %.120s: predicted %.1f us, measured %.1f us",
				 c[i].file, c[i].line, c[i].what, pred * 1e6, meas * 1e6);
			ok(pred > 0 && fabs(pred - meas) <= 0.10 * meas, desc);
			continue;
		}
		meas = c[i].rows * c[i].row_bytes / ((c[i].lo + c[i].hi) / 2 * 1e9);
		if (c[i].profile[0] && sim_profile_load(&p, c[i].profile, err, sizeof(err)))
			printf("# %s\n", err);
		else if (c[i].row_bytes != p.model.latent_entry)
			printf("# row size %g is not the profile's %g\n", c[i].row_bytes,
			       p.model.latent_entry);
		else if (!strcmp(c[i].model, "fetch"))
			pred = sim_fetch_time(&p, c[i].rows, 0);
		else if (!strcmp(c[i].model, "fetch_overlap"))
			pred = sim_fetch_time(&p, c[i].rows, 1);
		else if (!strcmp(c[i].model, "writeback"))
			pred = sim_writeback_time(&p, c[i].rows);
		else if (!strcmp(c[i].model, "gather"))
			pred = sim_gather_time(&p, c[i].rows);
		else
			printf("# unknown model '%s'\n", c[i].model);
		snprintf(desc, sizeof(desc), "%.200s:%d %.120s: predicted %.3f ms, measured %.3f ms",
			 c[i].file, c[i].line, c[i].what, pred * 1e3, meas * 1e3);
		ok(pred > 0 && fabs(pred - meas) <= 0.10 * meas, desc);
	}
	globfree(&g);
	return 0;
}
