// SPDX-License-Identifier: MIT
/*
 * Trace files: the in-memory trace, its checks, and the reader and writers
 * of the format in Documentation/dev/trace-format.md.  Every field is
 * encoded byte by byte (little-endian) so the files are the same on any
 * host.  The reader trusts nothing: header fields are range-checked, the
 * file size must match the counts exactly, every block's magic, position
 * and CRC32C are checked, and then the content (token ranges, repeats,
 * lengths) before a trace is handed back.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <isa-l/crc.h>

#include "ess/trace.h"
#include "errbuf.h"


uint32_t ess_crc32c(const void *buf, size_t len)
{
	uint32_t crc = 0xffffffffu;
	const unsigned char *p = buf;

	/* crc32_iscsi takes an int length: feed large buffers in pieces. */
	while (len) {
		int n = len > (1u << 30) ? (1 << 30) : (int)len;

		crc = crc32_iscsi((unsigned char *)p, n, crc);
		p += n;
		len -= (size_t)n;
	}
	return crc ^ 0xffffffffu;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Bytes of one (step, layer) block, or 0 if the shape is out of range. */
static uint64_t block_bytes(const struct ess_trace_info *in)
{
	return ESS_TRACE_BLOCK_HEAD +
	       (uint64_t)in->requests * (4 + 4 * (uint64_t)in->topk) + 4;
}

static uint64_t table_bytes(const struct ess_trace_info *in)
{
	return 4 * (uint64_t)in->requests + 4;
}

/* Check the shape; on success *total is the file size it implies. */
static int check_shape(const struct ess_trace_info *in, uint64_t *total,
		       char *msg, size_t len)
{
	uint64_t blocks, bb;

	if (in->layers == 0 || in->layers > ESS_TRACE_MAX_LAYERS) {
		seterr(msg, len, "layers %u out of range 1..%u", in->layers,
		       ESS_TRACE_MAX_LAYERS);
		return -EBADMSG;
	}
	if (in->topk == 0 || in->topk > ESS_TRACE_MAX_TOPK) {
		seterr(msg, len, "topk %u out of range 1..%u", in->topk,
		       ESS_TRACE_MAX_TOPK);
		return -EBADMSG;
	}
	if (in->requests == 0 || in->requests > ESS_TRACE_MAX_REQUESTS) {
		seterr(msg, len, "requests %u out of range 1..%u", in->requests,
		       ESS_TRACE_MAX_REQUESTS);
		return -EBADMSG;
	}
	if (in->flags & ~ESS_TRACE_F_KNOWN) {
		seterr(msg, len, "unknown flags 0x%x", in->flags & ~ESS_TRACE_F_KNOWN);
		return -EBADMSG;
	}
	bb = block_bytes(in);
	blocks = (uint64_t)in->steps * in->layers;
	if (blocks && bb > ESS_TRACE_MAX_BYTES / blocks) {
		seterr(msg, len, "%u steps x %u layers x %u requests x top-%u is "
		       "larger than the %llu-byte limit", in->steps, in->layers,
		       in->requests, in->topk,
		       (unsigned long long)ESS_TRACE_MAX_BYTES);
		return -EBADMSG;
	}
	*total = ESS_TRACE_HEADER_BYTES + table_bytes(in) + blocks * bb;
	if (*total > ESS_TRACE_MAX_BYTES || *total > SIZE_MAX / 2) {
		seterr(msg, len, "trace of %llu bytes is too large",
		       (unsigned long long)*total);
		return -EBADMSG;
	}
	return 0;
}

int ess_trace_alloc(struct ess_trace *tr, const struct ess_trace_info *info)
{
	uint64_t total, rows;
	size_t i;
	char msg[8];

	if (!tr || !info)
		return -EINVAL;
	memset(tr, 0, sizeof(*tr));
	if (check_shape(info, &total, msg, sizeof(msg)))
		return -EINVAL;
	rows = (uint64_t)info->steps * info->layers * info->requests;
	tr->info = *info;
	tr->prefill = calloc(info->requests, sizeof(*tr->prefill));
	tr->seq_len = calloc(rows ? rows : 1, sizeof(*tr->seq_len));
	tr->tokens = malloc(sizeof(*tr->tokens) * (rows ? rows * info->topk : 1));
	if (!tr->prefill || !tr->seq_len || !tr->tokens) {
		ess_trace_free(tr);
		return -ENOMEM;
	}
	for (i = 0; i < rows * info->topk; i++)
		tr->tokens[i] = -1;
	return 0;
}

void ess_trace_free(struct ess_trace *tr)
{
	if (!tr)
		return;
	free(tr->prefill);
	free(tr->seq_len);
	free(tr->tokens);
	memset(tr, 0, sizeof(*tr));
}

/*
 * Check one row given the request's length before it (*prev, updated).
 * seen is scratch of at least seq_len bits, all clear on entry and exit.
 */
static int check_row(const struct ess_trace_info *in, uint32_t step,
		     uint32_t layer, uint32_t req, uint32_t len, const int32_t *row,
		     uint32_t *prev, uint64_t *seen, char *msg, size_t msglen)
{
	uint32_t i;
	int rc = 0;

	if (len == 0) {
		for (i = 0; i < in->topk; i++)
			if (row[i] != -1) {
				seterr(msg, msglen, "step %u layer %u request %u: "
				       "inactive (length 0) but entry %u is %d",
				       step, layer, req, i, row[i]);
				return -EINVAL;
			}
		return 0;
	}
	if (len < *prev) {
		seterr(msg, msglen, "step %u layer %u request %u: length %u "
		       "shrinks from %u", step, layer, req, len, *prev);
		return -EINVAL;
	}
	for (i = 0; i < in->topk && !rc; i++) {
		int32_t v = row[i];

		if (v == -1)
			continue;
		if (v < 0 || (uint32_t)v >= len) {
			seterr(msg, msglen, "step %u layer %u request %u: entry %u "
			       "token %d not in 0..%u", step, layer, req, i, v,
			       len - 1);
			rc = -EINVAL;
		} else if (seen[v >> 6] & (1ull << (v & 63))) {
			seterr(msg, msglen, "step %u layer %u request %u: entry %u "
			       "token %d repeated", step, layer, req, i, v);
			rc = -EINVAL;
		} else {
			seen[v >> 6] |= 1ull << (v & 63);
		}
	}
	/* Clear what we set (up to the entry that failed). */
	while (i-- > 0)
		if (row[i] >= 0 && (uint32_t)row[i] < len)
			seen[row[i] >> 6] &= ~(1ull << (row[i] & 63));
	if (rc)
		return rc;
	*prev = len;
	return 0;
}

static uint32_t max_len(const struct ess_trace *tr)
{
	size_t r, rows = (size_t)tr->info.steps * tr->info.layers * tr->info.requests;
	uint32_t m = 1;

	for (r = 0; r < rows; r++)
		if (tr->seq_len[r] > m)
			m = tr->seq_len[r];
	return m;
}

int ess_trace_validate(const struct ess_trace *tr, char *err, size_t errlen)
{
	const struct ess_trace_info *in;
	uint32_t *prev, s, l, q;
	uint64_t *seen, total;
	int rc = 0;

	if (!tr || !tr->prefill || !tr->seq_len || !tr->tokens) {
		seterr(err, errlen, "no trace");
		return -EINVAL;
	}
	in = &tr->info;
	rc = check_shape(in, &total, err, errlen);
	if (rc)
		return -EINVAL;
	prev = malloc(sizeof(*prev) * (size_t)in->requests * in->layers);
	seen = calloc((max_len(tr) + 63) / 64, sizeof(*seen));
	if (!prev || !seen) {
		free(prev);
		free(seen);
		return -ENOMEM;
	}
	for (q = 0; q < in->requests; q++)
		for (l = 0; l < in->layers; l++)
			prev[(size_t)q * in->layers + l] = tr->prefill[q];
	for (s = 0; s < in->steps && !rc; s++)
		for (l = 0; l < in->layers && !rc; l++)
			for (q = 0; q < in->requests && !rc; q++) {
				size_t r = ess_trace_row(tr, s, l, q);

				rc = check_row(in, s, l, q, tr->seq_len[r],
					       tr->tokens + r * in->topk,
					       &prev[(size_t)q * in->layers + l],
					       seen, err, errlen);
			}
	free(prev);
	free(seen);
	return rc;
}

static void encode_header(unsigned char *h, const struct ess_trace_info *in)
{
	memset(h, 0, ESS_TRACE_HEADER_BYTES);
	memcpy(h, ESS_TRACE_MAGIC, 8);
	put32(h + 8, ESS_TRACE_VERSION);
	put32(h + 12, ESS_TRACE_HEADER_BYTES);
	put32(h + 16, in->layers);
	put32(h + 20, in->topk);
	put32(h + 24, in->requests);
	put32(h + 28, in->steps);
	put32(h + 32, in->flags);
	put64(h + 40, in->seed);
	put32(h + 60, ess_crc32c(h, 60));
}

/* Encode block (step, layer) from seq_len[requests] and tokens. */
static void encode_block(unsigned char *b, const struct ess_trace_info *in,
			 uint32_t step, uint32_t layer, const uint32_t *seq_len,
			 const int32_t *tokens)
{
	uint64_t bb = block_bytes(in);
	unsigned char *p = b + ESS_TRACE_BLOCK_HEAD;
	uint32_t q, i;

	put32(b, ESS_TRACE_BLOCK_MAGIC);
	put32(b + 4, step);
	put32(b + 8, layer);
	put32(b + 12, 0);
	for (q = 0; q < in->requests; q++) {
		put32(p, seq_len[q]);
		p += 4;
		for (i = 0; i < in->topk; i++, p += 4)
			put32(p, (uint32_t)tokens[(size_t)q * in->topk + i]);
	}
	put32(b + bb - 4, ess_crc32c(b, bb - 4));
}

static int write_all(FILE *f, const void *buf, size_t n)
{
	return fwrite(buf, 1, n, f) == n ? 0 : -EIO;
}

int ess_trace_save(const struct ess_trace *tr, const char *path,
		   char *err, size_t errlen)
{
	struct ess_trace_writer *w;
	uint32_t s, l;
	int rc;

	if (!tr || !path) {
		seterr(err, errlen, "no trace or path");
		return -EINVAL;
	}
	rc = ess_trace_validate(tr, err, errlen);
	if (rc)
		return rc;
	rc = ess_trace_writer_open(&w, path, &tr->info, tr->prefill, err, errlen);
	if (rc)
		return rc;
	for (s = 0; s < tr->info.steps && !rc; s++)
		for (l = 0; l < tr->info.layers && !rc; l++) {
			size_t r = ess_trace_row(tr, s, l, 0);

			rc = ess_trace_writer_block(w, s, l, tr->seq_len + r,
						    tr->tokens + r * tr->info.topk);
		}
	if (rc)
		seterr(err, errlen, "%s", ess_trace_writer_errmsg(w));
	{
		int crc = ess_trace_writer_close(w, rc != 0);

		return rc ? rc : crc;
	}
}

struct ess_trace_writer {
	FILE *f;
	char *path;
	struct ess_trace_info info;
	uint32_t next_step, next_layer;
	uint32_t *prev;		/* [requests * layers] lengths so far */
	uint64_t *seen;
	uint32_t seen_bits;
	unsigned char *buf;	/* one block */
	int err;
	char msg[256];
};

int ess_trace_writer_open(struct ess_trace_writer **wp, const char *path,
			  const struct ess_trace_info *info,
			  const uint32_t *prefill, char *err, size_t errlen)
{
	struct ess_trace_writer *w;
	struct ess_trace_info in;
	unsigned char hdr[ESS_TRACE_HEADER_BYTES];
	unsigned char *tab;
	uint64_t total;
	uint32_t q, l;
	int rc;

	if (!wp || !path || !info || !prefill) {
		seterr(err, errlen, "missing argument");
		return -EINVAL;
	}
	*wp = NULL;
	in = *info;
	in.steps = 0;
	rc = check_shape(&in, &total, err, errlen);
	if (rc)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->info = in;
	w->path = strdup(path);
	w->prev = malloc(sizeof(*w->prev) * (size_t)in.requests * in.layers);
	w->buf = malloc(block_bytes(&in));
	tab = malloc(table_bytes(&in));
	if (!w->path || !w->prev || !w->buf || !tab) {
		free(tab);
		ess_trace_writer_close(w, 1);
		return -ENOMEM;
	}
	for (q = 0; q < in.requests; q++) {
		put32(tab + 4 * q, prefill[q]);
		for (l = 0; l < in.layers; l++)
			w->prev[(size_t)q * in.layers + l] = prefill[q];
	}
	put32(tab + 4 * in.requests, ess_crc32c(tab, 4 * (size_t)in.requests));
	w->f = fopen(path, "wb");
	if (!w->f) {
		rc = -errno;
		seterr(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		free(tab);
		free(w->path);
		w->path = NULL;	/* nothing to remove */
		ess_trace_writer_close(w, 1);
		return rc;
	}
	/* Header with steps 0 now; the real count is written at close. */
	encode_header(hdr, &in);
	rc = write_all(w->f, hdr, sizeof(hdr));
	if (!rc)
		rc = write_all(w->f, tab, table_bytes(&in));
	free(tab);
	if (rc) {
		seterr(err, errlen, "%s: write failed", path);
		ess_trace_writer_close(w, 1);
		return rc;
	}
	*wp = w;
	return 0;
}

const char *ess_trace_writer_errmsg(const struct ess_trace_writer *w)
{
	return w ? w->msg : "no writer";
}

int ess_trace_writer_block(struct ess_trace_writer *w, uint32_t step,
			   uint32_t layer, const uint32_t *seq_len,
			   const int32_t *tokens)
{
	const struct ess_trace_info *in;
	uint32_t q, need = 1, i;
	int rc = 0;

	if (!w)
		return -EINVAL;
	if (w->err)
		return w->err;
	in = &w->info;
	if (!seq_len || !tokens) {
		snprintf(w->msg, sizeof(w->msg), "missing seq_len or tokens");
		return -EINVAL;
	}
	if (step != w->next_step || layer != w->next_layer) {
		snprintf(w->msg, sizeof(w->msg), "block (step %u, layer %u) out of "
			 "order: expected (step %u, layer %u)", step, layer,
			 w->next_step, w->next_layer);
		return -EINVAL;
	}
	if (w->next_step == UINT32_MAX) {
		snprintf(w->msg, sizeof(w->msg), "too many steps");
		return -EINVAL;
	}
	for (q = 0; q < in->requests; q++)
		if (seq_len[q] > need)
			need = seq_len[q];
	if (need > w->seen_bits) {
		uint64_t *n = realloc(w->seen, ((size_t)need + 63) / 64 * 8);

		if (!n)
			return -ENOMEM;
		for (i = (w->seen_bits + 63) / 64; i < (need + 63) / 64; i++)
			n[i] = 0;
		w->seen = n;
		w->seen_bits = (need + 63) / 64 * 64;
	}
	/* Check every row against copies of the lengths, commit on success. */
	for (q = 0; q < in->requests && !rc; q++) {
		uint32_t p = w->prev[(size_t)q * in->layers + layer];

		rc = check_row(in, step, layer, q, seq_len[q],
			       tokens + (size_t)q * in->topk, &p, w->seen,
			       w->msg, sizeof(w->msg));
	}
	if (rc)
		return rc;
	for (q = 0; q < in->requests; q++)
		if (seq_len[q])
			w->prev[(size_t)q * in->layers + layer] = seq_len[q];
	encode_block(w->buf, in, step, layer, seq_len, tokens);
	if (write_all(w->f, w->buf, block_bytes(in))) {
		snprintf(w->msg, sizeof(w->msg), "%s: write failed", w->path);
		w->err = -EIO;
		return -EIO;
	}
	if (++w->next_layer == in->layers) {
		w->next_layer = 0;
		w->next_step++;
	}
	return 0;
}

int ess_trace_writer_close(struct ess_trace_writer *w, int abort)
{
	unsigned char hdr[ESS_TRACE_HEADER_BYTES];
	int rc;

	if (!w)
		return -EINVAL;
	rc = w->err;
	if (!abort && !rc && w->next_layer != 0) {
		snprintf(w->msg, sizeof(w->msg), "step %u has %u of %u layers",
			 w->next_step, w->next_layer, w->info.layers);
		rc = -EINVAL;
	}
	if (!abort && !rc && w->f) {
		w->info.steps = w->next_step;
		encode_header(hdr, &w->info);
		if (fseek(w->f, 0, SEEK_SET) || write_all(w->f, hdr, sizeof(hdr)))
			rc = -EIO;
	}
	if (w->f && fclose(w->f) && !rc)
		rc = -EIO;
	if ((abort || rc) && w->f && w->path)
		unlink(w->path);
	free(w->path);
	free(w->prev);
	free(w->seen);
	free(w->buf);
	free(w);
	return rc;
}

/* Read exactly n bytes at the current position. */
static int read_at(FILE *f, void *buf, size_t n)
{
	return fread(buf, 1, n, f) == n ? 0 : -EIO;
}

int ess_trace_load(struct ess_trace *tr, const char *path, char *err,
		   size_t errlen)
{
	unsigned char hdr[ESS_TRACE_HEADER_BYTES], *tab = NULL, *b = NULL;
	uint32_t *prev = NULL;
	uint64_t *seen = NULL;
	struct ess_trace_info in;
	struct stat st;
	uint64_t total, bb, off;
	uint32_t version, hbytes, s, l, q, i, seen_bits = 0;
	char msg[200];
	FILE *f;
	int rc;

	if (!tr || !path) {
		seterr(err, errlen, "no trace or path");
		return -EINVAL;
	}
	memset(tr, 0, sizeof(*tr));
	f = fopen(path, "rb");
	if (!f) {
		rc = -errno;
		seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: not a regular file", path);
		fclose(f);
		return -EINVAL;
	}
	if (read_at(f, hdr, sizeof(hdr))) {
		seterr(err, errlen, "%s: offset 0: truncated header (%lld of %u "
		       "bytes)", path, (long long)st.st_size, ESS_TRACE_HEADER_BYTES);
		fclose(f);
		return -EIO;
	}
	if (memcmp(hdr, ESS_TRACE_MAGIC, 8)) {
		seterr(err, errlen, "%s: offset 0: bad magic (not an ESS trace)", path);
		fclose(f);
		return -EBADMSG;
	}
	version = get32(hdr + 8);
	hbytes = get32(hdr + 12);
	if (version != ESS_TRACE_VERSION) {
		seterr(err, errlen, "%s: offset 8: unsupported version %u "
		       "(this reader knows %u)", path, version, ESS_TRACE_VERSION);
		fclose(f);
		return -EBADMSG;
	}
	if (get32(hdr + 60) != ess_crc32c(hdr, 60)) {
		seterr(err, errlen, "%s: offset 60: header checksum mismatch "
		       "(stored 0x%08x, computed 0x%08x)", path, get32(hdr + 60),
		       ess_crc32c(hdr, 60));
		fclose(f);
		return -EBADMSG;
	}
	if (hbytes != ESS_TRACE_HEADER_BYTES) {
		seterr(err, errlen, "%s: offset 12: header size %u, expected %u",
		       path, hbytes, ESS_TRACE_HEADER_BYTES);
		fclose(f);
		return -EBADMSG;
	}
	in.layers = get32(hdr + 16);
	in.topk = get32(hdr + 20);
	in.requests = get32(hdr + 24);
	in.steps = get32(hdr + 28);
	in.flags = get32(hdr + 32);
	in.seed = get64(hdr + 40);
	for (i = 36; i < 60; i++)
		if (i < 40 || i >= 48)
			if (hdr[i]) {
				seterr(err, errlen, "%s: offset %u: reserved header "
				       "byte is not zero", path, i);
				fclose(f);
				return -EBADMSG;
			}
	rc = check_shape(&in, &total, msg, sizeof(msg));
	if (rc) {
		seterr(err, errlen, "%s: offset 16: impossible header: %s", path, msg);
		fclose(f);
		return rc;
	}
	bb = block_bytes(&in);
	if ((uint64_t)st.st_size != total) {
		uint64_t have = (uint64_t)st.st_size;

		if (have < total) {
			off = ESS_TRACE_HEADER_BYTES + table_bytes(&in);
			if (have < off)
				seterr(err, errlen, "%s: offset %llu: truncated in the "
				       "request table (file %llu bytes, expected %llu)",
				       path, (unsigned long long)have,
				       (unsigned long long)have,
				       (unsigned long long)total);
			else
				seterr(err, errlen, "%s: offset %llu: truncated in "
				       "block %llu (step %llu, layer %llu) (file %llu "
				       "bytes, expected %llu)", path,
				       (unsigned long long)(off + (have - off) / bb * bb),
				       (unsigned long long)((have - off) / bb),
				       (unsigned long long)((have - off) / bb / in.layers),
				       (unsigned long long)((have - off) / bb % in.layers),
				       (unsigned long long)have,
				       (unsigned long long)total);
			rc = -EIO;
		} else {
			seterr(err, errlen, "%s: offset %llu: %llu bytes of trailing "
			       "data after the last block", path,
			       (unsigned long long)total,
			       (unsigned long long)(have - total));
			rc = -EBADMSG;
		}
		fclose(f);
		return rc;
	}
	rc = ess_trace_alloc(tr, &in);
	if (rc) {
		seterr(err, errlen, "%s: out of memory for the trace", path);
		fclose(f);
		return rc;
	}
	tab = malloc(table_bytes(&in));
	b = malloc(bb);
	prev = malloc(sizeof(*prev) * (size_t)in.requests * in.layers);
	if (!tab || !b || !prev) {
		rc = -ENOMEM;
		goto out;
	}
	off = ESS_TRACE_HEADER_BYTES;
	if (read_at(f, tab, table_bytes(&in))) {
		seterr(err, errlen, "%s: offset %llu: read error", path,
		       (unsigned long long)off);
		rc = -EIO;
		goto out;
	}
	if (get32(tab + 4 * in.requests) != ess_crc32c(tab, 4 * (size_t)in.requests)) {
		seterr(err, errlen, "%s: offset %llu: request table checksum "
		       "mismatch", path, (unsigned long long)(off + 4 * in.requests));
		rc = -EBADMSG;
		goto out;
	}
	for (q = 0; q < in.requests; q++) {
		tr->prefill[q] = get32(tab + 4 * q);
		for (l = 0; l < in.layers; l++)
			prev[(size_t)q * in.layers + l] = tr->prefill[q];
	}
	off += table_bytes(&in);
	for (s = 0; s < in.steps; s++)
		for (l = 0; l < in.layers; l++, off += bb) {
			size_t r = ess_trace_row(tr, s, l, 0);
			const unsigned char *p = b + ESS_TRACE_BLOCK_HEAD;

			if (read_at(f, b, bb)) {
				seterr(err, errlen, "%s: offset %llu: read error",
				       path, (unsigned long long)off);
				rc = -EIO;
				goto out;
			}
			if (get32(b) != ESS_TRACE_BLOCK_MAGIC) {
				seterr(err, errlen, "%s: offset %llu: bad block magic "
				       "0x%08x (step %u layer %u)", path,
				       (unsigned long long)off, get32(b), s, l);
				rc = -EBADMSG;
				goto out;
			}
			if (get32(b + bb - 4) != ess_crc32c(b, bb - 4)) {
				seterr(err, errlen, "%s: offset %llu: block checksum "
				       "mismatch (step %u layer %u): data corrupted",
				       path, (unsigned long long)off, s, l);
				rc = -EBADMSG;
				goto out;
			}
			if (get32(b + 4) != s || get32(b + 8) != l || get32(b + 12)) {
				seterr(err, errlen, "%s: offset %llu: block says step "
				       "%u layer %u, expected step %u layer %u", path,
				       (unsigned long long)off, get32(b + 4),
				       get32(b + 8), s, l);
				rc = -EBADMSG;
				goto out;
			}
			for (q = 0; q < in.requests; q++) {
				uint32_t len = get32(p);

				tr->seq_len[r + q] = len;
				p += 4;
				for (i = 0; i < in.topk; i++, p += 4)
					tr->tokens[(r + q) * in.topk + i] =
						(int32_t)get32(p);
				if (len > seen_bits) {
					free(seen);
					seen_bits = (len + 63) / 64 * 64;
					seen = calloc(seen_bits / 64, sizeof(*seen));
					if (!seen) {
						rc = -ENOMEM;
						goto out;
					}
				}
				rc = check_row(&in, s, l, q, len,
					       tr->tokens + (r + q) * in.topk,
					       &prev[(size_t)q * in.layers + l],
					       seen, msg, sizeof(msg));
				if (rc) {
					seterr(err, errlen, "%s: offset %llu: "
					       "invalid row: %s", path,
					       (unsigned long long)(off +
					       ESS_TRACE_BLOCK_HEAD + (uint64_t)q *
					       (4 + 4 * (uint64_t)in.topk)), msg);
					rc = -EBADMSG;
					goto out;
				}
			}
		}
out:
	if (rc == -ENOMEM)
		seterr(err, errlen, "%s: out of memory", path);
	free(tab);
	free(b);
	free(prev);
	free(seen);
	fclose(f);
	if (rc)
		ess_trace_free(tr);
	return rc;
}
