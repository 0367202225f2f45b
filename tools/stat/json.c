// SPDX-License-Identifier: MIT
/*
 * --json: one JSON object per look (one line each when repeated): every
 * process with its header, counters by name and per-layer misses, the
 * totals of the live ones, and the module's state, knobs and regions.
 * Counter values are exact integers, as the segment holds them.
 */
#include <stdio.h>

#include "stat.h"

static void str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	for (; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void u64(FILE *f, const char *key, uint64_t v, int comma)
{
	fprintf(f, "\"%s\":%llu%s", key, (unsigned long long)v, comma ? "," : "");
}

static void counters(FILE *f, const uint64_t *v)
{
	int k;

	fputc('{', f);
	for (k = 0; k < ESS_STAT_NR; k++)
		u64(f, ess_stat_fields[k].name, v[k], k + 1 < ESS_STAT_NR);
	fputc('}', f);
}

static void process(FILE *f, const struct ess_stat_snapshot *p)
{
	const struct ess_stat_header *h = &p->hdr;
	uint32_t l;

	fputs("{\"segment\":", f);
	str(f, p->name);
	fprintf(f, ",\"pid\":%d,\"ctx\":%u,\"comm\":", h->pid, h->ctx_id);
	str(f, h->comm);
	fprintf(f, ",\"state\":\"%s\",\"consistent\":%s,",
		p->state == ESS_STAT_LIVE ? "live" : "stale",
		p->torn ? "false" : "true");
	u64(f, "start_ns", h->start_ns, 1);
	u64(f, "update_ns", p->update_ns, 1);
	fprintf(f, "\"backend\":\"%s\",\"device\":%d,",
		stat_backend_name(h->backend), h->device);
	u64(f, "layers", h->layers, 1);
	u64(f, "entry_bytes", h->entry_bytes, 1);
	u64(f, "topk", h->topk, 1);
	u64(f, "slots", h->slots, 1);
	u64(f, "max_requests", h->max_requests, 1);
	u64(f, "max_tokens", h->max_tokens, 1);
	fputs("\"policy\":", f);
	str(f, h->policy);
	fputs(",\"pool\":", f);
	str(f, h->pool);
	fputs(",\"counters\":", f);
	counters(f, p->v);
	fputs(",\"layer_misses\":[", f);
	for (l = 0; l < h->layers; l++)
		fprintf(f, "%s%llu", l ? "," : "",
			(unsigned long long)p->layer_misses[l]);
	fputs("]}", f);
}

static void module(FILE *f, const struct stat_module *m)
{
	size_t i;
	int k;

	fprintf(f, "{\"loaded\":%s,\"sysfs\":", m->loaded ? "true" : "false");
	str(f, m->root);
	if (!m->loaded) {
		fputc('}', f);
		return;
	}
	for (k = 0; k < KNOB_NR; k++) {
		if (m->have[k])
			fprintf(f, ",\"%s\":%lld", stat_knob_names[k],
				(long long)m->knob[k]);
	}
	fputs(",\"regions\":[", f);
	for (i = 0; i < m->nregions; i++) {
		const struct stat_region *r = &m->regions[i];

		fprintf(f, "%s{\"id\":%llu,\"name\":", i ? "," : "",
			(unsigned long long)r->id);
		str(f, r->name);
		for (k = 0; k < RF_NR; k++) {
			if (r->have[k])
				fprintf(f, ",\"%s\":%lld", stat_rfile_names[k],
					(long long)r->v[k]);
		}
		if (r->have_hist) {
			fputs(",\"heat_histogram\":[", f);
			for (k = 0; k < ESS_HEAT_BUCKETS; k++)
				fprintf(f, "%s%llu", k ? "," : "",
					(unsigned long long)r->hist[k]);
			fputc(']', f);
		}
		fputc('}', f);
	}
	fputs("]}", f);
}

void stat_json(FILE *f, const struct stat_sample *s)
{
	uint64_t tot[ESS_STAT_NR] = { 0 };
	size_t i;
	int k;

	fprintf(f, "{\"ess_stat_version\":%d,", ESS_STAT_VERSION);
	u64(f, "time_ns", s->real_ns, 1);
	fputs("\"dir\":", f);
	str(f, s->dir);
	fprintf(f, ",\"live\":%zu,\"stale\":%zu,\"invalid\":%zu,\"processes\":[",
		s->nlive, s->nstale, s->nbad);
	for (i = 0; i < s->nprocs; i++) {
		if (i)
			fputc(',', f);
		process(f, &s->procs[i]);
		if (s->procs[i].state != ESS_STAT_LIVE)
			continue;
		for (k = 0; k < ESS_STAT_NR; k++)
			tot[k] += s->procs[i].v[k];
	}
	fputs("],\"totals\":", f);
	counters(f, tot);
	fputs(",\"module\":", f);
	module(f, &s->mod);
	fputs("}\n", f);
	fflush(f);
}
