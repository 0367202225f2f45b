// SPDX-License-Identifier: MIT
/*
 * --prometheus: the text exposition format, version 0.0.4.  Every family
 * gets its HELP and TYPE lines and then all its samples together (the
 * format wants a family's lines in one group).  Counters end in _total;
 * fetch time is exported in seconds, the base unit.  Stale segments are
 * not exported as processes, only counted.
 */
#include <stdio.h>
#include <string.h>

#include "stat.h"

static void family(FILE *f, const char *name, const char *type,
		   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void lval(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void proc_labels(FILE *f, const struct ess_stat_snapshot *p)
{
	fprintf(f, "{pid=\"%d\",ctx=\"%u\",comm=\"", p->hdr.pid, p->hdr.ctx_id);
	lval(f, p->hdr.comm);
	fprintf(f, "\",backend=\"%s\",device=\"%d\"",
		stat_backend_name(p->hdr.backend), p->hdr.device);
}

static void region_labels(FILE *f, const struct stat_region *r)
{
	fprintf(f, "{region=\"%llu\",name=\"", (unsigned long long)r->id);
	lval(f, r->name);
	fputc('"', f);
}

static void processes(FILE *f, const struct stat_sample *s)
{
	char name[96];
	size_t i;
	int k;

	for (k = 0; k < ESS_STAT_NR; k++) {
		const struct ess_stat_field *fd = &ess_stat_fields[k];
		int secs = !strcmp(fd->unit, "ns");
		size_t n = strlen(fd->name);

		if (secs)	/* "fetch_ns" -> "fetch_seconds" */
			snprintf(name, sizeof(name), "ess_%.*s_seconds%s",
				 (int)(n - 3), fd->name,
				 fd->kind == ESS_STAT_COUNTER ? "_total" : "");
		else
			snprintf(name, sizeof(name), "ess_%s%s", fd->name,
				 fd->kind == ESS_STAT_COUNTER ? "_total" : "");
		family(f, name, fd->kind == ESS_STAT_COUNTER ? "counter" : "gauge",
		       fd->help);
		for (i = 0; i < s->nprocs; i++) {
			const struct ess_stat_snapshot *p = &s->procs[i];

			if (p->state != ESS_STAT_LIVE)
				continue;
			fputs(name, f);
			proc_labels(f, p);
			if (secs)
				fprintf(f, "} %llu.%09llu\n",
					(unsigned long long)(p->v[k] / 1000000000ull),
					(unsigned long long)(p->v[k] % 1000000000ull));
			else
				fprintf(f, "} %llu\n", (unsigned long long)p->v[k]);
		}
	}
	family(f, "ess_layer_misses_total", "counter",
	       "Top-k entries fetched from the host pool, per layer.");
	for (i = 0; i < s->nprocs; i++) {
		const struct ess_stat_snapshot *p = &s->procs[i];
		uint32_t l;

		if (p->state != ESS_STAT_LIVE)
			continue;
		for (l = 0; l < p->hdr.layers; l++) {
			fputs("ess_layer_misses_total", f);
			proc_labels(f, p);
			fprintf(f, ",layer=\"%u\"} %llu\n", l,
				(unsigned long long)p->layer_misses[l]);
		}
	}
}

static void module(FILE *f, const struct stat_module *m)
{
	static const char *const rhelp[RF_NR] = {
		[RF_BYTES] = "Region size in bytes.",
		[RF_PINNED_BYTES] = "Bytes pinned for the region.",
		[RF_NODE] = "NUMA node of the region's blocks.",
		[RF_OWNER] = "Owner uid of the region.",
		[RF_USERS] = "Files bound to the region.",
		[RF_MAPPINGS] = "Live mappings of the region.",
		[RF_HEAT_BLOCK_SIZE] = "Heat block size in bytes.",
	};
	char name[96];
	size_t i;
	int k;

	family(f, "ess_module_loaded", "gauge",
	       "1 if the ess kernel module is loaded (its sysfs directory exists).");
	fprintf(f, "ess_module_loaded %d\n", m->loaded);
	for (k = 0; k < KNOB_NR; k++) {
		if (!m->loaded || !m->have[k])
			continue;
		snprintf(name, sizeof(name), "ess_module_%s", stat_knob_names[k]);
		family(f, name, "gauge", "Value of /sys/kernel/ess/ file of that name.");
		fprintf(f, "%s %lld\n", name, (long long)m->knob[k]);
	}
	if (!m->loaded)
		return;
	for (k = 0; k < RF_NR; k++) {
		snprintf(name, sizeof(name), "ess_region_%s", stat_rfile_names[k]);
		family(f, name, "gauge", rhelp[k]);
		for (i = 0; i < m->nregions; i++) {
			if (!m->regions[i].have[k])
				continue;
			fputs(name, f);
			region_labels(f, &m->regions[i]);
			fprintf(f, "} %lld\n", (long long)m->regions[i].v[k]);
		}
	}
	family(f, "ess_region_heat_blocks", "gauge",
	       "Heat blocks per heat histogram bucket (0: heat 0, i: heat in [2^(i-1), 2^i)).");
	for (i = 0; i < m->nregions; i++) {
		if (!m->regions[i].have_hist)
			continue;
		for (k = 0; k < ESS_HEAT_BUCKETS; k++) {
			fputs("ess_region_heat_blocks", f);
			region_labels(f, &m->regions[i]);
			fprintf(f, ",bucket=\"%d\"} %llu\n", k,
				(unsigned long long)m->regions[i].hist[k]);
		}
	}
}

void stat_prometheus(FILE *f, const struct stat_sample *s)
{
	family(f, "ess_processes", "gauge",
	       "Statistics segments found, by state (stale: writer exited).");
	fprintf(f, "ess_processes{state=\"live\"} %zu\n", s->nlive);
	fprintf(f, "ess_processes{state=\"stale\"} %zu\n", s->nstale);
	processes(f, s);
	module(f, &s->mod);
	fflush(f);
}
