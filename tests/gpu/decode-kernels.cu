// SPDX-License-Identifier: MIT
/*
 * The decode benchmark's kernels against CPU references on small sizes:
 * the indexer (FP8 MMA) against a double-precision DSA score, the radix
 * top-k against a sort, the sparse MLA attention (FP8 rows dequantised,
 * BF16 MMA, split softmax) against a double-precision attention, and the
 * argument checks.  Data is random (ESS_SEED replays).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "gpu-tap.h"
#include "decode/decode.h"

static double fp8(uint8_t v)	/* e4m3: bias 7, no infinities */
{
	const int s = v >> 7, e = (v >> 3) & 15, m = v & 7;
	double x = e ? ldexp(1.0 + m / 8.0, e - 7) : ldexp(m / 8.0, -6);
	return s ? -x : x;
}

static double bf16(uint16_t v)
{
	uint32_t u = (uint32_t)v << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static uint16_t to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

static void rand_fp8(uint8_t *p, size_t n)
{
	fill_random(p, n);
	for (size_t i = 0; i < n; i++)
		p[i] &= 0xbf;	/* |x| < 2, never NaN */
}

static float unitf(void)
{
	return (float)(rng() >> 40) / (float)(1ull << 24);
}

static void test_indexer(void)
{
	const uint32_t B = 2, cap = 1000, ntok[2] = {1000, 777};
	std::vector<uint8_t> keys((size_t)B * cap * DEC_KEY), q((size_t)B * DEC_IDX_HEADS * DEC_IDX_DIM);
	std::vector<float> w(B * DEC_IDX_HEADS), score((size_t)B * cap);
	for (size_t r = 0; r < (size_t)B * cap; r++) {
		rand_fp8(&keys[r * DEC_KEY], DEC_IDX_DIM);
		float s = 0.5f + unitf();
		memcpy(&keys[r * DEC_KEY + DEC_IDX_DIM], &s, 4);
	}
	rand_fp8(q.data(), q.size());
	for (auto &x : w)
		x = unitf() / DEC_IDX_HEADS;
	uint8_t *kd, *qd;
	float *wd, *sd;
	uint32_t *nd;
	CK(cudaMalloc(&kd, keys.size()));
	CK(cudaMalloc(&qd, q.size()));
	CK(cudaMalloc(&wd, w.size() * 4));
	CK(cudaMalloc(&sd, score.size() * 4));
	CK(cudaMalloc(&nd, 8));
	CK(cudaMemcpy(kd, keys.data(), keys.size(), cudaMemcpyHostToDevice));
	CK(cudaMemcpy(qd, q.data(), q.size(), cudaMemcpyHostToDevice));
	CK(cudaMemcpy(wd, w.data(), w.size() * 4, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(nd, ntok, 8, cudaMemcpyHostToDevice));
	CK(cudaMemset(sd, 0xff, score.size() * 4));	/* poison: NaN */
	tap_ok(dec_indexer(kd, qd, wd, nd, B, cap, sd, 0) == 0, "indexer launches");
	CK(cudaMemcpy(score.data(), sd, score.size() * 4, cudaMemcpyDeviceToHost));
	double worst = 0;
	int bad_tail = 0, unwritten = 0;
	for (uint32_t b = 0; b < B; b++)
		for (uint32_t t = 0; t < cap; t++) {
			const float got = score[(size_t)b * cap + t];
			if (t >= ntok[b]) {
				bad_tail += !(isinf(got) && got < 0);
				continue;
			}
			const uint8_t *k = &keys[((size_t)b * cap + t) * DEC_KEY];
			float ks;
			memcpy(&ks, k + DEC_IDX_DIM, 4);
			unwritten += !isfinite(got);
			double ref = 0, mag = 0;
			for (int h = 0; h < DEC_IDX_HEADS; h++) {
				double dot = 0, ad = 0;
				for (int d = 0; d < DEC_IDX_DIM; d++) {
					const double x = fp8(q[((size_t)b * DEC_IDX_HEADS + h) * DEC_IDX_DIM + d]) * fp8(k[d]);
					dot += x;
					ad += fabs(x);
				}
				ref += w[b * DEC_IDX_HEADS + h] * (dot > 0 ? dot : 0);
				mag += w[b * DEC_IDX_HEADS + h] * ad;
			}
			ref *= ks;
			mag *= ks;
			const double e = fabs(got - ref) / (mag + 1e-30);
			worst = e > worst ? e : worst;
		}
	/* fp32 accumulation of exact fp8 products: error ~ 1e-6 of the sum of |terms| */
	tap_ok(worst < 1e-4 && !unwritten, "indexer scores match the double reference (worst %.2e of the "
	       "magnitude, %d not finite)", worst, unwritten);
	tap_ok(bad_tail == 0, "indexer: tokens past ntok score -inf (%d wrong)", bad_tail);
	CK(cudaFree(kd));
	CK(cudaFree(qd));
	CK(cudaFree(wd));
	CK(cudaFree(sd));
	CK(cudaFree(nd));
}

/*
 * Batches 4, 40 and 140 run the top-k as clusters of 8, 4 and 1 blocks per
 * request.  Request b has ntok 5000, 3000, 1500 or 4000 (b % 4); those
 * with b % 4 == 3 have all scores equal (any k distinct tokens are right),
 * the others a random permutation of distinct values.
 */
static void test_topk(uint32_t B)
{
	const uint32_t cap = 5000, k = DEC_TOPK, pattern[4] = {5000, 3000, 1500, 4000};
	std::vector<uint32_t> ntok(B);
	std::vector<float> s((size_t)B * cap);
	for (uint32_t b = 0; b < B; b++) {
		ntok[b] = pattern[b % 4];
		std::vector<uint32_t> perm(cap);
		for (uint32_t i = 0; i < cap; i++)
			perm[i] = i;
		for (uint32_t i = cap - 1; i > 0; i--)
			std::swap(perm[i], perm[rng() % (i + 1)]);
		for (uint32_t i = 0; i < cap; i++)
			s[(size_t)b * cap + i] = b % 4 == 3 ? 1.5f : ((float)perm[i] - 2500.f) * 0.37f;
	}
	float *sd;
	uint32_t *nd;
	int32_t *id;
	CK(cudaMalloc(&sd, s.size() * 4));
	CK(cudaMalloc(&nd, B * 4));
	CK(cudaMalloc(&id, (size_t)B * k * 4));
	CK(cudaMemcpy(sd, s.data(), s.size() * 4, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(nd, ntok.data(), B * 4, cudaMemcpyHostToDevice));
	CK(cudaMemset(id, 0x55, (size_t)B * k * 4));
	tap_ok(dec_topk(sd, nd, B, cap, k, id, 0) == 0, "top-k launches (batch %u)", B);
	std::vector<int32_t> got((size_t)B * k);
	CK(cudaMemcpy(got.data(), id, got.size() * 4, cudaMemcpyDeviceToHost));
	uint32_t wrong = 0;
	for (uint32_t b = 0; b < B; b++) {
		const uint32_t want = ntok[b] < k ? ntok[b] : k;
		std::vector<int32_t> g(got.begin() + (size_t)b * k, got.begin() + (size_t)b * k + want);
		int pad_ok = 1;
		for (uint32_t j = want; j < k; j++)
			pad_ok &= got[(size_t)b * k + j] == -1;
		std::sort(g.begin(), g.end());
		int ok = pad_ok && std::adjacent_find(g.begin(), g.end()) == g.end() && g.front() >= 0 &&
			 g.back() < (int32_t)ntok[b];
		if (b % 4 != 3) {
			std::vector<int32_t> ref(ntok[b]);
			for (uint32_t i = 0; i < ntok[b]; i++)
				ref[i] = (int32_t)i;
			std::sort(ref.begin(), ref.end(), [&](int32_t x, int32_t y) {
				return s[(size_t)b * cap + x] > s[(size_t)b * cap + y];
			});
			ref.resize(want);
			std::sort(ref.begin(), ref.end());
			ok = ok && g == ref;
		}
		if (!ok && !wrong++)
			printf("# batch %u: request %u (ntok %u) wrong first\n", B, b, ntok[b]);
	}
	tap_ok(!wrong, "top-k batch %u: every request the right tokens (ntok 5000/3000/1500/4000, "
	       "ties, -1 padding), %u wrong", B, wrong);
	CK(cudaFree(sd));
	CK(cudaFree(nd));
	CK(cudaFree(id));
}

static void test_attn(uint32_t B, uint32_t k, uint32_t holes)
{
	const uint32_t cap = 3000;
	std::vector<uint8_t> rows((size_t)B * cap * DEC_ROW);
	std::vector<uint16_t> q((size_t)B * DEC_HEADS * DEC_QK);
	std::vector<int32_t> idx((size_t)B * k);
	for (size_t r = 0; r < (size_t)B * cap; r++) {
		uint8_t *row = &rows[r * DEC_ROW];
		rand_fp8(row, DEC_LATENT);
		for (int j = 0; j < 4; j++) {
			float s = 0.5f + unitf();
			memcpy(row + DEC_ROW_SCALES + 4 * j, &s, 4);
		}
		for (int d = 0; d < DEC_ROPE; d++) {
			uint16_t v = to_bf16(2.f * unitf() - 1.f);
			memcpy(row + DEC_ROW_ROPE + 2 * d, &v, 2);
		}
	}
	for (auto &x : q)
		x = to_bf16(2.f * unitf() - 1.f);
	for (uint32_t b = 0; b < B; b++) {
		std::vector<int32_t> perm(cap);
		for (uint32_t i = 0; i < cap; i++)
			perm[i] = (int32_t)i;
		for (uint32_t i = cap - 1; i > 0; i--)
			std::swap(perm[i], perm[rng() % (i + 1)]);
		for (uint32_t i = 0; i < k; i++)
			idx[(size_t)b * k + i] = perm[i];
		for (uint32_t h = 0; h < holes; h++)
			idx[(size_t)b * k + rng() % k] = -1;
	}
	uint8_t *rd;
	uint16_t *qd;
	int32_t *id;
	float *od;
	void *wk;
	CK(cudaMalloc(&rd, rows.size()));
	CK(cudaMalloc(&qd, q.size() * 2));
	CK(cudaMalloc(&id, idx.size() * 4));
	CK(cudaMalloc(&od, (size_t)B * DEC_HEADS * DEC_LATENT * 4));
	CK(cudaMalloc(&wk, dec_attn_work_bytes(B)));
	CK(cudaMemcpy(rd, rows.data(), rows.size(), cudaMemcpyHostToDevice));
	CK(cudaMemcpy(qd, q.data(), q.size() * 2, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(id, idx.data(), idx.size() * 4, cudaMemcpyHostToDevice));
	CK(cudaMemset(od, 0xff, (size_t)B * DEC_HEADS * DEC_LATENT * 4));	/* poison: NaN */
	CK(cudaMemset(wk, 0xff, dec_attn_work_bytes(B)));
	tap_ok(dec_attn(qd, rd, id, cap, B, k, od, wk, 0) == 0, "attention launches (batch %u, k %u)", B, k);
	std::vector<float> out((size_t)B * DEC_HEADS * DEC_LATENT);
	CK(cudaMemcpy(out.data(), od, out.size() * 4, cudaMemcpyDeviceToHost));
	double worst = 0, peak = 0, l2e = 0, l2r = 0;
	int nonfinite = 0;
	std::vector<double> sc(k), c((size_t)k * DEC_QK);
	for (uint32_t b = 0; b < B; b++) {
		for (uint32_t i = 0; i < k; i++) {
			const int32_t t = idx[(size_t)b * k + i];
			if (t < 0)
				continue;
			const uint8_t *row = &rows[((size_t)b * cap + t) * DEC_ROW];
			for (int d = 0; d < DEC_LATENT; d++) {
				float s;
				memcpy(&s, row + DEC_ROW_SCALES + 4 * (d / 128), 4);
				c[(size_t)i * DEC_QK + d] = fp8(row[d]) * s;
			}
			for (int d = 0; d < DEC_ROPE; d++) {
				uint16_t v;
				memcpy(&v, row + DEC_ROW_ROPE + 2 * d, 2);
				c[(size_t)i * DEC_QK + DEC_LATENT + d] = bf16(v);
			}
		}
		for (int h = 0; h < DEC_HEADS; h++) {
			const uint16_t *qh = &q[((size_t)b * DEC_HEADS + h) * DEC_QK];
			double mx = -INFINITY, sum = 0;
			for (uint32_t i = 0; i < k; i++) {
				if (idx[(size_t)b * k + i] < 0)
					continue;
				double dot = 0;
				for (int d = 0; d < DEC_QK; d++)
					dot += bf16(qh[d]) * c[(size_t)i * DEC_QK + d];
				sc[i] = dot / sqrt((double)DEC_QK);
				mx = sc[i] > mx ? sc[i] : mx;
			}
			for (uint32_t i = 0; i < k; i++)
				if (idx[(size_t)b * k + i] >= 0)
					sum += exp(sc[i] - mx);
			for (int d = 0; d < DEC_LATENT; d++) {
				double o = 0;
				for (uint32_t i = 0; i < k; i++)
					if (idx[(size_t)b * k + i] >= 0)
						o += exp(sc[i] - mx) / sum * c[(size_t)i * DEC_QK + d];
				const float got = out[((size_t)b * DEC_HEADS + h) * DEC_LATENT + d];
				const double e = fabs(o - got);
				nonfinite += !isfinite(got);
				worst = e > worst ? e : worst;
				l2e += e * e;
				l2r += o * o;
				peak = fabs(o) > peak ? fabs(o) : peak;
			}
		}
	}
	/* bf16 operands (8-bit mantissa) for q, the dequantised rows and P */
	const double rel = sqrt(l2e / (l2r + 1e-300));
	tap_ok(!nonfinite && rel < 1e-2 && worst <= 0.02 * peak + 1e-3,
	       "attention (batch %u, k %u, %u holes) matches the double reference: |err|/|ref| %.2e, "
	       "worst |err| %.3g, peak |out| %.3g, %d not finite", B, k, holes, rel, worst, peak, nonfinite);
	CK(cudaFree(rd));
	CK(cudaFree(qd));
	CK(cudaFree(id));
	CK(cudaFree(od));
	CK(cudaFree(wk));
}

static void test_args(void)
{
	int32_t *id;
	float *f;
	CK(cudaMalloc(&id, 4 * DEC_TOPK));
	CK(cudaMalloc(&f, 4 * DEC_TOPK));
	tap_ok(dec_topk(f, (uint32_t *)id, 1, 16, DEC_TOPK + 1, id, 0) == -EINVAL, "top-k: k > 2048 refused");
	tap_ok(dec_topk(f, (uint32_t *)id, 0, 16, 8, id, 0) == -EINVAL, "top-k: batch 0 refused");
	tap_ok(dec_topk(f, (uint32_t *)id, 1, 18, 8, id, 0) == -EINVAL, "top-k: cap not a multiple of 4 refused");
	tap_ok(dec_indexer(NULL, NULL, f, (uint32_t *)id, 1, 16, f, 0) == -EINVAL, "indexer: NULL keys refused");
	tap_ok(dec_indexer((uint8_t *)f, (uint8_t *)f, f, (uint32_t *)id, 1, 18, f, 0) == -EINVAL,
	       "indexer: cap not a multiple of 4 refused");
	tap_ok(dec_attn(NULL, (uint8_t *)f, id, 0, 1, 8, f, f, 0) == -EINVAL, "attention: NULL q refused");
	tap_ok(dec_attn((uint16_t *)f, (uint8_t *)f, id, 0, 1, 0, f, f, 0) == -EINVAL, "attention: k 0 refused");
	tap_ok(dec_fill_rows((uint8_t *)f, NULL, 0, 1, 16, 17, 0) == -EINVAL, "fill: n > cap refused");
	tap_ok(dec_spin(10, 0, 0) == -EINVAL, "spin: 0 blocks refused");
	CK(cudaFree(id));
	CK(cudaFree(f));
}

int main(void)
{
	tap_need_device();
	rng_seed();
	printf("1..23\n");
	test_indexer();			/* 3 */
	test_topk(4);			/* 2 */
	test_topk(40);			/* 2 */
	test_topk(140);			/* 2 */
	test_attn(2, DEC_TOPK, 0);	/* 2 */
	test_attn(1, 256, 40);		/* 2 */
	test_args();			/* 9 */
	CK(cudaDeviceSynchronize());
	tap_ok(cudaGetLastError() == cudaSuccess, "no CUDA error left");
	return tap_fail ? 1 : 0;
}
