// SPDX-License-Identifier: MIT
/*
 * ess-stat: what the ESS runtimes on this machine and the ess module are
 * doing.  Reads the statistics segments libess contexts publish
 * (include/ess/stat.h) and the module's sysfs; never writes to either
 * (--gc only removes segments no process holds).  The views and formats
 * are in tools/stat/; Documentation/man/ess-stat.1 is the manual.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stat/stat.h"

enum { EXIT_USAGE = 2 };

enum {
	OPT_PROMETHEUS = 256,
	OPT_PID,
	OPT_SYSFS,
	OPT_GC,
	OPT_MAX_REQUESTS,
};

static const char usage_text[] =
"usage: ess-stat [OPTION]... [INTERVAL [COUNT]]\n"
"Show the counters ESS runtimes publish and the ess module's state.\n"
"\n"
"Text views (combine freely; default: one vmstat-style line per INTERVAL,\n"
"the first one averaged since each process started):\n"
"  -p, --procs            per-process and per-tier tables\n"
"  -m, --module           module state: pinned bytes, knobs, regions\n"
"  -H, --heat             heat histogram of every module region\n"
"  -L, --layers           misses per layer, summed over the processes\n"
"Machine formats (everything, one look per INTERVAL):\n"
"  -j, --json             one JSON object per line\n"
"      --prometheus       Prometheus text exposition format 0.0.4\n"
"  -l, --listen PORT      serve /metrics on 127.0.0.1:PORT (0: a free port,\n"
"                         printed on stderr) until SIGINT or SIGTERM\n"
"      --max-requests N   with --listen: stop after N requests\n"
"Other:\n"
"      --pid PID          only the segments of process PID\n"
"  -d, --dir DIR          segment directory (default: $ESS_STAT_DIR, else\n"
"                         " ESS_STAT_DIR_DEFAULT ")\n"
"      --sysfs DIR        module sysfs directory (default " STAT_SYSFS_DEFAULT ")\n"
"      --gc               remove the segments of exited processes\n"
"  -h, --help             this text\n"
"\n"
"INTERVAL: seconds (> 0, decimals allowed); COUNT: looks to take (default:\n"
"1 without INTERVAL, else until interrupted).\n"
"Exit status: 0 success (also when no runtime runs or the module is not\n"
"loaded), 1 error (unreadable directory, --pid not found, port in use),\n"
"2 usage error.\n";

static void on_signal(int sig)
{
	(void)sig;
	stat_stop = 1;
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "ess-stat: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'ess-stat --help' for more information.\n");
	return EXIT_USAGE;
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return errno || *end || *v > max ? -1 : 0;
}

static int parse_interval(const char *s, double *v)
{
	char *end;

	if (!s || !((*s >= '0' && *s <= '9') || *s == '.'))
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	return errno || *end || !isfinite(*v) || *v <= 0 || *v > 86400 ? -1 : 0;
}

/* Sleep until base + n * interval (monotonic); 0, or -1 when stopped. */
static int sleep_until(const struct timespec *base, double interval,
		       unsigned long n)
{
	struct timespec t = *base;
	double off = interval * (double)n;
	long long ns;

	ns = (long long)(off * 1e9) + t.tv_nsec;
	t.tv_sec += (time_t)(ns / 1000000000ll);
	t.tv_nsec = (long)(ns % 1000000000ll);
	while (!stat_stop) {
		int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);

		if (r == 0)
			return 0;
		if (r != EINTR)
			return -1;
	}
	return -1;
}

struct run {
	struct stat_opts o;
	int procs, module, heat, layers, json, prom;
	double interval;		/* 0: one look */
	unsigned long count;		/* 0: until stopped */
};

static void text_views(const struct run *r, const struct stat_sample *s,
		       int first)
{
	if (!first)
		fputc('\n', stdout);
	if (r->procs)
		stat_view_procs(stdout, s);
	if (r->module) {
		if (r->procs)
			fputc('\n', stdout);
		stat_view_module(stdout, s);
	}
	if (r->heat) {
		if (r->procs || r->module)
			fputc('\n', stdout);
		stat_view_heat(stdout, s);
	}
	if (r->layers) {
		if (r->procs || r->module || r->heat)
			fputc('\n', stdout);
		stat_view_layers(stdout, s);
	}
	fflush(stdout);
}

static int looks(const struct run *r)
{
	int vm = !r->procs && !r->module && !r->heat && !r->layers && !r->json &&
		 !r->prom;
	struct stat_sample prev, cur;
	struct timespec base;
	unsigned long n;
	char err[512];
	int have_prev = 0, ret;

	clock_gettime(CLOCK_MONOTONIC, &base);
	for (n = 0; !r->count || n < r->count; n++) {
		if (n && (!r->interval || sleep_until(&base, r->interval, n)))
			break;
		ret = stat_sample_take(&r->o, &cur, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "ess-stat: %s\n", err);
			if (have_prev)
				stat_sample_free(&prev);
			return 1;
		}
		if (n == 0 && r->o.pid && !cur.nprocs && !r->interval) {
			fprintf(stderr, "ess-stat: no statistics segment of pid %d in %s\n",
				r->o.pid, r->o.dir);
			stat_sample_free(&cur);
			return 1;
		}
		if (r->json) {
			stat_json(stdout, &cur);
		} else if (r->prom) {
			stat_prometheus(stdout, &cur);
		} else if (vm) {
			if (n == 0) {
				if (!cur.nlive && !r->interval)
					printf("no ESS runtime running (no live segments in %s)\n",
					       r->o.dir);
				if (cur.nstale)
					fprintf(stderr, "ess-stat: %zu stale segment(s) of exited processes in %s ('ess-stat --gc' removes them)\n",
						cur.nstale, r->o.dir);
				if (!cur.nlive && !r->interval) {
					stat_sample_free(&cur);
					break;
				}
				stat_vm_header(stdout);
			}
			stat_vm_line(stdout, &cur, have_prev ? &prev : NULL);
		} else {
			text_views(r, &cur, n == 0);
		}
		if (ferror(stdout)) {
			stat_sample_free(&cur);
			if (have_prev)
				stat_sample_free(&prev);
			return 1;
		}
		if (have_prev)
			stat_sample_free(&prev);
		prev = cur;
		have_prev = 1;
	}
	if (have_prev)
		stat_sample_free(&prev);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "procs", no_argument, NULL, 'p' },
		{ "module", no_argument, NULL, 'm' },
		{ "heat", no_argument, NULL, 'H' },
		{ "layers", no_argument, NULL, 'L' },
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, OPT_PROMETHEUS },
		{ "listen", required_argument, NULL, 'l' },
		{ "max-requests", required_argument, NULL, OPT_MAX_REQUESTS },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "dir", required_argument, NULL, 'd' },
		{ "sysfs", required_argument, NULL, OPT_SYSFS },
		{ "gc", no_argument, NULL, OPT_GC },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa;
	struct run r;
	unsigned long v, max_requests = 0;
	long port = -1;
	int c, gc = 0, have_max = 0;
	char err[512];

	memset(&r, 0, sizeof(r));
	r.o.dir = ess_stat_dir();
	r.o.sysfs = STAT_SYSFS_DEFAULT;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":pmHLjl:d:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'p': r.procs = 1; break;
		case 'm': r.module = 1; break;
		case 'H': r.heat = 1; break;
		case 'L': r.layers = 1; break;
		case 'j': r.json = 1; break;
		case OPT_PROMETHEUS: r.prom = 1; break;
		case 'l':
			if (parse_ulong(optarg, 65535, &v))
				return usage_error("--listen: '%s' is not a port number (0-65535)",
						   optarg);
			port = (long)v;
			break;
		case OPT_MAX_REQUESTS:
			if (parse_ulong(optarg, 1000000000ul, &v) || !v)
				return usage_error("--max-requests: '%s' is not a positive number",
						   optarg);
			max_requests = v;
			have_max = 1;
			break;
		case OPT_PID:
			if (parse_ulong(optarg, INT32_MAX, &v) || !v)
				return usage_error("--pid: '%s' is not a process id", optarg);
			r.o.pid = (int32_t)v;
			break;
		case 'd':
			if (!*optarg)
				return usage_error("--dir: empty directory name%s", "");
			r.o.dir = optarg;
			break;
		case OPT_SYSFS:
			if (!*optarg)
				return usage_error("--sysfs: empty directory name%s", "");
			r.o.sysfs = optarg;
			break;
		case OPT_GC: gc = 1; break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case ':':
			return usage_error("option '%s' needs an argument",
					   argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc && parse_interval(argv[optind], &r.interval))
		return usage_error("interval '%s' is not a number of seconds > 0 (at most 86400)",
				   argv[optind]);
	if (optind + 1 < argc &&
	    (parse_ulong(argv[optind + 1], 1000000000ul, &r.count) || !r.count))
		return usage_error("count '%s' is not a positive number",
				   argv[optind + 1]);
	if (optind + 2 < argc)
		return usage_error("unexpected argument '%s'", argv[optind + 2]);
	if (optind >= argc)
		r.count = 1;
	if (r.json + r.prom + (port >= 0) > 1)
		return usage_error("--json, --prometheus and --listen exclude each other%s", "");
	if ((r.json || r.prom || port >= 0) &&
	    (r.procs || r.module || r.heat || r.layers))
		return usage_error("text views (-p, -m, -H, -L) do not mix with machine formats%s", "");
	if (port >= 0 && optind < argc)
		return usage_error("--listen takes no interval: it answers each scrape%s", "");
	if (have_max && port < 0)
		return usage_error("--max-requests needs --listen%s", "");
	if (gc && (r.json || r.prom || port >= 0 || r.procs || r.module ||
		   r.heat || r.layers || optind < argc || r.o.pid))
		return usage_error("--gc takes no other mode, interval or --pid%s", "");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: sleeps wake up */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (gc) {
		int n = ess_stat_gc(r.o.dir, err, sizeof(err));

		if (n == -ENOENT) {
			printf("no segment directory %s: nothing to remove\n", r.o.dir);
			return 0;
		}
		if (n < 0) {
			fprintf(stderr, "ess-stat: %s\n", err);
			return 1;
		}
		printf("removed %d stale segment(s) from %s\n", n, r.o.dir);
		return 0;
	}
	if (port >= 0) {
		if (stat_serve(&r.o, (int)port, max_requests, err, sizeof(err))) {
			fprintf(stderr, "ess-stat: %s\n", err);
			return 1;
		}
		return 0;
	}
	return looks(&r);
}
