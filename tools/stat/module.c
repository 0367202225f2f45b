// SPDX-License-Identifier: MIT
/*
 * The module's view from sysfs (Documentation/ABI/testing/sysfs-kernel-ess):
 * global state and knobs, and per region its sizes, users and heat
 * histogram.  Regions can vanish while they are read; such a region is
 * left out, never reported half-read as an error.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stat.h"

const char *const stat_knob_names[KNOB_NR] = {
	[KNOB_ABI_VERSION] = "abi_version",
	[KNOB_PINNED_BYTES] = "pinned_bytes",
	[KNOB_PINNED_CAP_BYTES] = "pinned_cap_bytes",
	[KNOB_NR_REGIONS] = "nr_regions",
	[KNOB_AGGREGATION_INTERVAL_MS] = "aggregation_interval_ms",
	[KNOB_HEAT_DECAY_PCT] = "heat_decay_pct",
	[KNOB_HOT_THRESHOLD] = "hot_threshold",
	[KNOB_COLD_THRESHOLD] = "cold_threshold",
};

const char *const stat_rfile_names[RF_NR] = {
	[RF_BYTES] = "bytes",
	[RF_PINNED_BYTES] = "pinned_bytes",
	[RF_NODE] = "node",
	[RF_OWNER] = "owner",
	[RF_USERS] = "users",
	[RF_MAPPINGS] = "mappings",
	[RF_HEAT_BLOCK_SIZE] = "heat_block_size",
};

/* Read a small file into buf; its length, or -errno. */
static ssize_t read_small(const char *dir, const char *file, char *buf,
			  size_t len)
{
	char path[2048];
	ssize_t n, got = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((size_t)got < len - 1) {
		n = read(fd, buf + got, len - 1 - (size_t)got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			close(fd);
			return n;
		}
		if (n == 0)
			break;
		got += n;
	}
	close(fd);
	buf[got] = 0;
	return got;
}

/* One decimal number and a newline; 0 or -EINVAL / -errno. */
static int read_num(const char *dir, const char *file, int64_t *v)
{
	char buf[64], *end;
	long long x;
	ssize_t n;

	n = read_small(dir, file, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	errno = 0;
	x = strtoll(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n'))
		return -EINVAL;
	*v = x;
	return 0;
}

static int read_hist(const char *dir, uint64_t *hist)
{
	char buf[1024], *p, *end;
	unsigned int i;
	ssize_t n;

	n = read_small(dir, "heat_histogram", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	p = buf;
	for (i = 0; i < ESS_HEAT_BUCKETS; i++) {
		while (*p == ' ')
			p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		errno = 0;
		hist[i] = strtoull(p, &end, 10);
		if (errno)
			return -EINVAL;
		p = end;
	}
	while (*p == ' ' || *p == '\n')
		p++;
	return *p ? -EINVAL : 0;
}

static int read_region(const char *rdir, uint64_t id, struct stat_region *r)
{
	char dir[2048], name[ESS_NAME_MAX + 2];
	ssize_t n;
	int i;

	memset(r, 0, sizeof(*r));
	r->id = id;
	snprintf(dir, sizeof(dir), "%s/%llu", rdir, (unsigned long long)id);
	n = read_small(dir, "name", name, sizeof(name));
	if (n == -ENOENT)
		return -ENOENT;		/* freed meanwhile */
	if (n > 0) {
		name[strcspn(name, "\n")] = 0;
		name[sizeof(r->name) - 1] = 0;
		memcpy(r->name, name, sizeof(r->name));
	}
	for (i = 0; i < RF_NR; i++)
		r->have[i] = read_num(dir, stat_rfile_names[i], &r->v[i]) == 0;
	r->have_hist = read_hist(dir, r->hist) == 0;
	return 0;
}

static int cmp_region(const void *a, const void *b)
{
	const struct stat_region *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

int stat_module_read(const char *root, struct stat_module *m,
		     char *err, size_t errlen)
{
	struct stat_region *v = NULL, *nv;
	size_t cap = 0, cnt = 0;
	char rdir[1100], *end;
	struct dirent *de;
	struct stat sb;
	unsigned long long id;
	DIR *d;
	int i;

	memset(m, 0, sizeof(*m));
	snprintf(m->root, sizeof(m->root), "%s", root);
	if (stat(root, &sb) || !S_ISDIR(sb.st_mode))
		return 0;		/* not loaded */
	m->loaded = 1;
	for (i = 0; i < KNOB_NR; i++)
		m->have[i] = read_num(root, stat_knob_names[i], &m->knob[i]) == 0;
	snprintf(rdir, sizeof(rdir), "%s/regions", root);
	d = opendir(rdir);
	if (!d)
		return 0;	/* a module without regions/: nothing more */
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		errno = 0;
		id = strtoull(de->d_name, &end, 10);
		if (errno || *end)
			continue;
		if (cnt == cap) {
			cap = cap ? 2 * cap : 8;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				snprintf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			v = nv;
		}
		if (read_region(rdir, id, &v[cnt]) == 0)
			cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_region);
	m->regions = v;
	m->nregions = cnt;
	return 0;
}

void stat_module_free(struct stat_module *m)
{
	free(m->regions);
	m->regions = NULL;
	m->nregions = 0;
}
