// SPDX-License-Identifier: MIT
/*
 * The text views: the vmstat-style line (rates from counter deltas, the
 * first line averaged since each process started), the per-process and
 * per-tier tables, the module state and the heat histograms.
 */
#include <stdio.h>
#include <string.h>

#include "stat.h"

/* Sum over the live processes: rates of counters, values of levels. */
struct agg {
	double rate[ESS_STAT_NR];
	uint64_t level[ESS_STAT_NR];
	uint32_t nlive;
};

static const struct ess_stat_snapshot *
find_prev(const struct stat_sample *prev, const struct ess_stat_snapshot *c)
{
	size_t i;

	for (i = 0; i < prev->nprocs; i++) {
		const struct ess_stat_snapshot *p = &prev->procs[i];

		if (p->hdr.pid == c->hdr.pid && p->hdr.ctx_id == c->hdr.ctx_id &&
		    p->hdr.start_ns == c->hdr.start_ns)
			return p;
	}
	return NULL;
}

static void aggregate(const struct stat_sample *cur,
		      const struct stat_sample *prev, struct agg *a)
{
	size_t i;
	int k;

	memset(a, 0, sizeof(*a));
	for (i = 0; i < cur->nprocs; i++) {
		const struct ess_stat_snapshot *c = &cur->procs[i], *p = NULL;
		double secs, life;

		if (c->state != ESS_STAT_LIVE)
			continue;
		a->nlive++;
		life = cur->real_ns > c->hdr.start_ns ?
		       (double)(cur->real_ns - c->hdr.start_ns) / 1e9 : 0;
		secs = life;
		if (prev) {
			p = find_prev(prev, c);
			secs = (double)(cur->mono_ns - prev->mono_ns) / 1e9;
			/* Not seen last time: all its counts over its life,
			 * or over the interval if it started within it. */
			if (!p && life > secs)
				secs = life;
		}
		if (secs < 1e-3)
			secs = 1e-3;
		for (k = 0; k < ESS_STAT_NR; k++) {
			uint64_t d = c->v[k];

			if (ess_stat_fields[k].kind == ESS_STAT_LEVEL) {
				a->level[k] += c->v[k];
				continue;
			}
			if (p && c->v[k] >= p->v[k])
				d -= p->v[k];
			a->rate[k] += (double)d / secs;
		}
	}
}

void stat_vm_header(FILE *f)
{
	fprintf(f, "procs ---------------- hot buffer ---------------- "
		   "--- copies/s --- ---- nvme/s ---- fetch ----- tiers -----\n");
	fprintf(f, " live  resolve/s  lookup/s   hit%%   miss/s  evict/s "
		   "    h2d     d2h     read   write busy%%  dram-used  pinned\n");
}

void stat_vm_line(FILE *f, const struct stat_sample *cur,
		  const struct stat_sample *prev)
{
	char b[12][16];
	char hit[16];
	struct agg a;

	aggregate(cur, prev, &a);
	if (a.rate[ESS_STAT_LOOKUPS] > 0)
		snprintf(hit, sizeof(hit), "%.1f",
			 100.0 * a.rate[ESS_STAT_HITS] / a.rate[ESS_STAT_LOOKUPS]);
	else
		snprintf(hit, sizeof(hit), "-");
	fprintf(f, "%5u %10s %9s %6s %8s %8s %7s %7s %8s %7s %5.1f %10s %7s\n",
		a.nlive,
		stat_human(b[0], 16, a.rate[ESS_STAT_RESOLVES], 0),
		stat_human(b[1], 16, a.rate[ESS_STAT_LOOKUPS], 0),
		hit,
		stat_human(b[2], 16, a.rate[ESS_STAT_MISSES], 0),
		stat_human(b[3], 16, a.rate[ESS_STAT_EVICTIONS], 0),
		stat_human(b[4], 16, a.rate[ESS_STAT_BYTES_H2D], 1),
		stat_human(b[5], 16, a.rate[ESS_STAT_BYTES_D2H], 1),
		stat_human(b[6], 16, a.rate[ESS_STAT_NVME_READ_BYTES], 1),
		stat_human(b[7], 16, a.rate[ESS_STAT_NVME_WRITE_BYTES], 1),
		/* fetch time per wall second, over the processes */
		a.rate[ESS_STAT_FETCH_NS] / 1e7,
		stat_human(b[8], 16, (double)a.level[ESS_STAT_POOL_USED_BYTES], 1),
		stat_human(b[9], 16, (double)a.level[ESS_STAT_PINNED_BYTES], 1));
	fflush(f);
}

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

/* Live processes summed per device: "cpu", or "cuda:N" per GPU. */
static void view_devices(FILE *f, const struct stat_sample *s)
{
	struct dev {
		uint32_t backend;
		int32_t device;
		uint32_t procs;
		uint64_t v[ESS_STAT_NR];
	} d[64];
	size_t nd = 0, i, j;
	char b[6][16], name[24];
	int k;

	for (i = 0; i < s->nprocs; i++) {
		const struct ess_stat_snapshot *p = &s->procs[i];

		if (p->state != ESS_STAT_LIVE)
			continue;
		for (j = 0; j < nd; j++)
			if (d[j].backend == p->hdr.backend &&
			    d[j].device == p->hdr.device)
				break;
		if (j == nd) {
			if (nd == sizeof(d) / sizeof(d[0]))
				continue;
			memset(&d[nd], 0, sizeof(d[nd]));
			d[nd].backend = p->hdr.backend;
			d[nd].device = p->hdr.device;
			nd++;
		}
		d[j].procs++;
		for (k = 0; k < ESS_STAT_NR; k++)
			d[j].v[k] += p->v[k];
	}
	if (!nd)
		return;
	fprintf(f, "\n%-10s %5s %8s %6s %8s %8s %8s %8s %8s\n", "DEVICE",
		"PROCS", "LOOKUPS", "HIT%", "MISSES", "H2D", "D2H", "GPU",
		"PINNED");
	for (j = 0; j < nd; j++) {
		if (d[j].device >= 0)
			snprintf(name, sizeof(name), "%s:%d",
				 stat_backend_name(d[j].backend), d[j].device);
		else
			snprintf(name, sizeof(name), "%s",
				 stat_backend_name(d[j].backend));
		fprintf(f, "%-10s %5u %8s %5.1f%% %8s %8s %8s %8s %8s\n", name,
			d[j].procs,
			stat_human(b[0], 16, (double)d[j].v[ESS_STAT_LOOKUPS], 0),
			pct(d[j].v[ESS_STAT_HITS], d[j].v[ESS_STAT_LOOKUPS]),
			stat_human(b[1], 16, (double)d[j].v[ESS_STAT_MISSES], 0),
			stat_human(b[2], 16, (double)d[j].v[ESS_STAT_BYTES_H2D], 1),
			stat_human(b[3], 16, (double)d[j].v[ESS_STAT_BYTES_D2H], 1),
			stat_human(b[4], 16, (double)d[j].v[ESS_STAT_HOT_BYTES], 1),
			stat_human(b[5], 16, (double)d[j].v[ESS_STAT_PINNED_BYTES], 1));
	}
}

void stat_view_procs(FILE *f, const struct stat_sample *s)
{
	char b[8][16], dev[16];
	size_t i;

	if (!s->nprocs) {
		fprintf(f, "no ESS runtime running (no segments in %s)\n", s->dir);
		return;
	}
	fprintf(f, "%-8s %3s %-15s %-5s %-7s %3s %-8s %-7s %8s %6s %8s %8s %8s %8s %8s\n",
		"PID", "CTX", "COMM", "STATE", "BACKEND", "DEV", "POLICY", "POOL",
		"LOOKUPS", "HIT%", "MISSES", "EVICT", "H2D", "D2H", "FETCH");
	for (i = 0; i < s->nprocs; i++) {
		const struct ess_stat_snapshot *p = &s->procs[i];
		const uint64_t *v = p->v;

		if (p->hdr.device >= 0)
			snprintf(dev, sizeof(dev), "%d", p->hdr.device);
		else
			snprintf(dev, sizeof(dev), "-");
		fprintf(f, "%-8d %3u %-15s %-5s %-7s %3s %-8s %-7s %8s %5.1f%% %8s %8s %8s %8s %7.3fs\n",
			p->hdr.pid, p->hdr.ctx_id, p->hdr.comm,
			p->state == ESS_STAT_LIVE ? "live" : "stale",
			stat_backend_name(p->hdr.backend), dev, p->hdr.policy,
			p->hdr.pool,
			stat_human(b[0], 16, (double)v[ESS_STAT_LOOKUPS], 0),
			pct(v[ESS_STAT_HITS], v[ESS_STAT_LOOKUPS]),
			stat_human(b[1], 16, (double)v[ESS_STAT_MISSES], 0),
			stat_human(b[2], 16, (double)v[ESS_STAT_EVICTIONS], 0),
			stat_human(b[3], 16, (double)v[ESS_STAT_BYTES_H2D], 1),
			stat_human(b[4], 16, (double)v[ESS_STAT_BYTES_D2H], 1),
			(double)v[ESS_STAT_FETCH_NS] / 1e9);
	}
	fprintf(f, "\n%-8s %3s %-19s %-19s %-19s %8s %8s %8s\n", "PID", "CTX",
		"GPU used/size", "DRAM used/size", "NVMe used/size", "PINNED",
		"PINFAIL", "REQS");
	for (i = 0; i < s->nprocs; i++) {
		const struct ess_stat_snapshot *p = &s->procs[i];
		const uint64_t *v = p->v;
		char g[40], d[40], n[40];

		snprintf(g, sizeof(g), "%s/%s",
			 stat_human(b[0], 16, (double)v[ESS_STAT_HOT_USED_BYTES], 1),
			 stat_human(b[1], 16, (double)v[ESS_STAT_HOT_BYTES], 1));
		snprintf(d, sizeof(d), "%s/%s",
			 stat_human(b[2], 16, (double)v[ESS_STAT_POOL_USED_BYTES], 1),
			 stat_human(b[3], 16, (double)v[ESS_STAT_POOL_BYTES], 1));
		snprintf(n, sizeof(n), "%s/%s",
			 stat_human(b[4], 16, (double)v[ESS_STAT_NVME_USED_BYTES], 1),
			 stat_human(b[5], 16, (double)v[ESS_STAT_NVME_BYTES], 1));
		fprintf(f, "%-8d %3u %-19s %-19s %-19s %8s %8llu %8llu\n",
			p->hdr.pid, p->hdr.ctx_id, g, d, n,
			stat_human(b[6], 16, (double)v[ESS_STAT_PINNED_BYTES], 1),
			(unsigned long long)v[ESS_STAT_PIN_FAILURES],
			(unsigned long long)v[ESS_STAT_REQUESTS_ACTIVE]);
	}
	view_devices(f, s);
	if (s->nstale)
		fprintf(f, "\n%zu stale segment(s) of exited processes: "
			   "'ess-stat --gc' removes them\n", s->nstale);
}

void stat_view_module(FILE *f, const struct stat_sample *s)
{
	const struct stat_module *m = &s->mod;
	char b[4][16];
	size_t i;
	int k;

	if (!m->loaded) {
		fprintf(f, "ess module not loaded (%s absent)\n", m->root);
		return;
	}
	fprintf(f, "ess module loaded (%s)\n", m->root);
	for (k = 0; k < KNOB_NR; k++) {
		if (m->have[k])
			fprintf(f, "  %-24s %lld\n", stat_knob_names[k],
				(long long)m->knob[k]);
		else
			fprintf(f, "  %-24s ?\n", stat_knob_names[k]);
	}
	if (!m->nregions) {
		fprintf(f, "no regions\n");
		return;
	}
	fprintf(f, "\n%-6s %-20s %8s %8s %4s %6s %5s %5s %8s\n", "REGION",
		"NAME", "BYTES", "PINNED", "NODE", "OWNER", "USERS", "MAPS",
		"HEATBLK");
	for (i = 0; i < m->nregions; i++) {
		const struct stat_region *r = &m->regions[i];

		fprintf(f, "%-6llu %-20s %8s %8s %4lld %6lld %5lld %5lld %8s\n",
			(unsigned long long)r->id, r->name[0] ? r->name : "-",
			stat_human(b[0], 16, (double)r->v[RF_BYTES], 1),
			stat_human(b[1], 16, (double)r->v[RF_PINNED_BYTES], 1),
			(long long)r->v[RF_NODE], (long long)r->v[RF_OWNER],
			(long long)r->v[RF_USERS], (long long)r->v[RF_MAPPINGS],
			stat_human(b[2], 16, (double)r->v[RF_HEAT_BLOCK_SIZE], 1));
	}
}

void stat_view_heat(FILE *f, const struct stat_sample *s)
{
	const struct stat_module *m = &s->mod;
	char range[32];
	size_t i;
	int k;

	if (!m->loaded) {
		fprintf(f, "ess module not loaded (%s absent): no heat\n", m->root);
		return;
	}
	if (!m->nregions) {
		fprintf(f, "no regions\n");
		return;
	}
	for (i = 0; i < m->nregions; i++) {
		const struct stat_region *r = &m->regions[i];
		uint64_t max = 0, total = 0;

		fprintf(f, "%sregion %llu%s%s%s\n", i ? "\n" : "",
			(unsigned long long)r->id, r->name[0] ? " \"" : "",
			r->name, r->name[0] ? "\"" : "");
		if (!r->have_hist) {
			fprintf(f, "  no heat histogram\n");
			continue;
		}
		for (k = 0; k < ESS_HEAT_BUCKETS; k++) {
			total += r->hist[k];
			if (r->hist[k] > max)
				max = r->hist[k];
		}
		fprintf(f, "  %-16s %10s\n", "heat", "blocks");
		for (k = 0; k < ESS_HEAT_BUCKETS; k++) {
			int bar;

			if (!r->hist[k])
				continue;
			if (k == 0)
				snprintf(range, sizeof(range), "0");
			else if (k == ESS_HEAT_BUCKETS - 1)
				snprintf(range, sizeof(range), ">=%llu",
					 1ull << (k - 1));
			else
				snprintf(range, sizeof(range), "%llu..%llu",
					 1ull << (k - 1), (1ull << k) - 1);
			bar = (int)(40 * r->hist[k] / max);
			fprintf(f, "  %-16s %10llu %.*s\n", range,
				(unsigned long long)r->hist[k], bar ? bar : 1,
				"########################################");
		}
		fprintf(f, "  %-16s %10llu\n", "total", (unsigned long long)total);
	}
}

void stat_view_layers(FILE *f, const struct stat_sample *s)
{
	uint64_t sum[ESS_MAX_LAYERS] = { 0 }, total = 0, max = 0;
	uint32_t layers = 0, l;
	char b[16];
	size_t i;

	for (i = 0; i < s->nprocs; i++) {
		const struct ess_stat_snapshot *p = &s->procs[i];

		if (p->state != ESS_STAT_LIVE)
			continue;
		if (p->hdr.layers > layers)
			layers = p->hdr.layers;
		for (l = 0; l < p->hdr.layers; l++)
			sum[l] += p->layer_misses[l];
	}
	if (!layers) {
		fprintf(f, "no ESS runtime running (no live segments in %s)\n",
			s->dir);
		return;
	}
	for (l = 0; l < layers; l++) {
		total += sum[l];
		if (sum[l] > max)
			max = sum[l];
	}
	fprintf(f, "%-5s %9s %6s\n", "LAYER", "MISSES", "SHARE");
	for (l = 0; l < layers; l++) {
		int bar = max ? (int)(30 * sum[l] / max) : 0;

		fprintf(f, "%5u %9s %5.1f%% %.*s\n", l,
			stat_human(b, sizeof(b), (double)sum[l], 0),
			pct(sum[l], total), bar, "##############################");
	}
}
