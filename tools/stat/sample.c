// SPDX-License-Identifier: MIT
/*
 * One look at the system: every statistics segment (optionally one
 * process's) and the module's sysfs.  Also the small formatting helpers
 * the views share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stat.h"

static uint64_t now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int stat_sample_take(const struct stat_opts *o, struct stat_sample *s,
		     char *err, size_t errlen)
{
	size_t i, j;
	int ret;

	memset(s, 0, sizeof(*s));
	s->dir = o->dir;
	s->mono_ns = now_ns(CLOCK_MONOTONIC);
	s->real_ns = now_ns(CLOCK_REALTIME);
	ret = ess_stat_list(o->dir, &s->procs, &s->nprocs, &s->nbad, err,
			    errlen);
	if (ret == -ENOENT) {
		s->dir_missing = 1;
	} else if (ret) {
		return ret;
	}
	if (o->pid) {
		for (i = j = 0; i < s->nprocs; i++)
			if (s->procs[i].hdr.pid == o->pid)
				s->procs[j++] = s->procs[i];
		s->nprocs = j;
	}
	for (i = 0; i < s->nprocs; i++) {
		if (s->procs[i].state == ESS_STAT_LIVE)
			s->nlive++;
		else
			s->nstale++;
	}
	ret = stat_module_read(o->sysfs, &s->mod, err, errlen);
	if (ret) {
		stat_sample_free(s);
		return ret;
	}
	return 0;
}

void stat_sample_free(struct stat_sample *s)
{
	free(s->procs);
	s->procs = NULL;
	s->nprocs = 0;
	stat_module_free(&s->mod);
}

const char *stat_backend_name(uint32_t backend)
{
	switch (backend) {
	case ESS_BACKEND_CPU: return "cpu";
	case ESS_BACKEND_CUDA: return "cuda";
	default: return "unknown";
	}
}

char *stat_human(char *buf, size_t len, double v, int bytes)
{
	static const char su[] = " kMGTPE", bu[] = "BKMGTPE";
	double base = bytes ? 1024.0 : 1000.0;
	int i = 0;

	while (v >= base * 0.9995 && i < 6) {
		v /= base;
		i++;
	}
	if (i == 0) {
		if (bytes)
			snprintf(buf, len, "%.0fB", v);
		else if (v != (double)(uint64_t)v && v < 100)
			snprintf(buf, len, "%.1f", v);
		else
			snprintf(buf, len, "%.0f", v);
	} else {
		snprintf(buf, len, v < 10 ? "%.2f%c" : v < 100 ? "%.1f%c" : "%.0f%c",
			 v, bytes ? bu[i] : su[i]);
	}
	return buf;
}
