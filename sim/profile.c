// SPDX-License-Identifier: MIT
/*
 * Profile parser: a strict reader of "key = value unit" lines into struct
 * sim_params.  Strict because a silently misread unit (GB for GiB, MB/s for
 * GB/s) moves the simulator's answer by orders of magnitude: every numeric
 * key demands a unit of its own kind and a value inside its range.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/errbuf.h"
#include "profile.h"

struct unit {
	const char *name;
	double scale;
};

static const struct unit bytes_units[] = {
	{ "TiB", 1099511627776.0 }, { "TB", 1e12 },
	{ "GiB", 1073741824.0 }, { "GB", 1e9 },
	{ "MiB", 1048576.0 }, { "MB", 1e6 },
	{ "KiB", 1024.0 }, { "KB", 1e3 },
	{ "B", 1.0 }, { NULL, 0 }
};

static const struct unit bw_units[] = {
	{ "TiB/s", 1099511627776.0 }, { "TB/s", 1e12 },
	{ "GiB/s", 1073741824.0 }, { "GB/s", 1e9 },
	{ "MiB/s", 1048576.0 }, { "MB/s", 1e6 },
	{ "KiB/s", 1024.0 }, { "KB/s", 1e3 },
	{ "B/s", 1.0 }, { NULL, 0 }
};

static const struct unit flops_units[] = {
	{ "PFLOP/s", 1e15 }, { "TFLOP/s", 1e12 }, { "GFLOP/s", 1e9 },
	{ "FLOP/s", 1.0 }, { NULL, 0 }
};

static const struct unit time_units[] = {
	{ "s", 1.0 }, { "ms", 1e-3 }, { "us", 1e-6 }, { "ns", 1e-9 },
	{ NULL, 0 }
};

static const struct unit count_units[] = {
	{ "M", 1048576.0 }, { "K", 1024.0 }, { "", 1.0 }, { NULL, 0 }
};

static const struct unit real_units[] = {
	{ "", 1.0 }, { "%", 0.01 }, { NULL, 0 }
};

static const struct unit *kind_units(enum sim_kind kind)
{
	switch (kind) {
	case SIM_COUNT: return count_units;
	case SIM_REAL:  return real_units;
	case SIM_BYTES: return bytes_units;
	case SIM_BW:    return bw_units;
	case SIM_FLOPS: return flops_units;
	case SIM_TIME:  return time_units;
	case SIM_NAME:  break;
	}
	return NULL;
}

const char *sim_kind_units(enum sim_kind kind)
{
	switch (kind) {
	case SIM_COUNT: return "integer, optional K/M suffix";
	case SIM_REAL:  return "number, or N%";
	case SIM_BYTES: return "B KB MB GB TB KiB MiB GiB TiB";
	case SIM_BW:    return "B/s .. TB/s, KiB/s .. TiB/s";
	case SIM_FLOPS: return "FLOP/s GFLOP/s TFLOP/s PFLOP/s";
	case SIM_TIME:  return "ns us ms s";
	case SIM_NAME:  return "name [A-Za-z0-9_.-]";
	}
	return "?";
}

#define K(sect, field, kind, lo, hi, doc) \
	{ #sect "." #field, kind, offsetof(struct sim_params, sect.field), lo, hi, doc }
#define BIG 1e30

/* Section prefixes in files: hw, model, deploy, workload, ess. */
const struct sim_key sim_keys[] = {
	K(hw, hbm_bytes, SIM_BYTES, 1, BIG, "HBM per GPU"),
	K(hw, hbm_usable, SIM_REAL, 0.01, 1, "fraction of HBM the engine may allocate"),
	K(hw, hbm_bw, SIM_BW, 1, BIG, "HBM bandwidth per GPU, nominal"),
	K(hw, hbm_eff, SIM_REAL, 0.01, 1, "fraction of hbm_bw that streaming kernels reach"),
	K(hw, fp8_rate, SIM_FLOPS, 1, BIG, "dense FP8 tensor-core rate per GPU"),
	K(hw, bf16_rate, SIM_FLOPS, 1, BIG, "dense BF16 tensor-core rate per GPU"),
	K(hw, gemm_eff, SIM_REAL, 0.01, 1, "fraction of FP8 peak reached by GEMMs"),
	K(hw, gemm_eff_bf16, SIM_REAL, 0.01, 1, "fraction of BF16 peak reached by GEMMs"),
	K(hw, gemm_bw_eff, SIM_REAL, 0.01, 1, "fraction of hbm_bw at which GEMMs stream their weights"),
	K(hw, gemm_sharpness, SIM_REAL, 1, 64, "p of the GEMM roofline (mem^p + compute^p)^(1/p)"),
	K(hw, kernel_floor, SIM_TIME, 0, 1, "fixed time of every kernel (ramp-up and tail)"),
	K(hw, attn_eff, SIM_REAL, 0.01, 1, "fraction of BF16 peak reached by sparse MLA attention"),
	K(hw, attn_fixed, SIM_TIME, 0, 1, "fixed time of the sparse attention beyond kernel_floor (split combine, tail wave)"),
	K(hw, index_eff, SIM_REAL, 0.01, 1, "fraction of hbm_bw the indexer scan and the top-k reach"),
	K(hw, gather_bw, SIM_BW, 1, BIG, "gather of scattered latent rows from HBM (sparse attention reads)"),
	K(hw, pcie_h2d, SIM_BW, 1, BIG, "host->GPU UVA gather of sorted 656-B rows, GPU otherwise idle"),
	K(hw, pcie_h2d_overlap, SIM_BW, 1, BIG, "same gather while compute kernels occupy the SMs"),
	K(hw, pcie_d2h, SIM_BW, 1, BIG, "GPU->host UVA scatter of sorted rows"),
	K(hw, fetch_latency, SIM_TIME, 0, 1, "fixed cost of one fetch launch (launch + first PCIe round trip)"),
	K(hw, writeback_latency, SIM_TIME, 0, 1, "fixed cost of one write-back (scatter) launch"),
	K(hw, sms, SIM_COUNT, 1, 100000, "streaming multiprocessors per GPU"),
	K(hw, host_dram_bytes, SIM_BYTES, 0, BIG, "host DRAM per node"),
	K(hw, host_dram_usable, SIM_REAL, 0.01, 1, "fraction of host DRAM usable for the latent pool"),
	K(hw, gpus_per_node, SIM_COUNT, 1, 1024, "GPUs per node"),
	K(hw, a2a_intra_bw, SIM_BW, 1, BIG, "all-to-all bandwidth per GPU inside a node"),
	K(hw, a2a_inter_bw, SIM_BW, 1, BIG, "all-to-all bandwidth per GPU across nodes"),
	K(hw, a2a_latency, SIM_TIME, 0, 1, "fixed cost of one dispatch or one combine"),
	K(hw, layer_overhead, SIM_TIME, 0, 1, "launch/synchronisation cost per layer and step"),

	K(model, layers, SIM_COUNT, 1, 1000, "transformer layers"),
	K(model, dense_layers, SIM_COUNT, 0, 1000, "leading layers with a dense FFN instead of MoE"),
	K(model, hidden, SIM_COUNT, 1, 1e6, "hidden size"),
	K(model, heads, SIM_COUNT, 1, 1e4, "query heads"),
	K(model, q_lora_rank, SIM_COUNT, 1, 1e6, "query low-rank dimension"),
	K(model, kv_lora_rank, SIM_COUNT, 1, 1e6, "MLA latent dimension"),
	K(model, rope_dim, SIM_COUNT, 0, 1e4, "decoupled RoPE key dimension"),
	K(model, nope_dim, SIM_COUNT, 1, 1e4, "per-head non-RoPE query/key dimension"),
	K(model, v_dim, SIM_COUNT, 1, 1e4, "per-head value dimension"),
	K(model, latent_entry, SIM_BYTES, 1, 1e6, "latent-cache bytes per token per layer"),
	K(model, index_heads, SIM_COUNT, 1, 1e4, "indexer heads"),
	K(model, index_dim, SIM_COUNT, 1, 1e4, "indexer head dimension"),
	K(model, index_entry, SIM_BYTES, 1, 1e6, "indexer-cache bytes per token per layer"),
	K(model, topk, SIM_COUNT, 1, 1e7, "tokens selected per query and layer"),
	K(model, routed_experts, SIM_COUNT, 1, 1e5, "routed experts per MoE layer"),
	K(model, active_experts, SIM_COUNT, 1, 1e5, "routed experts per token"),
	K(model, shared_experts, SIM_COUNT, 0, 1e3, "shared experts per MoE layer"),
	K(model, moe_intermediate, SIM_COUNT, 1, 1e6, "expert FFN width"),
	K(model, dense_intermediate, SIM_COUNT, 1, 1e6, "dense-layer FFN width"),
	K(model, vocab, SIM_COUNT, 1, 1e8, "vocabulary size"),
	K(model, weight_bytes, SIM_BYTES, 0.1, 8, "bytes per linear-layer weight (FP8 = 1 B)"),
	K(model, embed_bytes, SIM_BYTES, 0.1, 8, "bytes per embedding/LM-head weight"),
	K(model, page_tokens, SIM_COUNT, 1, 1e6, "cache allocation granule in tokens"),

	K(deploy, ep, SIM_COUNT, 1, 1e5, "expert-parallel degree (GPUs sharing the routed experts)"),
	K(deploy, redundant_experts, SIM_COUNT, 0, 1e4, "extra (replicated) experts held per GPU and layer"),
	K(deploy, weights_per_gpu, SIM_BYTES, 0, BIG, "weights per GPU; 0 = computed from the model"),
	K(deploy, hbm_reserve, SIM_BYTES, 0, BIG, "HBM kept for activations, graphs, communication buffers"),
	K(deploy, mtp_depth, SIM_COUNT, 0, 16, "MTP draft tokens per step"),
	K(deploy, mtp_accept, SIM_REAL, 0, 1, "acceptance rate of each draft token"),
	K(deploy, a2a_hidden, SIM_REAL, 0, 1, "fraction of all-to-all time hidden behind compute"),
	K(deploy, max_batch, SIM_COUNT, 0, 1e7, "batch cap per GPU; 0 = none"),
	K(deploy, tpot_slo, SIM_TIME, 0, 1e3, "time-per-output-token limit; 0 = none"),

	K(work, context, SIM_COUNT, 1, 1e9, "prompt (context) tokens per request"),
	K(work, output, SIM_COUNT, 0, 1e9, "generated tokens per request"),

	K(ess, slots, SIM_COUNT, 1, 1e9, "hot-buffer slots per request and layer"),
	K(ess, policy, SIM_NAME, 0, 0, "hot-buffer policy (informational unless a trace is replayed)"),
	K(ess, miss_rate, SIM_REAL, 0, 1, "misses per top-k entry, per layer and step"),
	K(ess, slot_meta, SIM_BYTES, 0, 1e6, "HBM metadata per slot (token id, key, freq, LRU order entry)"),
	K(ess, token_meta, SIM_BYTES, 0, 1e6, "HBM metadata per token a request holds, per layer (token -> slot map)"),
	K(ess, manage_time, SIM_TIME, 0, 1, "resolve kernel per launch and wave of sms requests, fixed part"),
	K(ess, manage_per_miss, SIM_TIME, 0, 1, "resolve kernel time added per unit of miss rate (x miss_rate)"),
	K(ess, splits, SIM_COUNT, 0, 1024, "indexer chunks along the batch (fetch pipelined behind them); 0 = best of 1/2/4/8"),
	K(ess, split_min_context, SIM_COUNT, 0, 1e9, "split the indexer only at or above this context"),
	K(ess, fetch_sm_share, SIM_REAL, 0, 1, "share of compute lost while a fetch runs beside it"),
};
const size_t sim_nkeys = sizeof(sim_keys) / sizeof(sim_keys[0]);

const struct sim_key *sim_key_find(const char *name)
{
	for (size_t i = 0; i < sim_nkeys; i++) {
		/* the file prefix of struct sim_workload is "workload" */
		const char *k = sim_keys[i].name;

		if (!strncmp(k, "work.", 5)) {
			if (!strncmp(name, "workload.", 9) && !strcmp(name + 9, k + 5))
				return &sim_keys[i];
			continue;
		}
		if (!strcmp(k, name))
			return &sim_keys[i];
	}
	return NULL;
}

/* Key name as written in files ("work." is spelt "workload."). */
static void key_display(const struct sim_key *k, char *buf, size_t len)
{
	if (!strncmp(k->name, "work.", 5))
		snprintf(buf, len, "workload.%s", k->name + 5);
	else
		snprintf(buf, len, "%s", k->name);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static bool valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n >= max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
			return false;
	return true;
}

/* Parse the value of key k; 0 or -1 with a reason in why. */
static int parse_value(const struct sim_key *k, const char *val,
		       struct sim_params *p, char *why, size_t whylen)
{
	const struct unit *u;
	char *end, unit[32];
	double num, v;
	size_t n;

	if (k->kind == SIM_NAME) {
		if (!valid_name(val, SIM_NAME_MAX)) {
			snprintf(why, whylen, "bad name '%s' (%s, < %d chars)", val,
				 sim_kind_units(SIM_NAME), SIM_NAME_MAX);
			return -1;
		}
		snprintf((char *)p + k->offset, SIM_NAME_MAX, "%s", val);
		return 0;
	}
	if (!isdigit((unsigned char)val[0]) && !(val[0] == '.' && isdigit((unsigned char)val[1]))) {
		snprintf(why, whylen, "'%s' is not a non-negative decimal number", val);
		return -1;
	}
	errno = 0;
	num = strtod(val, &end);
	if (errno || !isfinite(num) || (end > val + 1 && (val[1] == 'x' || val[1] == 'X'))) {
		snprintf(why, whylen, "'%s' is not a usable number", val);
		return -1;
	}
	while (*end == ' ' || *end == '\t')
		end++;
	n = strlen(end);
	if (n >= sizeof(unit) || strpbrk(end, " \t")) {
		snprintf(why, whylen, "bad unit '%s' (want %s)", end, sim_kind_units(k->kind));
		return -1;
	}
	memcpy(unit, end, n + 1);
	for (u = kind_units(k->kind); u->name; u++)
		if (!strcmp(u->name, unit))
			break;
	if (!u->name) {
		if (!unit[0])
			snprintf(why, whylen, "missing unit (want %s)", sim_kind_units(k->kind));
		else
			snprintf(why, whylen, "bad unit '%s' (want %s)", unit, sim_kind_units(k->kind));
		return -1;
	}
	v = num * u->scale;
	if (k->kind == SIM_COUNT && v != floor(v)) {
		snprintf(why, whylen, "'%s' is not a whole number", val);
		return -1;
	}
	if (!isfinite(v) || v < k->min || v > k->max) {
		snprintf(why, whylen, "value %g out of range [%g, %g]", v, k->min, k->max);
		return -1;
	}
	*(double *)((char *)p + k->offset) = v;
	return 0;
}

/* One "key = value" line (comment already removed, trimmed, non-empty). */
static int parse_line(struct sim_params *p, char *line, bool *seen,
		      char *why, size_t whylen)
{
	char *eq = strchr(line, '='), *key, *val, disp[64];
	const struct sim_key *k;
	size_t idx;

	if (!eq) {
		snprintf(why, whylen, "expected 'key = value'");
		return -1;
	}
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	if (!*key) {
		snprintf(why, whylen, "missing key before '='");
		return -1;
	}
	k = sim_key_find(key);
	if (!k) {
		snprintf(why, whylen, "unknown key '%.48s'", key);
		return -1;
	}
	key_display(k, disp, sizeof(disp));
	idx = (size_t)(k - sim_keys);
	if (seen && seen[idx]) {
		snprintf(why, whylen, "%s given twice", disp);
		return -1;
	}
	if (!*val) {
		snprintf(why, whylen, "%s: missing value", disp);
		return -1;
	}
	if (parse_value(k, val, p, why, whylen)) {
		char tmp[256];

		snprintf(tmp, sizeof(tmp), "%s: %s", disp, why);
		snprintf(why, whylen, "%s", tmp);
		return -1;
	}
	if (seen)
		seen[idx] = true;
	return 0;
}

int sim_profile_parse(struct sim_params *p, const char *text,
		      const char *name, char *err, size_t errlen)
{
	struct sim_params tmp = *p;
	bool seen[sizeof(sim_keys) / sizeof(sim_keys[0])] = { false };
	const char *s = text;
	unsigned lineno = 0;

	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		char buf[512], why[256], *hash, *line;

		lineno++;
		if (len >= sizeof(buf)) {
			seterr(err, errlen, "%s:%u: line longer than %zu bytes", name, lineno,
			       sizeof(buf) - 1);
			return -1;
		}
		memcpy(buf, s, len);
		buf[len] = '\0';
		s += len + (nl ? 1 : 0);
		if (memchr(buf, '\0', len)) {
			seterr(err, errlen, "%s:%u: NUL byte in line", name, lineno);
			return -1;
		}
		hash = strchr(buf, '#');
		if (hash)
			*hash = '\0';
		line = trim(buf);
		if (!*line)
			continue;
		if (parse_line(&tmp, line, seen, why, sizeof(why))) {
			seterr(err, errlen, "%s:%u: %s", name, lineno, why);
			return -1;
		}
	}
	*p = tmp;
	return 0;
}

int sim_profile_load(struct sim_params *p, const char *path,
		     char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t cap = 0, len = 0, n;
	int rc;

	if (!f) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *t;

			cap = cap ? cap * 2 : 8192;
			if (cap > (1u << 24)) {
				seterr(err, errlen, "%s: larger than 16 MiB", path);
				free(text);
				fclose(f);
				return -1;
			}
			t = realloc(text, cap);
			if (!t) {
				seterr(err, errlen, "%s: out of memory", path);
				free(text);
				fclose(f);
				return -1;
			}
			text = t;
		}
		n = fread(text + len, 1, 4096, f);
		len += n;
		if (n < 4096)
			break;
	}
	if (ferror(f)) {
		seterr(err, errlen, "%s: read error", path);
		free(text);
		fclose(f);
		return -1;
	}
	fclose(f);
	text[len] = '\0';
	if (strlen(text) != len) {
		seterr(err, errlen, "%s: NUL byte in file", path);
		free(text);
		return -1;
	}
	rc = sim_profile_parse(p, text, path, err, errlen);
	free(text);
	return rc;
}

int sim_profile_set(struct sim_params *p, const char *assign,
		    char *err, size_t errlen)
{
	char buf[512], why[256], *hash;
	struct sim_params tmp = *p;

	if (strlen(assign) >= sizeof(buf)) {
		seterr(err, errlen, "--set: too long");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", assign);
	hash = strchr(buf, '#');
	if (hash)
		*hash = '\0';
	if (parse_line(&tmp, trim(buf), NULL, why, sizeof(why))) {
		seterr(err, errlen, "--set %s: %s", assign, why);
		return -1;
	}
	*p = tmp;
	return 0;
}

void sim_params_default(struct sim_params *p)
{
	char err[256];

	memset(p, 0, sizeof(*p));
	if (sim_profile_parse(p, sim_default_profile, "built-in", err, sizeof(err))) {
		/* The built-in text is tested; this is a build defect. */
		fprintf(stderr, "ess-sim: %s\n", err);
		abort();
	}
}

/* The largest unit in which v prints short and parses back exactly. */
static void format_value(const struct sim_key *k, double v, char *buf, size_t len)
{
	const struct unit *u;
	char num[64];

	if (k->kind == SIM_COUNT || k->kind == SIM_REAL) {
		snprintf(buf, len, "%.17g", v);
		snprintf(num, sizeof(num), "%.10g", v);
		if (strtod(num, NULL) == v)
			snprintf(buf, len, "%s", num);
		return;
	}
	for (u = kind_units(k->kind); u->name; u++) {
		if (v != 0 && v < u->scale)
			continue;
		if (v == 0 && u->scale != 1.0)
			continue;
		snprintf(num, sizeof(num), "%.10g", v / u->scale);
		if (strtod(num, NULL) * u->scale == v && !strchr(num, 'e')) {
			snprintf(buf, len, "%s %s", num, u->name);
			return;
		}
	}
	for (u = kind_units(k->kind); u->name && u->scale != 1.0; u++)
		;
	snprintf(buf, len, "%.17g %s", v, u->name ? u->name : "");
}

void sim_profile_write(const struct sim_params *p, FILE *out)
{
	for (size_t i = 0; i < sim_nkeys; i++) {
		const struct sim_key *k = &sim_keys[i];
		char disp[64], val[96];

		key_display(k, disp, sizeof(disp));
		if (k->kind == SIM_NAME)
			snprintf(val, sizeof(val), "%s", (const char *)p + k->offset);
		else
			format_value(k, *(const double *)((const char *)p + k->offset),
				     val, sizeof(val));
		fprintf(out, "%-26s = %-16s # %s\n", disp, val, k->doc);
	}
}

void sim_keys_write(FILE *out)
{
	for (size_t i = 0; i < sim_nkeys; i++) {
		const struct sim_key *k = &sim_keys[i];
		char disp[64];

		key_display(k, disp, sizeof(disp));
		fprintf(out, "%-26s %-32s %s\n", disp, sim_kind_units(k->kind), k->doc);
	}
}
