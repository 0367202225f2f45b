// SPDX-License-Identifier: MIT
/*
 * ESS_CFG_NO_STAT: a context created with it publishes no statistics
 * segment (none appears in $ESS_STAT_DIR, ess-stat lists nothing for the
 * process) while ess_stats_get() counts exactly as without it; a context
 * without the flag in the same process and directory does publish, so the
 * check can fail.  An unknown flag bit next to it is still refused, and
 * refused before any segment is made.
 */
#include <dirent.h>

#include "stat-tap.h"
#include "runtime-tap.h"
#include "ess/ess.h"
#include "ess/stat.h"

#define EB 32

static char dir[] = "/tmp/ess-nostat.XXXXXX";

static void cfg(struct ess_config *c, uint32_t flags)
{
	ess_config_default(c);
	c->flags = flags;
	c->layers = 2;
	c->entry_bytes = EB;
	c->topk = 4;
	c->slots = 8;
	c->max_requests = 2;
	c->max_tokens = 256;
	c->extent_tokens = 16;
	c->pool_bytes = 2u << 20;
	c->pool = ESS_POOL_FALLBACK;
}

/* Files in dir: segments, and anything else (a temporary left behind). */
static int files(int *segs)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	*segs = 0;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		*segs += ess_stat_name_parse(de->d_name, NULL, NULL);
	}
	if (d)
		closedir(d);
	return n;
}

/* The same deterministic work on a context: returns its stats. */
static void work(ess_ctx *ctx, struct ess_stats *st)
{
	static uint8_t rows[40 * EB];
	int32_t t[4], o[4];
	uint32_t r;

	for (size_t i = 0; i < sizeof(rows); i++)
		rows[i] = (uint8_t)(i * 3);
	MUST(ess_request_add(ctx, 7, &r));
	MUST(ess_ingest(ctx, r, 0, 0, 40, rows));
	MUST(ess_ingest(ctx, r, 1, 0, 40, rows));
	for (int s = 0; s < 20; s++) {
		for (int j = 0; j < 4; j++)
			t[j] = j == 3 ? -1 : (int32_t)(((s >> 1) + j) % 40);
		MUST(ess_resolve(ctx, (uint32_t)(s & 1), 1, &r, t, o, NULL));
		MUST(ess_append(ctx, (uint32_t)(s & 1), 1, &r, rows, NULL));
	}
	MUST(ess_sync(ctx, NULL));
	MUST(ess_stats_get(ctx, st));
}

int main(void)
{
	struct ess_config c;
	struct ess_stats sn, sp;
	struct run_out ro;
	char pid_s[16], err[256] = "";
	ess_ctx *quiet, *loud = NULL;
	int segs, n, r;

	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	setenv("ESS_STAT_DIR", dir, 1);
	unsetenv("ESS_STAT");
	setenv("ESS_STAT_PERIOD_MS", "0", 1);	/* every call would publish */
	snprintf(pid_s, sizeof(pid_s), "%d", (int)getpid());

	ok(ESS_CFG_NO_STAT & ESS_CFG_FLAGS &&
	   !(ESS_CFG_NO_STAT & (ESS_CFG_DATA_CHECK | ESS_CFG_NO_HEAT | ESS_CFG_POOL_LOCKED)),
	   "ESS_CFG_NO_STAT is a flag of its own in ESS_CFG_FLAGS");

	cfg(&c, ESS_CFG_NO_STAT | ESS_CFG_NO_HEAT);
	quiet = make_ctx(&c);
	n = files(&segs);
	ok(n == 0 && segs == 0, "NO_STAT context: no file in $ESS_STAT_DIR (%d)", n);
	ok(ess_get_config(quiet)->flags & ESS_CFG_NO_STAT, "the flag stays in the configuration");

	work(quiet, &sn);
	n = files(&segs);
	ok(n == 0, "after resolves, appends, sync and ess_stats_get: still none");
	ok(sn.resolves == 20 && sn.lookups == 60 && sn.hits + sn.misses == 60 && sn.hits > 0 &&
	   sn.appends == 20 && sn.ingested == 80 && sn.requests_added == 1 &&
	   sn.hot_used_bytes > 0 && sn.pool_used_bytes > 0,
	   "ess_stats_get counts (%llu hits, %llu misses, %llu hot bytes)",
	   (unsigned long long)sn.hits, (unsigned long long)sn.misses,
	   (unsigned long long)sn.hot_used_bytes);

	run_stat(&ro, (char *const[]){ "ess-stat", "--json", NULL });
	ok(ro.status == 0 && json_num(ro.out, "live") == 0 && !strstr(ro.out, pid_s),
	   "ess-stat --json lists no process");
	run_free(&ro);

	/* the same work, published: the directory is the one segments go to */
	cfg(&c, ESS_CFG_NO_HEAT);
	loud = make_ctx(&c);
	n = files(&segs);
	ok(n == 1 && segs == 1, "a context without the flag publishes one segment");
	work(loud, &sp);
	sp.fetch_ns = sn.fetch_ns;	/* a clock, not a count */
	sp.pool_unlocked = sn.pool_unlocked;	/* the host, not the flag */
	ok(!memcmp(&sn, &sp, sizeof(sn)),
	   "NO_STAT counts exactly what a published context counts");
	run_stat(&ro, (char *const[]){ "ess-stat", "--json", NULL });
	ok(ro.status == 0 && json_num(ro.out, "live") == 1 &&
	   json_num(strstr(ro.out, "\"counters\""), "resolves") == 20,
	   "ess-stat --json lists only the published context");
	run_free(&ro);
	ess_destroy(loud);
	ess_destroy(quiet);
	n = files(&segs);
	ok(n == 0, "both destroyed: directory empty");

	/* an unknown flag beside it (the lowest bit no flag uses):
	 * refused, nothing published */
	const uint32_t unknown = (ESS_CFG_FLAGS + 1) & ~ESS_CFG_FLAGS;
	cfg(&c, unknown);
	loud = NULL;
	r = ess_create(&c, &loud, err, sizeof(err));
	n = files(&segs);
	ok(r == -EINVAL && !loud && strstr(err, "unknown flags") && n == 0,
	   "unknown flag 0x%x refused: %s", unknown, err);
	cfg(&c, ESS_CFG_NO_STAT | unknown);
	r = ess_create(&c, &loud, err, sizeof(err));
	ok(r == -EINVAL && !loud && files(&segs) == 0,
	   "NO_STAT with an unknown flag: refused too");

	rmdir(dir);
	return done();
}
