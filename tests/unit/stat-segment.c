// SPDX-License-Identifier: MIT
/*
 * The statistics segment on its own: the writer publishes what it is
 * given, the reader reads it back exactly, a segment whose writer exited
 * is stale and --gc's function removes only those, bad files are refused
 * with the right error, ESS_STAT=0 turns publishing off, and a reader
 * racing a writer always gets consistent snapshots.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>

#include "stat-tap.h"
#include "ess/stat.h"
#include "../../runtime/statshm.h"

static char dir[] = "/tmp/ess-stat-seg.XXXXXX";

static struct ess_statshm *open_seg(const struct ess_config *c)
{
	struct ess_statshm_info info = { .cfg = c, .pool = "thp" };
	struct ess_statshm *s = NULL;
	char err[256];
	int r = ess_statshm_open(&s, &info, err, sizeof(err));

	if (r || !s) {
		printf("Bail out! ess_statshm_open: %d %s\n", r, err);
		exit(1);
	}
	return s;
}

static int count_files(void)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void write_file(const char *name, const void *p, size_t n)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fwrite(p, 1, n, f) != n) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	fclose(f);
}

static volatile int stop_writer;

static void *writer(void *arg)
{
	struct ess_statshm *s = arg;
	struct ess_stats st;
	uint64_t i;

	memset(&st, 0, sizeof(st));
	for (i = 1; !stop_writer; i++) {
		st.hits = i;
		st.misses = 3 * i;
		st.lookups = 4 * i;
		st.layer_misses[0] = 3 * i;
		ess_statshm_publish(s, &st);
		if (i % 16 == 0)
			sched_yield();
	}
	return NULL;
}

int main(void)
{
	struct ess_stat_snapshot snap, *list;
	struct ess_statshm *s, *s2;
	struct ess_config c;
	struct ess_stats st;
	struct ess_stat_header h;
	char err[512], path[256];
	size_t n, bad;
	int32_t pid;
	uint32_t ctx;
	pthread_t th;
	int i, good, r, st_status;
	pid_t child;

	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	setenv("ESS_STAT_DIR", dir, 1);
	unsetenv("ESS_STAT");
	ess_config_default(&c);
	c.layers = 5;

	/* names */
	ok(ess_stat_name_parse("ess.123.4", &pid, &ctx) && pid == 123 && ctx == 4,
	   "name ess.123.4 parses as pid 123 ctx 4");
	ok(!ess_stat_name_parse("ess.123.4.Ab12cd", NULL, NULL) &&
	   !ess_stat_name_parse("ess.0.1", NULL, NULL) &&
	   !ess_stat_name_parse("ess.12", NULL, NULL) &&
	   !ess_stat_name_parse("ess.-1.2", NULL, NULL) &&
	   !ess_stat_name_parse("ess.1.x", NULL, NULL) &&
	   !ess_stat_name_parse("xss.1.2", NULL, NULL) &&
	   !ess_stat_name_parse("ess.99999999999.2", NULL, NULL),
	   "temporary, zero-pid, short, negative, junk and overflowing names refused");

	/* publish and read back */
	s = open_seg(&c);
	snprintf(path, sizeof(path), "%s/ess.%d.", dir, (int)getpid());
	ok(!strncmp(ess_statshm_path(s), path, strlen(path)),
	   "segment is %s (in $ESS_STAT_DIR, named by pid)", ess_statshm_path(s));
	memset(&st, 0, sizeof(st));
	for (i = 0; i < (int)(sizeof(st) / 8); i++)
		((uint64_t *)(void *)&st)[i] = 1000 + (uint64_t)i;
	st.pool_unlocked = 0;
	st.requests_added = 9;
	st.requests_removed = 2;
	ess_statshm_add(s, ESS_STAT_NVME_READS, 7);
	ess_statshm_set(s, ESS_STAT_NVME_BYTES, 1 << 20);
	ess_statshm_publish(s, &st);
	r = ess_stat_read(ess_statshm_path(s), &snap, err, sizeof(err));
	ok(r == 0, "reader reads it (%s)", r ? err : "ok");
	ok(snap.hdr.pid == getpid() && snap.hdr.layers == 5 &&
	   snap.hdr.backend == ESS_BACKEND_CPU && snap.hdr.device == -1 &&
	   snap.hdr.entry_bytes == c.entry_bytes && !strcmp(snap.hdr.pool, "thp") &&
	   !strcmp(snap.hdr.policy, "lru") && snap.hdr.comm[0] &&
	   snap.hdr.start_ns > 0 && snap.nr_values == ESS_STAT_NR,
	   "header: pid, layers, backend, device, geometry, pool, policy, comm, start");
	ok(snap.state == ESS_STAT_LIVE && !snap.torn, "live and consistent");
	good = snap.v[ESS_STAT_RESOLVES] == st.resolves &&
	       snap.v[ESS_STAT_HITS] == st.hits &&
	       snap.v[ESS_STAT_MISSES] == st.misses &&
	       snap.v[ESS_STAT_BYTES_H2D] == st.bytes_h2d &&
	       snap.v[ESS_STAT_FETCH_NS] == st.fetch_ns &&
	       snap.v[ESS_STAT_HEAT_REPORT_ERRORS] == st.heat_report_errors &&
	       snap.v[ESS_STAT_POOL_BYTES] == st.pool_bytes &&
	       snap.v[ESS_STAT_PINNED_BYTES] == st.pool_bytes &&
	       snap.v[ESS_STAT_PIN_FAILURES] == 0 &&
	       snap.v[ESS_STAT_REQUESTS_ACTIVE] == 7 &&
	       snap.v[ESS_STAT_NVME_READS] == 7 &&
	       snap.v[ESS_STAT_NVME_BYTES] == 1 << 20 &&
	       snap.v[ESS_STAT_HOT_BYTES] == 5ull * c.max_requests * c.slots * c.entry_bytes;
	ok(good, "counters and derived levels read back exactly");
	good = 1;
	for (i = 0; i < ESS_MAX_LAYERS; i++)
		good &= snap.layer_misses[i] == (i < 5 ? st.layer_misses[i] : 0);
	ok(good, "layer misses of the 5 layers read back, the rest 0");
	st.pool_unlocked = 1;
	ess_statshm_publish(s, &st);
	ess_statshm_publish(s, &st);
	MUST(ess_stat_read(ess_statshm_path(s), &snap, err, sizeof(err)));
	ok(snap.v[ESS_STAT_PIN_FAILURES] == 1 && snap.v[ESS_STAT_PINNED_BYTES] == 0,
	   "unlocked pool: 1 pin failure (not one per publish), 0 pinned");
	ok(snap.hdr.segment_bytes == sizeof(struct ess_stat_segment) &&
	   snap.hdr.header_bytes == sizeof(struct ess_stat_header),
	   "layout sizes recorded in the header");

	/* a second context of the same process gets its own segment */
	s2 = open_seg(&c);
	MUST(ess_stat_list(dir, &list, &n, &bad, err, sizeof(err)));
	ok(n == 2 && bad == 0 && list[0].hdr.ctx_id + 1 == list[1].hdr.ctx_id,
	   "two contexts: two segments, listed by ctx");
	free(list);
	ess_statshm_close(s2);
	ok(count_files() == 1, "close removes the segment");

	/* ESS_STAT=0 */
	setenv("ESS_STAT", "0", 1);
	{
		struct ess_statshm_info info = { .cfg = &c, .pool = "thp" };

		s2 = (struct ess_statshm *)1;
		r = ess_statshm_open(&s2, &info, err, sizeof(err));
		ok(r == 0 && s2 == NULL && count_files() == 1,
		   "ESS_STAT=0: no segment, no error");
	}
	unsetenv("ESS_STAT");
	ess_statshm_publish(NULL, &st);
	ess_statshm_tick(NULL, &st);
	ess_statshm_close(NULL);
	ok(1, "NULL segment accepted by publish, tick, close");

	/* a writer that exits without closing leaves a stale segment */
	fflush(stdout);
	child = fork();
	if (child == 0) {
		struct ess_statshm *cs = open_seg(&c);

		ess_statshm_publish(cs, &st);
		_exit(0);
	}
	waitpid(child, &st_status, 0);
	MUST(ess_stat_list(dir, &list, &n, &bad, err, sizeof(err)));
	good = n == 2;
	for (size_t k = 0; k < n; k++) {
		if (list[k].hdr.pid == child)
			good &= list[k].state == ESS_STAT_STALE &&
				list[k].v[ESS_STAT_HITS] == st.hits;
		else
			good &= list[k].state == ESS_STAT_LIVE;
	}
	ok(good, "exited writer's segment is stale (values kept), ours live");
	free(list);
	r = ess_stat_gc(dir, err, sizeof(err));
	MUST(ess_stat_list(dir, &list, &n, &bad, err, sizeof(err)));
	ok(r == 1 && n == 1 && list[0].hdr.pid == getpid(),
	   "gc removes the stale one only (removed %d)", r);
	free(list);

	/* bad files */
	write_file("ess.1.0", "garbage", 7);
	memset(&h, 0, sizeof(h));
	h.magic = 0x1234;
	write_file("ess.1.1", &h, sizeof(h));
	h.magic = ESS_STAT_MAGIC;
	h.version = 99;
	write_file("ess.1.2", &h, sizeof(h));
	{
		struct ess_stat_segment seg;

		memset(&seg, 0, sizeof(seg));
		seg.hdr.magic = ESS_STAT_MAGIC;
		seg.hdr.version = ESS_STAT_VERSION;
		seg.hdr.header_bytes = sizeof(seg.hdr);
		seg.hdr.segment_bytes = sizeof(seg);
		seg.hdr.seq_off = offsetof(struct ess_stat_segment, seq);
		seg.hdr.counters_off = offsetof(struct ess_stat_segment, counters);
		seg.hdr.nr_counters = 100000;	/* runs past the end */
		seg.hdr.layers_off = offsetof(struct ess_stat_segment, layer_misses);
		seg.hdr.nr_layer_slots = ESS_MAX_LAYERS;
		write_file("ess.1.3", &seg, sizeof(seg));
	}
	write_file("unrelated", "x", 1);
	snprintf(path, sizeof(path), "%s/ess.1.4", dir);
	MUST(mkfifo(path, 0644));
	snprintf(path, sizeof(path), "%s/ess.1.0", dir);
	r = ess_stat_read(path, &snap, err, sizeof(err));
	ok(r == -EPROTO && strstr(err, "ess.1.0"), "short file: -EPROTO (%s)", err);
	snprintf(path, sizeof(path), "%s/ess.1.1", dir);
	r = ess_stat_read(path, &snap, err, sizeof(err));
	ok(r == -EPROTO && strstr(err, "magic"), "bad magic: -EPROTO (%s)", err);
	snprintf(path, sizeof(path), "%s/ess.1.2", dir);
	r = ess_stat_read(path, &snap, err, sizeof(err));
	ok(r == -EPROTONOSUPPORT && strstr(err, "99"),
	   "other version: -EPROTONOSUPPORT (%s)", err);
	snprintf(path, sizeof(path), "%s/ess.1.3", dir);
	r = ess_stat_read(path, &snap, err, sizeof(err));
	ok(r == -EPROTO && strstr(err, "offsets"),
	   "counters past the end: -EPROTO (%s)", err);
	snprintf(path, sizeof(path), "%s/ess.1.9", dir);
	r = ess_stat_read(path, &snap, err, sizeof(err));
	ok(r == -ENOENT, "missing file: -ENOENT");
	MUST(ess_stat_list(dir, &list, &n, &bad, err, sizeof(err)));
	ok(n == 1 && bad == 5, "list skips and counts the 5 bad segments (a FIFO among them)");
	free(list);
	r = ess_stat_gc(dir, err, sizeof(err));
	ok(r == 4 && count_files() == 3,
	   "gc removes unheld files of segment names, keeps the live one, the FIFO and others");
	snprintf(path, sizeof(path), "%s/ess.1.4", dir);
	unlink(path);
	r = ess_stat_list("/nonexistent/ess-stat", &list, &n, &bad, err, sizeof(err));
	ok(r == -ENOENT && strstr(err, "/nonexistent/ess-stat"),
	   "missing directory: -ENOENT with its name");

	/* a reader racing the writer sees consistent snapshots only */
	memset(&st, 0, sizeof(st));
	ess_statshm_publish(s, &st);
	pthread_create(&th, NULL, writer, s);
	good = 1;
	n = 0;
	for (i = 0; i < 20000; i++) {
		MUST(ess_stat_read(ess_statshm_path(s), &snap, err, sizeof(err)));
		if (snap.torn) {
			n++;	/* admitted: the reader gave up waiting */
			continue;
		}
		if (snap.v[ESS_STAT_HITS] + snap.v[ESS_STAT_MISSES] != snap.v[ESS_STAT_LOOKUPS] ||
		    snap.layer_misses[0] != snap.v[ESS_STAT_MISSES]) {
			good = 0;
			diag("torn %d hits %llu misses %llu lookups %llu", snap.torn,
			     (unsigned long long)snap.v[ESS_STAT_HITS],
			     (unsigned long long)snap.v[ESS_STAT_MISSES],
			     (unsigned long long)snap.v[ESS_STAT_LOOKUPS]);
			break;
		}
	}
	stop_writer = 1;
	pthread_join(th, NULL);
	diag("%zu of 20000 reads gave up waiting (flagged torn)", n);
	ok(good, "20000 reads during publishes: every snapshot not flagged torn is consistent");

	/* period: tick publishes at most once per period */
	setenv("ESS_STAT_PERIOD_MS", "3600000", 1);
	s2 = open_seg(&c);
	st.hits = 1;
	ess_statshm_publish(s2, &st);
	st.hits = 2;
	ess_statshm_tick(s2, &st);
	MUST(ess_stat_read(ess_statshm_path(s2), &snap, err, sizeof(err)));
	ok(snap.v[ESS_STAT_HITS] == 1, "tick within the period does not publish");
	ess_statshm_close(s2);
	setenv("ESS_STAT_PERIOD_MS", "0", 1);
	s2 = open_seg(&c);
	ess_statshm_tick(s2, &st);
	MUST(ess_stat_read(ess_statshm_path(s2), &snap, err, sizeof(err)));
	ok(snap.v[ESS_STAT_HITS] == 2, "period 0: every tick publishes");
	ess_statshm_close(s2);
	unsetenv("ESS_STAT_PERIOD_MS");

	ess_statshm_close(s);
	snprintf(path, sizeof(path), "%s/unrelated", dir);
	unlink(path);
	ok(count_files() == 0 && rmdir(dir) == 0, "everything removed");
	return done();
}
