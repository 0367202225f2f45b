// SPDX-License-Identifier: GPL-2.0
/*
 * ess-region-demo: a small client of /dev/ess for the insmod-then-run
 * walkthrough (tests/qemu/walkthrough.sh).  Not a test: it narrates.
 *
 *   ess-region-demo create NAME MIB   create a named region, map it, write
 *                                     a message and a pattern, report heat
 *   ess-region-demo attach NAME       attach by name, map it, check both
 *   ess-region-demo exclusive NAME    hold the region; a second process's
 *                                     attach gets EBUSY until we let go
 *   ess-region-demo destroy NAME      destroy the named region
 *   ess-region-demo anon MIB          an anonymous region, start to end
 */
#include "ess_test.h"

#define MSG_OFF 0
#define PAT_OFF 4096

static void show_info(int fd)
{
	struct ess_info i;

	if (ess_info(fd, &i) < 0) {
		printf("  ESS_IOC_INFO failed: %s\n", strerror(errno));
		return;
	}
	printf("  region id %llu: %llu bytes on node %d, %u x 2 MiB blocks,\n"
	       "  %u heat blocks of %u bytes, owner uid %u, %u file(s), %u mapping(s)%s%s%s\n",
	       (unsigned long long)i.id, (unsigned long long)i.bytes, i.node,
	       i.nr_blocks, i.nr_heat_blocks, 1U << i.heat_shift, i.owner_uid,
	       i.users, i.mappings, i.name[0] ? ", name \"" : "", i.name,
	       i.name[0] ? "\"" : "");
}

static void *map(int fd, size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED) {
		printf("  mmap: %s\n", strerror(errno));
		return NULL;
	}
	printf("  mapped %zu bytes at %p\n", bytes, p);
	return p;
}

static int heat_demo(int fd, size_t bytes)
{
	struct ess_heat_entry e[4];
	uint32_t blocks[64];
	long n;
	int i;

	/* Pretend the first heat blocks were read, the first most often. */
	for (i = 0; i < 64; i++)
		blocks[i] = (uint32_t)(i % 4 == 0 ? 0 : i % 3);
	(void)bytes;
	if (ess_heat_report(fd, blocks, 64) < 0 || ess_heat_tick(fd) < 0) {
		printf("  heat report/tick failed: %s\n", strerror(errno));
		return 1;
	}
	n = ess_heat_read(fd, ESS_HEAT_HOTTEST, e, 4);
	printf("  reported 64 accesses, aggregated once; hottest heat blocks:\n");
	for (i = 0; i < n; i++)
		printf("    block %u: heat %u age %u\n", e[i].block, e[i].heat, e[i].age);
	return 0;
}

static int do_create(const char *name, size_t bytes, int named)
{
	struct ess_create c;
	char msg[128];
	uint8_t *p;
	int fd = ess_open();

	if (fd < 0) {
		printf("  open %s: %s\n", ESS_DEVICE_PATH, strerror(errno));
		return 1;
	}
	if (ess_create(fd, bytes, named ? ESS_CREATE_NAMED : 0, 0, 16,
		       named ? name : NULL, &c) < 0) {
		printf("  ESS_IOC_CREATE: %s\n", strerror(errno));
		return 1;
	}
	printf("  created region %llu (%zu MiB) on node %d\n",
	       (unsigned long long)c.id, bytes >> 20, c.node_out);
	p = map(fd, bytes);
	if (!p)
		return 1;
	snprintf(msg, sizeof(msg), "written by pid %d before it exited", (int)getpid());
	memcpy(p + MSG_OFF, msg, strlen(msg) + 1);
	fill_pattern(p + PAT_OFF, bytes - PAT_OFF, 42);
	printf("  wrote \"%s\" and a %zu-byte pattern\n", msg, bytes - PAT_OFF);
	printf("  read back: %s\n", check_pattern(p + PAT_OFF, bytes - PAT_OFF, 42) < 0 ?
	       "pattern intact" : "PATTERN MISMATCH");
	heat_demo(fd, bytes);
	show_info(fd);
	return 0;
}

static int do_attach(const char *name)
{
	struct ess_attach a;
	uint8_t *p;
	long bad;
	int fd = ess_open();

	if (fd < 0 || ess_attach(fd, name, &a) < 0) {
		printf("  attach \"%s\": %s\n", name, strerror(errno));
		return 1;
	}
	printf("  attached \"%s\": region %llu, %llu bytes\n", name,
	       (unsigned long long)a.id, (unsigned long long)a.bytes);
	p = map(fd, a.bytes);
	if (!p)
		return 1;
	printf("  message found: \"%.100s\"\n", (char *)p + MSG_OFF);
	bad = check_pattern(p + PAT_OFF, a.bytes - PAT_OFF, 42);
	printf("  pattern: %s\n", bad < 0 ? "intact (contents survived the creator)" : "MISMATCH");
	show_info(fd);
	return bad < 0 ? 0 : 1;
}

/* Attach is exclusive: show a second process refused, then let go. */
static int do_exclusive(const char *name)
{
	int fd = ess_open(), down[2], up[2];
	char go = 1;
	pid_t pid;
	long r;

	if (fd < 0 || ess_attach(fd, name, NULL) < 0 || pipe(down) || pipe(up)) {
		printf("  attach \"%s\": %s\n", name, strerror(errno));
		return 1;
	}
	printf("  pid %d attached \"%s\" and holds it\n", (int)getpid(), name);
	pid = test_fork();
	if (pid == 0) {
		int f, busy;

		/* The inherited descriptor is the holder's own file: drop it. */
		close(fd);
		f = ess_open();
		r = ess_attach(f, name, NULL);
		busy = r == -EBUSY;
		printf("  pid %d: attach \"%s\": %s\n", (int)getpid(), name,
		       r ? strerror((int)-r) : "attached");
		/* Tell the holder, wait for it to let go, try again. */
		if (write(up[1], &go, 1) != 1 || read(down[0], &go, 1) != 1)
			_exit(2);
		r = ess_attach(f, name, NULL);
		printf("  pid %d: after the holder closed it: %s\n", (int)getpid(),
		       r ? strerror((int)-r) : "attached");
		_exit(busy && r == 0 ? 0 : 1);
	}
	if (read(up[0], &go, 1) != 1)
		return 1;
	printf("  pid %d closes its file\n", (int)getpid());
	close(fd);
	if (write(down[1], &go, 1) != 1)
		return 1;
	return test_wait(pid);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "create"))
		return do_create(argv[2], strtoull(argv[3], NULL, 0) << 20, 1);
	if (argc == 3 && !strcmp(argv[1], "attach"))
		return do_attach(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "exclusive"))
		return do_exclusive(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "anon"))
		return do_create(NULL, strtoull(argv[2], NULL, 0) << 20, 0);
	if (argc == 3 && !strcmp(argv[1], "destroy")) {
		long r = ess_destroy_name(argv[2]);

		printf("  destroy \"%s\": %s\n", argv[2], r < 0 ? strerror((int)-r) : "done");
		return r < 0;
	}
	fprintf(stderr, "usage: %s create NAME MIB | attach NAME | exclusive NAME | destroy NAME | anon MIB\n",
		argv[0]);
	return 2;
}
