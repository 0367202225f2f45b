// SPDX-License-Identifier: MIT
/*
 * The trace file format: round trips, and every kind of bad file refused
 * with the right error and a message naming the offset.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ess/trace.h"
#include "tap.h"

static char dir[64], path[128], bad[128];
static unsigned char *img;
static size_t img_len;

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static int read_file(const char *p, unsigned char **buf, size_t *len)
{
	FILE *f = fopen(p, "rb");
	long n;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	*buf = malloc((size_t)n + 1);
	*len = fread(*buf, 1, (size_t)n, f);
	fclose(f);
	return *len == (size_t)n ? 0 : -1;
}

static void write_bad(const unsigned char *buf, size_t len)
{
	FILE *f = fopen(bad, "wb");

	fwrite(buf, 1, len, f);
	fclose(f);
}

static int same(const struct ess_trace *a, const struct ess_trace *b)
{
	size_t rows = (size_t)a->info.steps * a->info.layers * a->info.requests;

	return a->info.layers == b->info.layers && a->info.topk == b->info.topk &&
	       a->info.requests == b->info.requests &&
	       a->info.steps == b->info.steps && a->info.flags == b->info.flags &&
	       a->info.seed == b->info.seed &&
	       memcmp(a->prefill, b->prefill, 4 * a->info.requests) == 0 &&
	       memcmp(a->seq_len, b->seq_len, 4 * rows) == 0 &&
	       memcmp(a->tokens, b->tokens, 4 * rows * a->info.topk) == 0;
}

/* Load `bad`; expect rc and a message holding both strings. */
static int refused(int want, const char *s1, const char *s2)
{
	struct ess_trace tr;
	char err[512] = "";
	int rc = ess_trace_load(&tr, bad, err, sizeof(err));

	if (rc != want || !strstr(err, s1) || (s2 && !strstr(err, s2))) {
		tap_diag("rc %d (want %d): %s", rc, want, err);
		return 0;
	}
	tap_diag("%s", err);
	return tr.tokens == NULL;
}

/* Offsets of the test trace's layout. */
#define HDR 64u
#define LAYERS 3u
#define TOPK 16u
#define REQS 2u
#define STEPS 10u
#define TABLE (4 * REQS + 4)
#define BLOCK (16 + REQS * (4 + 4 * TOPK) + 4)

static void fix_header_crc(unsigned char *b)
{
	put32(b + 60, ess_crc32c(b, 60));
}

static void fix_block_crc(unsigned char *b, uint32_t blk)
{
	unsigned char *p = b + HDR + TABLE + (size_t)blk * BLOCK;

	put32(p + BLOCK - 4, ess_crc32c(p, BLOCK - 4));
}

int main(void)
{
	struct ess_trace_gen g;
	struct ess_trace tr, back;
	char err[512], off[64];
	unsigned char *b;
	int rc;

	tap_plan(30);
	strcpy(dir, "/tmp/ess-trace-test.XXXXXX");
	if (!mkdtemp(dir)) {
		printf("1..0 # SKIP no temporary directory\n");
		return 0;
	}
	snprintf(path, sizeof(path), "%s/good.trace", dir);
	snprintf(bad, sizeof(bad), "%s/bad.trace", dir);

	tap_ok(ess_crc32c("123456789", 9) == 0xe3069283u, "CRC32C check value");

	ess_trace_gen_default(&g);
	g.layers = LAYERS;
	g.topk = TOPK;
	g.requests = REQS;
	g.steps = STEPS;
	g.prefill = 40;
	g.heavy_tokens = 8;
	g.recent_window = 8;
	rc = ess_trace_generate(&g, &tr, err, sizeof(err));
	tap_ok(rc == 0, "generate a small trace");
	rc = ess_trace_save(&tr, path, err, sizeof(err));
	tap_ok(rc == 0, "save");
	rc = ess_trace_load(&back, path, err, sizeof(err));
	tap_ok(rc == 0 && same(&tr, &back), "load gives the same trace");
	ess_trace_free(&back);
	read_file(path, &img, &img_len);
	tap_ok(img_len == HDR + TABLE + (size_t)STEPS * LAYERS * BLOCK,
	       "file size is header + table + blocks (%zu)", img_len);

	/* Hand-made trace: inactive rows, -1 entries, growth by 3. */
	{
		struct ess_trace_info in = { 2, 4, 2, 3, 0, 0 };
		struct ess_trace h;
		uint32_t s, l;

		ess_trace_alloc(&h, &in);
		h.prefill[0] = 5;
		h.prefill[1] = 0;
		for (s = 0; s < 3; s++)
			for (l = 0; l < 2; l++) {
				size_t r = ess_trace_row(&h, s, l, 0);

				h.seq_len[r] = 5 + 3 * s;
				h.tokens[r * 4] = (int32_t)(4 + 3 * s);
				h.tokens[r * 4 + 2] = 0;
				if (s == 2) {	/* request 1 arrives late */
					h.seq_len[r + 1] = 2;
					h.tokens[(r + 1) * 4 + 3] = 1;
				}
			}
		rc = ess_trace_save(&h, bad, err, sizeof(err));
		tap_ok(rc == 0 && ess_trace_load(&back, bad, err, sizeof(err)) == 0 &&
		       same(&h, &back), "round trip with inactive rows and -1 entries");
		ess_trace_free(&back);
		/* Token == length refused at save, file not written. */
		h.tokens[0] = 5;
		unlink(bad);
		rc = ess_trace_save(&h, bad, err, sizeof(err));
		tap_ok(rc == -EINVAL && strstr(err, "not in 0..4") &&
		       access(bad, F_OK) != 0, "save refuses token >= length: %s", err);
		h.tokens[0] = 4;
		h.seq_len[ess_trace_row(&h, 1, 0, 0)] = 4;
		rc = ess_trace_save(&h, bad, err, sizeof(err));
		tap_ok(rc == -EINVAL && strstr(err, "shrinks"), "save refuses a shrinking length: %s", err);
		ess_trace_free(&h);
	}

	/* Bad files. */
	b = malloc(img_len + 16);
	write_bad(img, 0);
	tap_ok(refused(-EIO, "truncated header", "offset 0"), "empty file");
	write_bad(img, 63);
	tap_ok(refused(-EIO, "truncated header", NULL), "63-byte file");
	write_bad(img, HDR + 3);
	tap_ok(refused(-EIO, "truncated in the request table", NULL), "cut in the request table");
	snprintf(off, sizeof(off), "offset %u:", HDR + TABLE + 4 * BLOCK);
	write_bad(img, HDR + TABLE + 4 * BLOCK + 100);
	tap_ok(refused(-EIO, "truncated in block 4 (step 1, layer 1)", off),
	       "cut inside block 4 names it and its offset");
	write_bad(img, img_len - 1);
	tap_ok(refused(-EIO, "truncated", NULL), "one byte short");
	memcpy(b, img, img_len);
	memset(b + img_len, 0, 16);
	write_bad(b, img_len + 16);
	tap_ok(refused(-EBADMSG, "trailing data", NULL), "trailing bytes");

	memcpy(b, img, img_len);
	b[0] = 'X';
	write_bad(b, img_len);
	tap_ok(refused(-EBADMSG, "bad magic", "offset 0"), "bad magic");

	memcpy(b, img, img_len);
	put32(b + 8, 2);
	fix_header_crc(b);
	write_bad(b, img_len);
	tap_ok(refused(-EBADMSG, "unsupported version 2", "offset 8"), "unknown version");

	memcpy(b, img, img_len);
	b[16] ^= 1;	/* layers changed, checksum not updated */
	write_bad(b, img_len);
	tap_ok(refused(-EBADMSG, "header checksum mismatch", "offset 60"), "header corrupted");

	memcpy(b, img, img_len);
	put32(b + 16, 0);
	fix_header_crc(b);
	write_bad(b, img_len);
	tap_ok(refused(-EBADMSG, "layers 0 out of range", "impossible header"), "0 layers");

	memcpy(b, img, img_len);
	put32(b + 20, 0xffffffffu);
	fix_header_crc(b);
	write_bad(b, img_len);
	tap_ok(refused(-EBADMSG, "topk 4294967295 out of range", NULL), "absurd top-k");

	memcpy(b, img, img_len);
	put32(b + 28, 0x7fffffffu);
	put32(b + 24, 100000);
	fix_header_crc(b);
	write_bad(b, img_len);
	tap_ok(refused(-EBADMSG, "larger than", NULL), "counts implying an absurd size");

	memcpy(b, img, img_len);
	put32(b + 32, 0x80);
	fix_header_crc(b);
	write_bad(b, img_len);
	tap_ok(refused(-EBADMSG, "unknown flags 0x80", NULL), "unknown flag bits");

	memcpy(b, img, img_len);
	b[HDR] ^= 0x40;
	write_bad(b, img_len);
	tap_ok(refused(-EBADMSG, "request table checksum mismatch", NULL), "request table corrupted");

	/* A token flipped in block 7: checksum names the block's offset. */
	memcpy(b, img, img_len);
	b[HDR + TABLE + 7 * BLOCK + 16 + 4 + 8] ^= 0x10;
	write_bad(b, img_len);
	snprintf(off, sizeof(off), "offset %u:", HDR + TABLE + 7 * BLOCK);
	tap_ok(refused(-EBADMSG, "block checksum mismatch (step 2 layer 1)", off),
	       "corrupted token data");

	/* Valid checksum but a token >= the length. */
	memcpy(b, img, img_len);
	put32(b + HDR + TABLE + 5 * BLOCK + 16 + 4 + 4 * 3, 5000);
	fix_block_crc(b, 5);
	write_bad(b, img_len);
	snprintf(off, sizeof(off), "offset %u:", HDR + TABLE + 5 * BLOCK + 16);
	tap_ok(refused(-EBADMSG, "token 5000 not in", off), "token beyond the sequence");

	/* Valid checksum but a repeated token. */
	memcpy(b, img, img_len);
	{
		unsigned char *row = b + HDR + TABLE + 2 * BLOCK + 16 + (4 + 4 * TOPK) + 4;

		memcpy(row + 4, row, 4);
	}
	fix_block_crc(b, 2);
	write_bad(b, img_len);
	tap_ok(refused(-EBADMSG, "repeated", "request 1"), "repeated token in a row");

	/* Blocks swapped: checksums fine, positions wrong. */
	memcpy(b, img, img_len);
	memcpy(b + HDR + TABLE, img + HDR + TABLE + BLOCK, BLOCK);
	write_bad(b, img_len);
	tap_ok(refused(-EBADMSG, "block says step 0 layer 1, expected step 0 layer 0", NULL),
	       "blocks out of order");

	rc = ess_trace_load(&back, "/nonexistent/x.trace", err, sizeof(err));
	tap_ok(rc == -ENOENT && strstr(err, "cannot open"), "missing file: %s", err);

	/* Streaming writer misuse. */
	{
		struct ess_trace_writer *w;
		struct ess_trace_info in = { 2, 2, 1, 0, 0, 0 };
		uint32_t pre = 4, len = 5;
		int32_t row[2] = { 4, 1 }, dup[2] = { 3, 3 };

		rc = ess_trace_writer_open(&w, bad, &in, &pre, err, sizeof(err));
		tap_ok(rc == 0 &&
		       ess_trace_writer_block(w, 0, 1, &len, row) == -EINVAL &&
		       strstr(ess_trace_writer_errmsg(w), "out of order") &&
		       ess_trace_writer_block(w, 0, 0, &len, dup) == -EINVAL &&
		       strstr(ess_trace_writer_errmsg(w), "repeated") &&
		       ess_trace_writer_block(w, 0, 0, &len, row) == 0,
		       "writer refuses out-of-order and bad blocks, then goes on");
		rc = ess_trace_writer_close(w, 0);
		tap_ok(rc == -EINVAL && access(bad, F_OK) != 0,
		       "closing in the middle of a step fails and removes the file");
		rc = ess_trace_writer_open(&w, bad, &in, &pre, err, sizeof(err));
		ess_trace_writer_block(w, 0, 0, &len, row);
		ess_trace_writer_block(w, 0, 1, &len, row);
		rc = ess_trace_writer_close(w, 0);
		tap_ok(rc == 0 && ess_trace_load(&back, bad, err, sizeof(err)) == 0 &&
		       back.info.steps == 1 && back.tokens[2] == 4,
		       "writer's file reads back with the counted steps");
		ess_trace_free(&back);
	}

	free(b);
	free(img);
	ess_trace_free(&tr);
	unlink(path);
	unlink(bad);
	rmdir(dir);
	return tap_done();
}
