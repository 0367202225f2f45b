// SPDX-License-Identifier: MIT
/*
 * ess-stat against a running runtime (CPU backend, in this process): the
 * context publishes its segment at creation, ess-stat --json shows exactly
 * what ess_stats_get() returns (every counter, the per-layer misses, the
 * header), resolves reach the segment without an ess_stats_get() call,
 * --prometheus is well-formed exposition text with the same numbers, the
 * views name the process; ESS_STAT=0 publishes nothing; destroy removes
 * the segment; a process that exits without destroy leaves a stale one
 * that --gc removes.
 */
#include <ctype.h>
#include <dirent.h>

#include "stat-tap.h"
#include "runtime-tap.h"
#include "ess/ess.h"
#include "ess/stat.h"

#define EB 32

static char dir[] = "/tmp/ess-stat-rt.XXXXXX";

static void cfg_small(struct ess_config *c)
{
	ess_config_default(c);
	c->layers = 4;
	c->entry_bytes = EB;
	c->topk = 8;
	c->slots = 16;
	c->max_requests = 4;
	c->max_tokens = 1024;
	c->extent_tokens = 16;
	c->pool_bytes = 4u << 20;
	c->pool = ESS_POOL_FALLBACK;
}

static int segments(void)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	while (d && (de = readdir(d)))
		n += ess_stat_name_parse(de->d_name, NULL, NULL);
	if (d)
		closedir(d);
	return n;
}

/* Deterministic work: 2 requests of 200 tokens, resolves of shifting
 * windows in every layer (hits, misses, evictions), appends. */
static void work(ess_ctx *ctx, int rounds)
{
	static uint8_t rows[200 * EB];
	int32_t topk[2 * 8], slots[2 * 8];
	uint32_t reqs[2], l;
	int i, j, k;

	for (i = 0; i < (int)sizeof(rows); i++)
		rows[i] = (uint8_t)(i * 7);
	for (k = 0; k < 2; k++) {
		MUST(ess_request_add(ctx, 100 + (uint64_t)k, &reqs[k]));
		for (l = 0; l < 4; l++)
			MUST(ess_ingest(ctx, reqs[k], l, 0, 200, rows));
	}
	for (i = 0; i < rounds; i++) {
		for (l = 0; l < 4; l++) {
			for (k = 0; k < 2; k++)
				for (j = 0; j < 8; j++)
					topk[k * 8 + j] = j == 7 ? -1 :
						(int32_t)((i * (3 + (int)l) + j * 5 + k) % 190);
			MUST(ess_resolve(ctx, l, 2, reqs, topk, slots, NULL));
			MUST(ess_append(ctx, l, 2, reqs, rows, NULL));
		}
	}
	MUST(ess_request_remove(ctx, reqs[1]));
}

struct pair {
	const char *name;
	uint64_t v;
};

/* Every counter name of the JSON against the runtime's own snapshot. */
static int check_json(const char *json, const struct ess_stats *st,
		      const struct ess_config *c)
{
	const struct pair p[] = {
		{ "resolves", st->resolves }, { "lookups", st->lookups },
		{ "hits", st->hits }, { "misses", st->misses },
		{ "evictions", st->evictions }, { "appends", st->appends },
		{ "ingested", st->ingested }, { "warmups", st->warmups },
		{ "h2d_bytes", st->bytes_h2d }, { "d2h_bytes", st->bytes_d2h },
		{ "fetch_ns", st->fetch_ns }, { "data_checks", st->data_checks },
		{ "data_check_failures", st->data_check_failures },
		{ "requests_added", st->requests_added },
		{ "requests_removed", st->requests_removed },
		{ "heat_reports", st->heat_reports },
		{ "heat_report_errors", st->heat_report_errors },
		{ "dram_bytes", st->pool_bytes },
		{ "dram_used_bytes", st->pool_used_bytes },
		{ "pinned_bytes", st->pool_unlocked ? 0 : st->pool_bytes },
		{ "pin_failures", st->pool_unlocked },
		{ "requests_active", st->requests_added - st->requests_removed },
		{ "gpu_bytes", (uint64_t)c->layers * c->max_requests * c->slots *
			       c->entry_bytes },
		{ "gpu_used_bytes", st->hot_used_bytes },
		{ "nvme_reads", 0 }, { "nvme_writes", 0 },
	};
	const char *cnt = strstr(json, "\"counters\":{");
	const char *lm = strstr(json, "\"layer_misses\":[");
	char want[256];
	size_t i;
	int good = cnt && lm;

	for (i = 0; cnt && i < sizeof(p) / sizeof(p[0]); i++) {
		long long v = json_num(cnt, p[i].name);

		if (v != (long long)p[i].v) {
			diag("%s: ess-stat %lld, ess_stats_get %llu", p[i].name, v,
			     (unsigned long long)p[i].v);
			good = 0;
		}
	}
	snprintf(want, sizeof(want), "\"layer_misses\":[%llu,%llu,%llu,%llu]",
		 (unsigned long long)st->layer_misses[0],
		 (unsigned long long)st->layer_misses[1],
		 (unsigned long long)st->layer_misses[2],
		 (unsigned long long)st->layer_misses[3]);
	if (!lm || strncmp(lm, want, strlen(want))) {
		diag("want %s", want);
		good = 0;
	}
	return good;
}

static int name_ok(const char **p, int label)
{
	const char *s = *p;

	if (!(isalpha((unsigned char)*s) || *s == '_' || (!label && *s == ':')))
		return 0;
	while (isalnum((unsigned char)*s) || *s == '_' || (!label && *s == ':'))
		s++;
	*p = s;
	return 1;
}

/*
 * Text exposition 0.0.4: HELP/TYPE comments, samples `name{l="v",...} value`
 * with escaped label values and a float value; TYPE before a family's
 * samples, each family in one group, counters named *_total.  Returns the
 * number of bad lines (each reported).
 */
static int check_prom(const char *text, int *samples)
{
	char fam[64][96];
	int nfam = 0, bad = 0, cur = -1, i, lineno = 0;
	const char *line = text, *end;

	*samples = 0;
	for (; *line; line = end + 1) {
		char name[96], *vend;
		const char *p = line, *q;
		int is_counter = 0;

		end = strchr(line, '\n');
		if (!end) {
			diag("line %d: no newline at the end", lineno);
			return bad + 1;
		}
		lineno++;
		if (!strncmp(p, "# HELP ", 7) || !strncmp(p, "# TYPE ", 7)) {
			int type = p[2] == 'T';

			p += 7;
			q = p;
			if (!name_ok(&p, 0) || *p != ' ') {
				diag("line %d: bad comment: %.*s", lineno, (int)(end - line), line);
				bad++;
				continue;
			}
			snprintf(name, sizeof(name), "%.*s", (int)(p - q), q);
			if (type) {
				p++;
				if (!(end - p == 7 && !strncmp(p, "counter", 7)) &&
				    !(end - p == 5 && !strncmp(p, "gauge", 5))) {
					diag("line %d: bad type", lineno);
					bad++;
				}
				for (i = 0; i < nfam; i++)
					if (!strcmp(fam[i], name)) {
						diag("line %d: family %s typed twice", lineno, name);
						bad++;
					}
				if (nfam < 64)
					snprintf(fam[nfam++], sizeof(fam[0]), "%s", name);
				cur = nfam - 1;
				is_counter = !strncmp(p, "counter", 7);
				if (is_counter && (strlen(name) < 6 ||
				    strcmp(name + strlen(name) - 6, "_total"))) {
					diag("line %d: counter %s without _total", lineno, name);
					bad++;
				}
			}
			continue;
		}
		if (*p == '#') {
			diag("line %d: other comment", lineno);
			bad++;
			continue;
		}
		q = p;
		if (!name_ok(&p, 0)) {
			diag("line %d: bad metric name: %.*s", lineno, (int)(end - line), line);
			bad++;
			continue;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(p - q), q);
		if (cur < 0 || strcmp(fam[cur], name)) {
			diag("line %d: sample of %s outside its TYPE group", lineno, name);
			bad++;
		}
		if (*p == '{') {
			p++;
			while (*p != '}') {
				if (!name_ok(&p, 1) || p[0] != '=' || p[1] != '"') {
					diag("line %d: bad label", lineno);
					bad++;
					goto next;
				}
				p += 2;
				while (*p && *p != '"' && *p != '\n') {
					if (*p == '\\') {
						if (p[1] != '\\' && p[1] != '"' && p[1] != 'n') {
							diag("line %d: bad escape", lineno);
							bad++;
							goto next;
						}
						p++;
					}
					p++;
				}
				if (*p != '"') {
					diag("line %d: unterminated label value", lineno);
					bad++;
					goto next;
				}
				p++;
				if (*p == ',')
					p++;
				else if (*p != '}') {
					diag("line %d: bad label list", lineno);
					bad++;
					goto next;
				}
			}
			p++;
		}
		if (*p != ' ') {
			diag("line %d: no space before the value", lineno);
			bad++;
			continue;
		}
		p++;
		strtod(p, &vend);
		if (vend == p || vend != end) {
			diag("line %d: bad value: %.*s", lineno, (int)(end - p), p);
			bad++;
			continue;
		}
		(*samples)++;
next:
		;
	}
	return bad;
}

#define ARGV(...) ((char *const[]){ "ess-stat", __VA_ARGS__, NULL })

int main(void)
{
	char pid_s[16], series[256], want[64];
	struct ess_config c;
	struct ess_stats st;
	struct run_out ro;
	ess_ctx *ctx, *ctx2;
	int samples, bad, status;
	pid_t child;
	const char *proc;

	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	setenv("ESS_STAT_DIR", dir, 1);
	unsetenv("ESS_STAT");
	setenv("ESS_STAT_PERIOD_MS", "0", 1);	/* every resolve publishes */
	snprintf(pid_s, sizeof(pid_s), "%d", (int)getpid());
	cfg_small(&c);

	ctx = make_ctx(&c);
	ok(segments() == 1, "ess_create published one segment in $ESS_STAT_DIR");
	work(ctx, 30);
	MUST(ess_sync(ctx, NULL));	/* publishes too: after the removal */

	/* the work reached the segment without ess_stats_get */
	run_stat(&ro, ARGV("--json", "--pid", pid_s));
	MUST(ess_stats_get(ctx, &st));
	ok(ro.status == 0 && st.resolves > 0 &&
	   json_num(strstr(ro.out, "\"counters\""), "resolves") == (long long)st.resolves &&
	   json_num(strstr(ro.out, "\"counters\""), "hits") == (long long)st.hits &&
	   json_num(strstr(ro.out, "\"counters\""), "misses") == (long long)st.misses &&
	   json_num(strstr(ro.out, "\"counters\""), "dram_used_bytes") ==
	   (long long)st.pool_used_bytes && st.pool_used_bytes > 0,
	   "published as they happen (%llu resolves, %llu hits, %llu misses, %llu pool bytes used)",
	   (unsigned long long)st.resolves, (unsigned long long)st.hits,
	   (unsigned long long)st.misses, (unsigned long long)st.pool_used_bytes);
	run_free(&ro);

	/* after ess_stats_get, every number equals the snapshot */
	MUST(ess_stats_get(ctx, &st));
	run_stat(&ro, ARGV("--json", "--pid", pid_s));
	ok(ro.status == 0 && st.hits > 0 && st.misses > 0 && st.evictions > 0 &&
	   st.hot_used_bytes > 0 && check_json(ro.out, &st, &c),
	   "--json: every counter and layer miss equals ess_stats_get");
	proc = strstr(ro.out, "\"processes\":[{");
	snprintf(want, sizeof(want), "\"pool\":\"%s\"", ess_pool_provider(ctx));
	ok(proc && json_num(proc, "pid") == getpid() && json_num(proc, "layers") == 4 &&
	   json_num(proc, "topk") == 8 && json_num(proc, "slots") == 16 &&
	   json_num(proc, "entry_bytes") == EB && strstr(proc, "\"backend\":\"cpu\"") &&
	   strstr(proc, "\"state\":\"live\"") && strstr(proc, "\"policy\":\"lru\"") &&
	   strstr(proc, want) && json_num(ro.out, "live") == 1,
	   "--json: header (pid, geometry, backend, policy, pool), live");
	run_free(&ro);

	/* the checker itself refuses what it should */
	{
		static const char *const wrong[] = {
			"ess_x_total 1\n",	/* no TYPE */
			"# TYPE ess_x counter\ness_x 1\n",	/* counter without _total */
			"# TYPE ess_x gauge\ness_x{a=\"b} 1\n",
			"# TYPE ess_x gauge\ness_x{a=\"\\q\"} 1\n",
			"# TYPE ess_x gauge\ness_x 1x\n",
			"# TYPE ess_x gauge\ness_x 1",	/* no final newline */
			"# TYPE ess_x gauge\n# TYPE ess_y gauge\ness_x 1\n",
			"# TYPE ess_x histogram\n",
			"# TYPE 9x gauge\n",
		};
		int all = 1;

		for (size_t w = 0; w < sizeof(wrong) / sizeof(wrong[0]); w++)
			all &= check_prom(wrong[w], &samples) > 0;
		ok(all && check_prom("# HELP ess_x h\n# TYPE ess_x gauge\n"
				     "ess_x{a=\"\\\"\\n\"} 1.5\n", &samples) == 0 &&
		   samples == 1, "exposition checker refuses 9 malformed texts, takes a good one");
	}
	run_stat(&ro, ARGV("--prometheus"));
	bad = check_prom(ro.out, &samples);
	/* 2 process counts, every value of our process, 4 layers, module_loaded */
	ok(ro.status == 0 && bad == 0 && samples == 2 + ESS_STAT_NR + 4 + 1,
	   "--prometheus: %d samples, every line well-formed, families grouped", samples);
	snprintf(series, sizeof(series),
		 "ess_hits_total{pid=\"%s\",ctx=\"0\",comm=\"stat-runtime\",backend=\"cpu\",device=\"-1\"}",
		 pid_s);
	ok(prom_value(ro.out, series) == (long long)st.hits,
	   "--prometheus: %s = %llu", series, (unsigned long long)st.hits);
	snprintf(series, sizeof(series),
		 "ess_layer_misses_total{pid=\"%s\",ctx=\"0\",comm=\"stat-runtime\",backend=\"cpu\",device=\"-1\",layer=\"2\"}",
		 pid_s);
	ok(prom_value(ro.out, series) == (long long)st.layer_misses[2],
	   "--prometheus: layer 2 misses = %llu", (unsigned long long)st.layer_misses[2]);
	snprintf(want, sizeof(want), "} %llu.%09llu\n",
		 (unsigned long long)(st.fetch_ns / 1000000000ull),
		 (unsigned long long)(st.fetch_ns % 1000000000ull));
	ok(strstr(ro.out, "ess_fetch_seconds_total{") &&
	   strstr(strstr(ro.out, "ess_fetch_seconds_total{"), want),
	   "--prometheus: fetch time in seconds (%llu ns)",
	   (unsigned long long)st.fetch_ns);
	run_free(&ro);

	run_stat(&ro, ARGV("-p"));
	ok(ro.status == 0 && strstr(ro.out, pid_s) && strstr(ro.out, "live") &&
	   strstr(ro.out, "stat-runtime") && strstr(ro.out, "DRAM used/size") &&
	   strstr(ro.out, "\ncpu            1 "),
	   "-p: our process, live, with its tiers; 1 process on device cpu");
	run_free(&ro);

	run_stat(&ro, ARGV("-L"));
	{
		char line[64];

		snprintf(line, sizeof(line), "\n    2 %9llu ",
			 (unsigned long long)st.layer_misses[2]);
		ok(ro.status == 0 && st.layer_misses[2] < 1000 &&
		   strstr(ro.out, line) && strstr(ro.out, "\n    3 ") &&
		   !strstr(ro.out, "\n    4 "),
		   "-L: 4 layers, layer 2 with its %llu misses",
		   (unsigned long long)st.layer_misses[2]);
	}
	run_free(&ro);

	run_stat(&ro, ARGV("0.02", "3"));
	ok(ro.status == 0 && strstr(ro.out, "resolve/s") &&
	   strstr(ro.out, "\n    1 ") && !strstr(ro.out, "\n    0 "),
	   "vmstat lines: 1 live process on every line");
	{
		int lines = 0;

		for (const char *p = ro.out; *p; p++)
			lines += *p == '\n';
		ok(lines == 5, "2 header lines and 3 lines for count 3 (got %d)", lines);
	}
	{
		/* This process is idle while ess-stat runs (it waits for it):
		 * the since-start line has work, the interval lines none. */
		char l1[64], l2[64], l3[64];
		const char *p = strchr(strchr(ro.out, '\n') + 1, '\n') + 1;

		if (sscanf(p, "%*s %63s %*[^\n]\n%*s %63s %*[^\n]\n%*s %63s", l1, l2, l3) == 3)
			ok(strcmp(l1, "0") && !strcmp(l2, "0") && !strcmp(l3, "0"),
			   "resolve/s: %s since start, then %s and %s while idle", l1, l2, l3);
		else
			ok(0, "vmstat lines parse");
	}
	run_free(&ro);

	/* a second context: its own segment, totals add up */
	ctx2 = make_ctx(&c);
	work(ctx2, 5);
	MUST(ess_stats_get(ctx, &st));
	{
		struct ess_stats st2;

		MUST(ess_stats_get(ctx2, &st2));
		run_stat(&ro, ARGV("--json"));
		ok(segments() == 2 && json_num(ro.out, "live") == 2 &&
		   json_num(strstr(ro.out, "\"totals\""), "lookups") ==
		   (long long)(st.lookups + st2.lookups),
		   "two contexts: two segments, totals are their sums");
		run_free(&ro);
	}
	ess_destroy(ctx2);
	ok(segments() == 1, "ess_destroy removes that context's segment");

	setenv("ESS_STAT", "0", 1);
	ctx2 = make_ctx(&c);
	ok(segments() == 1, "ESS_STAT=0: no segment");
	ess_destroy(ctx2);
	unsetenv("ESS_STAT");

	/* a process that dies without ess_destroy */
	fflush(stdout);
	child = fork();
	if (child == 0) {
		ess_ctx *cc = make_ctx(&c);

		work(cc, 2);
		_exit(0);
	}
	waitpid(child, &status, 0);
	run_stat(&ro, ARGV("-p"));
	ok(ro.status == 0 && strstr(ro.out, "stale") && strstr(ro.out, "--gc"),
	   "-p: the dead process's segment shown stale, --gc suggested");
	run_free(&ro);
	run_stat(&ro, ARGV("--prometheus"));
	ok(prom_value(ro.out, "ess_processes{state=\"stale\"}") == 1 &&
	   prom_value(ro.out, "ess_processes{state=\"live\"}") == 1,
	   "--prometheus: 1 live, 1 stale");
	run_free(&ro);
	run_stat(&ro, ARGV("--gc"));
	ok(ro.status == 0 && strstr(ro.out, "removed 1 stale") && segments() == 1,
	   "--gc removes the stale segment only");
	run_free(&ro);

	ess_destroy(ctx);
	run_stat(&ro, (char *const[]){ "ess-stat", NULL });
	ok(segments() == 0 && ro.status == 0 && strstr(ro.out, "no ESS runtime running"),
	   "after destroy: no segment, 'no ESS runtime running', exit 0");
	run_free(&ro);
	ok(rmdir(dir) == 0, "segment directory empty");
	return done();
}
