// SPDX-License-Identifier: MIT
/*
 * The runtime on a /dev/ess region (runs in the QEMU guest with ess.ko
 * loaded; skips where /dev/ess is absent, e.g. on the host):
 *  - a module pool resolves byte-exact and keeps extents ascending;
 *  - heat reports reach the module: after a resolve and ess_sync, the heat
 *    blocks holding the touched rows, and only those, have heat;
 *  - warm restart: rows and requests written through a named region are
 *    found again by a new context; other geometry is refused; the region
 *    goes with ess_region_destroy().
 */

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <uapi/ess.h>

#include "runtime-tap.h"

#define EB 656
#define NT 200

static void module_cfg(struct ess_config *c, const char *name)
{
	small_cfg(c);
	c->entry_bytes = EB;
	c->layers = 2;
	c->max_tokens = 512;
	c->extent_tokens = 64;
	c->pool_bytes = 8u << 20;
	c->heat_shift = 16;
	c->pool = ESS_POOL_MODULE;
	c->region_name = name;
	c->flags = ESS_CFG_DATA_CHECK;
}

/* Heat of each block of the named region after one aggregation. */
static int read_heat(const char *name, uint8_t **map, uint64_t *bytes,
		     uint32_t *nblocks, uint32_t **heat)
{
	struct ess_attach at = { .size = sizeof(at) };
	struct ess_info in = { .size = sizeof(in) };
	struct ess_heat_tick tk = { .size = sizeof(tk) };
	struct ess_heat_read rd = { .size = sizeof(rd) };
	struct ess_heat_entry *e;
	int fd = open("/dev/ess", O_RDWR);

	if (fd < 0)
		return -1;
	snprintf(at.name, sizeof(at.name), "%s", name);
	if (ioctl(fd, ESS_IOC_ATTACH, &at) || ioctl(fd, ESS_IOC_INFO, &in) ||
	    ioctl(fd, ESS_IOC_HEAT_TICK, &tk))
		return -1;
	*nblocks = in.nr_heat_blocks;
	*bytes = in.bytes;
	e = calloc(in.nr_heat_blocks, sizeof(*e));
	*heat = calloc(in.nr_heat_blocks, sizeof(**heat));
	rd.flags = ESS_HEAT_HOTTEST;
	rd.addr = (uint64_t)(uintptr_t)e;
	rd.nr = in.nr_heat_blocks;
	if (ioctl(fd, ESS_IOC_HEAT_READ, &rd))
		return -1;
	for (uint32_t i = 0; i < rd.nr; i++)
		if (e[i].block < in.nr_heat_blocks)
			(*heat)[e[i].block] = e[i].heat;
	free(e);
	*map = mmap(NULL, in.bytes, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	return *map == MAP_FAILED ? -1 : 0;
}

static void test_heat(void)
{
	struct ess_config c;
	struct ess_stats st;
	int32_t topk[8] = { 3, 150, -1, 70, 199, 71, 0, 140 }, out[8];
	uint8_t *rows = malloc(NT * EB), *map = NULL;
	uint32_t r, nb = 0, *heat = NULL, touched = 0, hot = 0, match = 1;
	uint8_t *want;
	uint64_t bytes = 0;
	ess_ctx *ctx;

	ess_region_destroy("rt-heat");
	module_cfg(&c, "rt-heat");
	ctx = make_ctx(&c);
	ok(!strcmp(ess_pool_provider(ctx), "module"), "module pool in use");
	fill_random(rows, NT * EB);
	MUST(ess_request_add(ctx, 1, &r));
	MUST(ess_ingest(ctx, r, 0, 0, NT, rows));
	ok(ess_resolve(ctx, 0, 1, &r, topk, out, NULL) == 0,
	   "resolve on a module pool (data-checked)");
	ok(ess_sync(ctx, NULL) == 0, "sync flushes heat");
	ess_stats_get(ctx, &st);
	ok(st.heat_reports > 0 && st.heat_report_errors == 0,
	   "%llu heat accesses reported, no errors",
	   (unsigned long long)st.heat_reports);
	{
		int asc = 1;

		for (uint32_t t = 1; t < NT; t++)
			asc &= (const uint8_t *)ess_host_row(ctx, r, 0, t) >
			       (const uint8_t *)ess_host_row(ctx, r, 0, t - 1);
		ok(asc, "extents ascending in a module region");
	}
	/* Attach is exclusive: the context lets the region go first. */
	ess_destroy(ctx);
	if (!ok(read_heat("rt-heat", &map, &bytes, &nb, &heat) == 0,
		"read the region's heat through another file once the context is gone"))
		return;
	/* Find each touched row in the region by its bytes. */
	want = calloc(nb, 1);
	for (int j = 0; j < 8; j++) {
		uint8_t *at;

		if (topk[j] < 0)
			continue;
		at = memmem(map, bytes, rows + (size_t)topk[j] * EB, EB);
		if (!at) {
			match = 0;
			continue;
		}
		want[(uint64_t)(at - map) >> 16] = 1;
	}
	for (uint32_t b = 0; b < nb; b++) {
		touched += want[b];
		hot += heat[b] > 0;
		match &= !!want[b] == (heat[b] > 0);
	}
	ok(match && touched > 0, "heat on exactly the %u blocks touched (%u hot)",
	   touched, hot);
	munmap(map, bytes);
	free(want);
	free(heat);
	ok(ess_region_destroy("rt-heat") == 0, "destroy the heat region");

	/* ESS_CFG_NO_HEAT reports nothing. */
	module_cfg(&c, NULL);
	c.flags |= ESS_CFG_NO_HEAT;
	ctx = make_ctx(&c);
	MUST(ess_request_add(ctx, 1, &r));
	MUST(ess_ingest(ctx, r, 0, 0, NT, rows));
	MUST(ess_resolve(ctx, 0, 1, &r, topk, out, NULL));
	MUST(ess_sync(ctx, NULL));
	ess_stats_get(ctx, &st);
	ok(st.heat_reports == 0, "ESS_CFG_NO_HEAT: nothing reported");
	ess_destroy(ctx);
	free(rows);
}

static void test_warm_restart(void)
{
	struct ess_config c;
	struct ess_stats st;
	uint8_t *rows = malloc(2 * NT * EB), app[EB];
	int32_t topk[8] = { 1, 2, 3, 4, 100, 199, 200, -1 }, out[8];
	uint32_t r, r2, n, good = 1;
	char err[256];
	ess_ctx *ctx;
	int ret;

	ess_region_destroy("rt-warm");
	module_cfg(&c, "rt-warm");
	ctx = make_ctx(&c);
	fill_random(rows, 2 * NT * EB);
	fill_random(app, EB);
	MUST(ess_request_add(ctx, 4242, &r));
	MUST(ess_request_add(ctx, 17, &r2));
	MUST(ess_request_remove(ctx, r2));	/* r stays id 0 or 1 */
	MUST(ess_ingest(ctx, r, 0, 0, NT, rows));
	MUST(ess_ingest(ctx, r, 1, 0, NT, rows + NT * EB));
	MUST(ess_append(ctx, 0, 1, &r, app, NULL));
	MUST(ess_resolve(ctx, 0, 1, &r, topk, out, NULL));
	ess_destroy(ctx);

	ctx = make_ctx(&c);
	ok(ess_request_find(ctx, 4242, &r2) == 0 && r2 == r,
	   "restarted context finds the request by tag");
	ok(ess_request_find(ctx, 17, &r2) == -ENOENT, "the removed one stays removed");
	ok(ess_request_tokens(ctx, r, 0, &n) == 0 && n == NT + 1 &&
	   ess_request_tokens(ctx, r, 1, &n) == 0 && n == NT, "token counts survive");
	for (uint32_t t = 0; t < NT; t++) {
		good &= !memcmp(ess_host_row(ctx, r, 0, t), rows + t * EB, EB);
		good &= !memcmp(ess_host_row(ctx, r, 1, t), rows + (NT + t) * EB, EB);
	}
	good &= !memcmp(ess_host_row(ctx, r, 0, NT), app, EB);
	ok(good, "every row intact, the appended one too");
	ok(ess_resolve(ctx, 0, 1, &r, topk, out, NULL) == 0,
	   "resolve after restart (hot buffer starts empty, data-checked)");
	ess_stats_get(ctx, &st);
	ok(st.misses == 7 && st.pool_used_bytes == 8ull * 64 * EB,
	   "all 7 missed; extents in use re-found (%llu bytes)",
	   (unsigned long long)st.pool_used_bytes);
	MUST(ess_request_add(ctx, 5, &r2));
	ok(ess_ingest(ctx, r2, 0, 0, 10, rows) == 0 &&
	   (const uint8_t *)ess_host_row(ctx, r2, 0, 0) !=
	   (const uint8_t *)ess_host_row(ctx, r, 0, 0),
	   "new rows go to free extents, not over the old ones");
	ok(!memcmp(ess_host_row(ctx, r, 0, 0), rows, EB), "old rows untouched");
	ess_destroy(ctx);

	c.entry_bytes = EB + 8;
	ret = ess_create(&c, &ctx, err, sizeof(err));
	ok(ret == -EINVAL && strstr(err, "geometry"),
	   "other geometry refused: \"%s\"", err);
	c.entry_bytes = EB;
	ctx = make_ctx(&c);
	ok(ess_request_find(ctx, 4242, &r2) == 0, "and the region is still intact");
	ess_destroy(ctx);

	ok(ess_region_destroy("rt-warm") == 0, "ess_region_destroy");
	ok(ess_region_destroy("rt-warm") == -ENOENT, "twice: -ENOENT");
	ok(ess_region_destroy("a/b") == -EINVAL, "bad name: -EINVAL");
	ctx = make_ctx(&c);
	ok(ess_request_find(ctx, 4242, &r2) == -ENOENT, "a new region of that name is empty");
	ess_destroy(ctx);
	ess_region_destroy("rt-warm");
	free(rows);
}

static int ess_attach_fd(int fd, const char *name)
{
	struct ess_attach at = { .size = sizeof(at) };

	snprintf(at.name, sizeof(at.name), "%s", name);
	return ioctl(fd, ESS_IOC_ATTACH, &at) ? -errno : 0;
}

/* A named region that holds something else is never overwritten. */
static void test_foreign(void)
{
	struct ess_create cr = { .size = sizeof(cr) };
	struct ess_config c;
	char err[256] = "";
	ess_ctx *ctx = NULL;
	uint8_t *m;
	int fd, ret;

	ess_region_destroy("rt-foreign");
	fd = open("/dev/ess", O_RDWR);
	cr.flags = ESS_CREATE_NAMED;
	cr.bytes = 16ull << 20;
	cr.heat_shift = 16;
	snprintf(cr.name, sizeof(cr.name), "rt-foreign");
	if (!ok(fd >= 0 && ioctl(fd, ESS_IOC_CREATE, &cr) == 0,
		"create a foreign named region"))
		return;
	m = mmap(NULL, cr.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	memcpy(m, "not a libess pool", 17);
	/* While this file holds it, a context cannot attach it at all. */
	module_cfg(&c, "rt-foreign");
	ret = ess_create(&c, &ctx, err, sizeof(err));
	ok(ret == -EBUSY && strstr(err, "attached by another process"),
	   "a region held by another file refused: \"%s\"", err);
	munmap(m, cr.bytes);
	close(fd);
	ret = ess_create(&c, &ctx, err, sizeof(err));
	ok(ret == -EINVAL && strstr(err, "no libess pool"),
	   "foreign region refused: \"%s\"", err);
	fd = open("/dev/ess", O_RDWR);
	m = MAP_FAILED;
	if (fd >= 0 && ess_attach_fd(fd, "rt-foreign") == 0)
		m = mmap(NULL, cr.bytes, PROT_READ, MAP_SHARED, fd, 0);
	ok(m != MAP_FAILED && !memcmp(m, "not a libess pool", 17), "and left as it was");
	if (m != MAP_FAILED)
		munmap(m, cr.bytes);
	close(fd);
	ok(ess_region_destroy("rt-foreign") == 0, "destroy the foreign region");
}

int main(void)
{
	if (access("/dev/ess", F_OK)) {
		printf("1..0 # SKIP /dev/ess absent (ess.ko not loaded)\n");
		return 0;
	}
	seed_rng();
	test_heat();
	test_warm_restart();
	test_foreign();
	return done();
}
