// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl validation (include/uapi/ess.h): wrong struct sizes, unknown flags,
 * non-zero reserved fields, bad names and sizes, bad pointers, commands on
 * an unbound file, unknown commands (ENOTTY).  Every rejected call must
 * leave nothing behind: no region, no binding.
 */
#include "ess_test.h"

static int fd;	/* unbound file */
static char *edge;	/* last bytes of a page followed by an unmapped one */

static const char *en(long r)
{
	return r < 0 ? strerror((int)-r) : "accepted";
}

static void expect_create(long want, struct ess_create c, const char *what)
{
	long r = ess_ioctl(fd, ESS_IOC_CREATE, &c);

	tap_ok(r == want, "create with %s: %s", what, en(r));
	if (r == 0) { /* undo a wrongly accepted create */
		close(fd);
		if (c.flags & ESS_CREATE_NAMED)
			ess_destroy_name(c.name);
		fd = ess_open();
	}
}

static struct ess_create good_create(void)
{
	struct ess_create c;

	ess_create_init(&c, 2 * MiB, 0, 0, 16, NULL);
	return c;
}

#define CHECK(want, call, ...) do { long r_ = (call); \
	tap_ok(r_ == (want), __VA_ARGS__); \
	if (r_ != (want)) tap_diag("got %ld (%s)", r_, en(r_)); } while (0)

int main(void)
{
	struct ess_create c;
	struct ess_attach a;
	struct ess_destroy d;
	struct ess_info info;
	struct ess_heat_report hr;
	struct ess_heat_read rd;
	struct ess_heat_hist hh;
	struct ess_heat_tick ht;
	struct ess_heat_entry ent[4];
	uint32_t blocks[4] = { 0, 1, 2, 3 };
	long long nr0 = ess_knob("nr_regions");
	char *page;
	long r;
	int bound, i;

	tap_start();
	fd = ess_open();
	if (!tap_ok(fd >= 0, "open /dev/ess"))
		return tap_done();
	page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(page + 4096, 4096);
	edge = page + 4096 - 8;

	/* ---- ESS_IOC_CREATE ---- */
	c = good_create(); c.size = 0;
	expect_create(-EINVAL, c, "size 0");
	c = good_create(); c.size = sizeof(c) - 8;
	expect_create(-EINVAL, c, "size - 8");
	c = good_create(); c.size = sizeof(c) + 8;
	expect_create(-EINVAL, c, "size + 8");
	c = good_create(); c.size = 0xffffffff;
	expect_create(-EINVAL, c, "size 0xffffffff");
	c = good_create(); c.flags = ~ESS_CREATE_FLAGS & (0U - ~ESS_CREATE_FLAGS);
	expect_create(-EINVAL, c, "the lowest unknown flag");
	c = good_create(); c.flags = 1U << 31;
	expect_create(-EINVAL, c, "unknown flag 1<<31");
	c = good_create(); c.reserved0 = 1;
	expect_create(-EINVAL, c, "reserved0 = 1");
	for (i = 0; i < 4; i++) {
		char what[32];

		c = good_create(); c.reserved[i] = 1ULL << 63;
		snprintf(what, sizeof(what), "reserved[%d] != 0", i);
		expect_create(-EINVAL, c, what);
	}
	c = good_create(); c.bytes = 0;
	expect_create(-EINVAL, c, "bytes 0");
	c = good_create(); c.bytes = 4096;
	expect_create(-EINVAL, c, "bytes 4096");
	c = good_create(); c.bytes = 2 * MiB + 4096;
	expect_create(-EINVAL, c, "bytes 2 MiB + 4 KiB");
	c = good_create(); c.bytes = 3 * MiB;
	expect_create(-EINVAL, c, "bytes 3 MiB");
	c = good_create(); c.bytes = 1ULL << 62;
	r = ess_ioctl(fd, ESS_IOC_CREATE, &c);
	tap_ok(r == -EINVAL, "create 2^62 bytes (more than RAM): EINVAL: %s", en(r));
	c = good_create(); c.bytes = 0xffffffffffe00000ULL;
	r = ess_ioctl(fd, ESS_IOC_CREATE, &c);
	tap_ok(r == -EINVAL, "create 2^64 - 2 MiB bytes (no overflow): EINVAL: %s", en(r));
	c = good_create(); c.heat_shift = 11;
	expect_create(-EINVAL, c, "heat_shift 11");
	c = good_create(); c.heat_shift = 22;
	expect_create(-EINVAL, c, "heat_shift 22");
	c = good_create(); c.heat_shift = 0;
	expect_create(-EINVAL, c, "heat_shift 0");
	c = good_create(); c.heat_shift = 64 + 16;
	expect_create(-EINVAL, c, "heat_shift 80");
	c = good_create(); c.node = 1;
	expect_create(-EINVAL, c, "node 1 without ESS_CREATE_NODE");
	c = good_create(); c.flags = ESS_CREATE_NODE; c.node = -1;
	expect_create(-EINVAL, c, "ESS_CREATE_NODE with node -1");
	c = good_create(); c.flags = ESS_CREATE_NODE; c.node = 1 << 30;
	expect_create(-EINVAL, c, "ESS_CREATE_NODE with node 2^30");
	c = good_create(); c.flags = ESS_CREATE_NODE; c.node = 63;
	r = ess_ioctl(fd, ESS_IOC_CREATE, &c);
	tap_ok(r == -EINVAL, "ESS_CREATE_NODE with offline node 63: EINVAL: %s", en(r));
	if (r == 0) { close(fd); fd = ess_open(); }
	c = good_create(); strcpy(c.name, "x");
	expect_create(-EINVAL, c, "a name without ESS_CREATE_NAMED");
	c = good_create(); c.flags = ESS_CREATE_NAMED;
	expect_create(-EINVAL, c, "ESS_CREATE_NAMED and an empty name");
	c = good_create(); c.flags = ESS_CREATE_NAMED; strcpy(c.name, "a/b");
	expect_create(-EINVAL, c, "name with '/'");
	c = good_create(); c.flags = ESS_CREATE_NAMED; strcpy(c.name, "a\001b");
	expect_create(-EINVAL, c, "name with \\001");
	c = good_create(); c.flags = ESS_CREATE_NAMED; strcpy(c.name, "a\177");
	expect_create(-EINVAL, c, "name with DEL");
	c = good_create(); c.flags = ESS_CREATE_NAMED; strcpy(c.name, "caf\303\251");
	expect_create(-EINVAL, c, "name with non-ASCII bytes");
	c = good_create(); c.flags = ESS_CREATE_NAMED; memset(c.name, 'n', sizeof(c.name));
	expect_create(-EINVAL, c, "64-byte name without NUL");
	CHECK(-EFAULT, ess_ioctl(fd, ESS_IOC_CREATE, NULL), "create with a NULL argument: EFAULT");
	CHECK(-EFAULT, ess_ioctl(fd, ESS_IOC_CREATE, (void *)1), "create with pointer 1: EFAULT");
	CHECK(-EFAULT, ess_ioctl(fd, ESS_IOC_CREATE, edge), "create with a struct crossing into an unmapped page: EFAULT");
	CHECK(-EFAULT, ess_ioctl(fd, ESS_IOC_CREATE, (void *)0xffff888000000000ULL),
	      "create with a kernel address: EFAULT");
	tap_ok(ess_knob("nr_regions") == nr0, "no region left by rejected creates");

	/* ---- commands on an unbound file ---- */
	CHECK(-ENXIO, ess_info(fd, &info), "INFO on an unbound file: ENXIO");
	CHECK(-ENXIO, ess_heat_tick(fd), "HEAT_TICK on an unbound file: ENXIO");
	CHECK(-ENXIO, ess_heat_report(fd, blocks, 1), "HEAT_REPORT on an unbound file: ENXIO");
	CHECK(-ENXIO, ess_heat_read(fd, ESS_HEAT_HOTTEST, ent, 1), "HEAT_READ on an unbound file: ENXIO");
	CHECK(-ENXIO, ess_heat_hist(fd, &hh), "HEAT_HIST on an unbound file: ENXIO");
	/* Argument checks come before the binding check. */
	memset(&ht, 0, sizeof(ht)); ht.size = sizeof(ht); ht.flags = 1;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_TICK, &ht), "a bad HEAT_TICK on an unbound file: EINVAL first");
	CHECK(-EFAULT, ess_ioctl(fd, ESS_IOC_INFO, NULL), "INFO from NULL on an unbound file: EFAULT first");

	/* A 63-character name is the longest; out fields are ignored on input. */
	c = good_create(); c.flags = ESS_CREATE_NAMED;
	memset(c.name, 'L', ESS_NAME_MAX - 1);
	c.id = 77; c.node_out = 5;
	r = ess_ioctl(fd, ESS_IOC_CREATE, &c);
	tap_ok(r == 0, "create named, 63-char name, garbage in the out fields: %s", en(r));
	bound = r == 0;

	/* ---- a bound file stays bound to its region ---- */
	{
		struct ess_create c2 = good_create();
		struct ess_info i2;

		CHECK(-EBUSY, ess_ioctl(fd, ESS_IOC_CREATE, &c2), "CREATE on a bound file: EBUSY");
		CHECK(-EBUSY, ess_attach(fd, c.name, NULL), "ATTACH on a bound file: EBUSY");
		c2.heat_shift = 3;
		CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_CREATE, &c2), "a bad CREATE on a bound file: EINVAL first");
		r = ess_info(fd, &i2);
		tap_ok(!bound || (r == 0 && i2.id == c.id), "still bound to the first region");
	}

	/* ---- ESS_IOC_INFO ---- */
	memset(&info, 0, sizeof(info)); info.size = sizeof(info) - 8;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_INFO, &info), "INFO with size - 8: EINVAL");
	memset(&info, 0, sizeof(info)); info.size = sizeof(info); info.reserved[3] = 1;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_INFO, &info), "INFO with reserved[3] != 0: EINVAL");
	CHECK(-EFAULT, ess_ioctl(fd, ESS_IOC_INFO, edge), "INFO into a struct crossing an unmapped page: EFAULT");

	/* ---- ESS_IOC_ATTACH (fresh unbound file) ---- */
	{
		int f2 = ess_open();

		memset(&a, 0, sizeof(a)); a.size = sizeof(a) + 4; strcpy(a.name, c.name);
		CHECK(-EINVAL, ess_ioctl(f2, ESS_IOC_ATTACH, &a), "ATTACH with size + 4: EINVAL");
		memset(&a, 0, sizeof(a)); a.size = sizeof(a); a.flags = 1; strcpy(a.name, c.name);
		CHECK(-EINVAL, ess_ioctl(f2, ESS_IOC_ATTACH, &a), "ATTACH with flags 1: EINVAL");
		memset(&a, 0, sizeof(a)); a.size = sizeof(a); a.reserved[0] = 1; strcpy(a.name, c.name);
		CHECK(-EINVAL, ess_ioctl(f2, ESS_IOC_ATTACH, &a), "ATTACH with reserved[0] != 0: EINVAL");
		memset(&a, 0, sizeof(a)); a.size = sizeof(a);
		CHECK(-EINVAL, ess_ioctl(f2, ESS_IOC_ATTACH, &a), "ATTACH with an empty name: EINVAL");
		memset(&a, 0, sizeof(a)); a.size = sizeof(a); memset(a.name, 'L', sizeof(a.name));
		CHECK(-EINVAL, ess_ioctl(f2, ESS_IOC_ATTACH, &a), "ATTACH with a 64-byte unterminated name: EINVAL");
		CHECK(-ENOENT, ess_attach(f2, "no-such-region", NULL), "ATTACH to a missing name: ENOENT");
		CHECK(-EFAULT, ess_ioctl(f2, ESS_IOC_ATTACH, (void *)8), "ATTACH with pointer 8: EFAULT");
		/* fd still holds the region: attach is exclusive. */
		r = ess_attach(f2, c.name, &a);
		tap_ok(!bound || r == -EBUSY, "ATTACH of a name another file holds: EBUSY (%s)",
		       en(r));
		CHECK(-ENXIO, ess_info(f2, &info), "...and the refused file is still unbound");
		close(f2);
	}

	/* ---- ESS_IOC_DESTROY ---- */
	memset(&d, 0, sizeof(d)); d.size = 1; strcpy(d.name, c.name);
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_DESTROY, &d), "DESTROY with size 1: EINVAL");
	memset(&d, 0, sizeof(d)); d.size = sizeof(d); d.flags = 2; strcpy(d.name, c.name);
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_DESTROY, &d), "DESTROY with flags 2: EINVAL");
	memset(&d, 0, sizeof(d)); d.size = sizeof(d); d.reserved[1] = 1; strcpy(d.name, c.name);
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_DESTROY, &d), "DESTROY with reserved[1] != 0: EINVAL");
	memset(&d, 0, sizeof(d)); d.size = sizeof(d); strcpy(d.name, "a/b");
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_DESTROY, &d), "DESTROY with an invalid name: EINVAL");
	CHECK(-ENOENT, ess_destroy(fd, "no-such-region"), "DESTROY of a missing name: ENOENT");
	CHECK(-EFAULT, ess_ioctl(fd, ESS_IOC_DESTROY, NULL), "DESTROY with NULL: EFAULT");
	{
		struct ess_info i2;

		ess_info(fd, &i2);
		tap_ok(!bound || !(i2.flags & ESS_INFO_DESTROYED), "rejected destroys left the region alone");
	}

	/* ---- heat ioctls ---- */
	memset(&hr, 0, sizeof(hr)); hr.size = sizeof(hr); hr.addr = (uintptr_t)blocks; hr.nr = 4;
	CHECK(0, ess_ioctl(fd, ESS_IOC_HEAT_REPORT, &hr), "a valid HEAT_REPORT works");
	hr.size = sizeof(hr) - 8;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_REPORT, &hr), "HEAT_REPORT with size - 8: EINVAL");
	hr.size = sizeof(hr); hr.flags = 1;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_REPORT, &hr), "HEAT_REPORT with flags 1: EINVAL");
	hr.flags = 0; hr.reserved0 = 1;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_REPORT, &hr), "HEAT_REPORT with reserved0: EINVAL");
	hr.reserved0 = 0; hr.reserved[1] = 1;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_REPORT, &hr), "HEAT_REPORT with reserved[1]: EINVAL");
	hr.reserved[1] = 0; hr.nr = 0;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_REPORT, &hr), "HEAT_REPORT with nr 0: EINVAL");
	hr.nr = ESS_HEAT_BATCH_MAX + 1;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_REPORT, &hr), "HEAT_REPORT with nr > ESS_HEAT_BATCH_MAX: EINVAL");
	hr.nr = 4; hr.addr = 0;
	CHECK(-EFAULT, ess_ioctl(fd, ESS_IOC_HEAT_REPORT, &hr), "HEAT_REPORT from address 0: EFAULT");
	hr.addr = (uintptr_t)edge; hr.nr = 4;
	CHECK(-EFAULT, ess_ioctl(fd, ESS_IOC_HEAT_REPORT, &hr), "HEAT_REPORT crossing into an unmapped page: EFAULT");
	blocks[2] = 32; /* 2 MiB / 64 KiB = 32 heat blocks: 32 is out of range */
	CHECK(-EINVAL, ess_heat_report(fd, blocks, 4), "HEAT_REPORT with block index == nr_heat_blocks: EINVAL");
	blocks[2] = 0xffffffff;
	CHECK(-EINVAL, ess_heat_report(fd, blocks, 4), "HEAT_REPORT with block index 2^32-1: EINVAL");

	memset(&rd, 0, sizeof(rd)); rd.size = sizeof(rd); rd.addr = (uintptr_t)ent; rd.nr = 4;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_READ, &rd), "HEAT_READ with no order flag: EINVAL");
	rd.flags = ESS_HEAT_HOTTEST | ESS_HEAT_COLDEST; rd.nr = 4;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_READ, &rd), "HEAT_READ with both order flags: EINVAL");
	rd.flags = 1U << 2; rd.nr = 4;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_READ, &rd), "HEAT_READ with unknown flag: EINVAL");
	rd.flags = ESS_HEAT_HOTTEST; rd.nr = 0;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_READ, &rd), "HEAT_READ with nr 0: EINVAL");
	rd.nr = ESS_HEAT_BATCH_MAX + 1;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_READ, &rd), "HEAT_READ with nr > ESS_HEAT_BATCH_MAX: EINVAL");
	rd.nr = 4; rd.reserved0 = 3;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_READ, &rd), "HEAT_READ with reserved0: EINVAL");
	rd.reserved0 = 0; rd.size = sizeof(rd) + 16;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_READ, &rd), "HEAT_READ with size + 16: EINVAL");
	rd.size = sizeof(rd); rd.addr = 16; rd.nr = 4;
	CHECK(-EFAULT, ess_ioctl(fd, ESS_IOC_HEAT_READ, &rd), "HEAT_READ into address 16: EFAULT");
	rd.addr = (uintptr_t)ent; rd.nr = 4;
	CHECK(0, ess_ioctl(fd, ESS_IOC_HEAT_READ, &rd), "a valid HEAT_READ works");

	memset(&hh, 0, sizeof(hh)); hh.size = sizeof(hh); hh.flags = 1;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_HIST, &hh), "HEAT_HIST with flags 1: EINVAL");
	memset(&hh, 0, sizeof(hh)); hh.size = sizeof(hh); hh.reserved[0] = 1;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_HIST, &hh), "HEAT_HIST with reserved[0]: EINVAL");
	memset(&hh, 0, sizeof(hh)); hh.size = 8;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_HIST, &hh), "HEAT_HIST with size 8: EINVAL");
	memset(&ht, 0, sizeof(ht)); ht.size = sizeof(ht); ht.flags = 4;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_TICK, &ht), "HEAT_TICK with flags 4: EINVAL");
	memset(&ht, 0, sizeof(ht)); ht.size = sizeof(ht); ht.reserved[1] = 9;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_TICK, &ht), "HEAT_TICK with reserved[1]: EINVAL");
	memset(&ht, 0, sizeof(ht)); ht.size = sizeof(ht) * 2;
	CHECK(-EINVAL, ess_ioctl(fd, ESS_IOC_HEAT_TICK, &ht), "HEAT_TICK with size x2: EINVAL");
	{
		struct ess_heat_entry all[32];
		long n;
		int pend = 0, k;

		n = ess_heat_read(fd, ESS_HEAT_HOTTEST, all, 32);
		for (k = 0; k < n; k++)
			pend += all[k].pending;
		tap_ok(!bound || (n == 32 && pend == 4),
		       "only the one valid report was counted (pending %d)", pend);
	}

	/* ---- unknown commands ---- */
	CHECK(-ENOTTY, ess_ioctl(fd, 0, &c), "command 0: ENOTTY");
	CHECK(-ENOTTY, ess_ioctl(fd, _IO(ESS_IOC_MAGIC, 0), NULL), "_IO(0xE5, 0): ENOTTY");
	CHECK(-ENOTTY, ess_ioctl(fd, _IO(ESS_IOC_MAGIC, 0x05), NULL), "_IO(0xE5, 0x05): ENOTTY");
	CHECK(-ENOTTY, ess_ioctl(fd, _IOWR(ESS_IOC_MAGIC, 0x14, struct ess_heat_tick), &ht),
	      "_IOWR(0xE5, 0x14): ENOTTY");
	CHECK(-ENOTTY, ess_ioctl(fd, _IOWR(ESS_IOC_MAGIC, 0xff, struct ess_create), &c),
	      "_IOWR(0xE5, 0xff): ENOTTY");
	c = good_create();
	CHECK(-ENOTTY, ess_ioctl(fd, _IOWR('x', 0x01, struct ess_create), &c),
	      "CREATE's number under another magic: ENOTTY");
	CHECK(-ENOTTY, ess_ioctl(fd, _IOWR(ESS_IOC_MAGIC, 0x01, __u64), &c),
	      "CREATE's number with another size: ENOTTY");
	CHECK(-ENOTTY, ess_ioctl(fd, _IOR(ESS_IOC_MAGIC, 0x04, struct ess_info), &info),
	      "INFO's number with another direction: ENOTTY");
	CHECK(-ENOTTY, ess_ioctl(fd, 0xdeadbeef, NULL), "command 0xdeadbeef: ENOTTY");

	close(fd);
	/* c was reused above: destroy the 63-char region by its name. */
	{
		char name[ESS_NAME_MAX];

		memset(name, 'L', ESS_NAME_MAX - 1);
		name[ESS_NAME_MAX - 1] = 0;
		r = ess_destroy_name(name);
		tap_ok(!bound || r == 0, "destroy the 63-char named region: %s", en(r));
	}
	tap_ok(ess_wait_nr_regions(nr0) == nr0, "nr_regions back to %lld", nr0);

	/* EFAULT on the way out: the effect stays (ioctl.md). */
	{
		struct ess_create *ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct ess_info i3;

		fd = ess_open();
		ess_create_init(ro, 2 * MiB, 0, 0, 16, NULL);
		mprotect(ro, 4096, PROT_READ);
		r = ess_ioctl(fd, ESS_IOC_CREATE, ro);
		tap_ok(r == -EFAULT, "CREATE whose result cannot be written back: EFAULT (%s)", en(r));
		r = ess_info(fd, &i3);
		tap_ok(r == 0 && i3.bytes == 2 * MiB && ess_knob("nr_regions") == nr0 + 1,
		       "...and the file is bound to the new region anyway (%s)", en(r));
		close(fd);
		munmap(ro, 4096);
		tap_ok(ess_wait_nr_regions(nr0) == nr0, "freed with its file");
	}
	return tap_done();
}
