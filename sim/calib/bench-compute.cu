/* SPDX-License-Identifier: MIT */
/*
 * sim-bench-compute: measures, on the GPU it runs on, the two constants the
 * simulator's roofline uses for everything but transfers:
 *   - HBM streaming read bandwidth (hw.hbm_bw x hw.hbm_eff), and
 *   - FP8 and BF16 GEMM time at DeepSeek-V3.2-Exp decode shapes (weights
 *     [K x M], tokens N), with weights rotated over enough copies that they
 *     come from HBM, not L2, as they do in a decode step.
 * Prints CSV on stdout (one row per measurement, median of reps); the rows
 * are copied into sim/calibration/ with the card and date.
 *
 *   sim-bench-compute [reps (7)]
 */
#include <algorithm>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <vector>

#include <cublasLt.h>
#include <cuda_runtime.h>

#define CK(x)                                                                  \
	do {                                                                   \
		cudaError_t e_ = (x);                                          \
		if (e_ != cudaSuccess) {                                       \
			fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__,  \
				#x, cudaGetErrorString(e_));                   \
			exit(1);                                               \
		}                                                              \
	} while (0)
#define CB(x)                                                                  \
	do {                                                                   \
		cublasStatus_t s_ = (x);                                       \
		if (s_ != CUBLAS_STATUS_SUCCESS) {                             \
			fprintf(stderr, "%s:%d %s: cublas status %d\n",        \
				__FILE__, __LINE__, #x, (int)s_);              \
			exit(1);                                               \
		}                                                              \
	} while (0)

static int reps = 7;
static cudaEvent_t ev0, ev1;

/* Median over reps of the mean time of `inner` calls of f (ms). */
template <typename F> static double median_ms(int inner, F f)
{
	std::vector<float> v;

	for (int i = 0; i < inner; i++)
		f(i);	/* warm-up */
	CK(cudaDeviceSynchronize());
	for (int r = 0; r < reps; r++) {
		float ms;

		CK(cudaEventRecord(ev0));
		for (int i = 0; i < inner; i++)
			f(i);
		CK(cudaEventRecord(ev1));
		CK(cudaEventSynchronize(ev1));
		CK(cudaEventElapsedTime(&ms, ev0, ev1));
		v.push_back(ms / inner);
	}
	std::sort(v.begin(), v.end());
	return v[v.size() / 2];
}

__global__ void read_kernel(const uint4 *p, size_t n, unsigned long long *sink)
{
	uint32_t acc = 0;

	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x) {
		uint4 v = p[i];

		acc ^= v.x ^ v.y ^ v.z ^ v.w;
	}
	if (acc == 0x9e3779b9u)	/* practically never: keeps the loads */
		atomicAdd(sink, 1ull);
}

static void hbm_read(int sms)
{
	size_t bytes = 4ull << 30;
	uint4 *p;
	unsigned long long *sink;

	CK(cudaMalloc(&p, bytes));
	CK(cudaMalloc(&sink, sizeof(*sink)));
	CK(cudaMemset(p, 1, bytes));
	double ms = median_ms(3, [&](int) {
		read_kernel<<<sms * 8, 512>>>(p, bytes / sizeof(uint4), sink);
	});
	CK(cudaGetLastError());
	printf("hbm_read,,%zu,0,0,%.6f,%zu,0\n", bytes, ms, bytes);
	CK(cudaFree(p));
	CK(cudaFree(sink));
}

/* D[M x N] = W^T[M x K] X[K x N]: weights "TN" as FP8 GEMMs require. */
static void gemm(cublasLtHandle_t h, bool fp8, int K, int M, int N,
		 const char *what, void *ws, size_t wsz)
{
	cudaDataType_t ab = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
	size_t es = fp8 ? 1 : 2, wbytes = (size_t)K * M * es;
	/* enough weight copies to exceed L2 several times over */
	int copies = (int)std::max<size_t>(1, (512ull << 20) / wbytes + 1);
	std::vector<void *> W(copies);
	void *X, *D;
	cublasLtMatmulDesc_t op;
	cublasLtMatrixLayout_t Ad, Bd, Dd;
	cublasLtMatmulPreference_t pref;
	cublasLtMatmulHeuristicResult_t res;
	cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
	float alpha = 1, beta = 0;
	int found = 0;

	for (auto &w : W) {
		CK(cudaMalloc(&w, wbytes));
		CK(cudaMemset(w, 0x30, wbytes));	/* small finite values */
	}
	CK(cudaMalloc(&X, (size_t)K * N * es));
	CK(cudaMemset(X, 0x30, (size_t)K * N * es));
	CK(cudaMalloc(&D, (size_t)M * N * 2));
	CB(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
	CB(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
	CB(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
	CB(cublasLtMatrixLayoutCreate(&Ad, ab, K, M, K));
	CB(cublasLtMatrixLayoutCreate(&Bd, ab, K, N, K));
	CB(cublasLtMatrixLayoutCreate(&Dd, CUDA_R_16BF, M, N, M));
	CB(cublasLtMatmulPreferenceCreate(&pref));
	CB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
						&wsz, sizeof(wsz)));
	CB(cublasLtMatmulAlgoGetHeuristic(h, op, Ad, Bd, Dd, Dd, pref, 1, &res, &found));
	if (!found) {
		fprintf(stderr, "no algorithm for %s %s K=%d M=%d N=%d\n",
			fp8 ? "fp8" : "bf16", what, K, M, N);
	} else {
		double ms = median_ms(copies < 16 ? 16 : copies, [&](int i) {
			CB(cublasLtMatmul(h, op, &alpha, W[i % copies], Ad, X, Bd, &beta,
					  D, Dd, D, Dd, &res.algo, ws, wsz, 0));
		});
		printf("gemm_%s,%s,%d,%d,%d,%.6f,%zu,%.0f\n", fp8 ? "fp8" : "bf16", what,
		       K, M, N, ms, wbytes, 2.0 * K * M * N);
	}
	cublasLtMatmulPreferenceDestroy(pref);
	cublasLtMatrixLayoutDestroy(Ad);
	cublasLtMatrixLayoutDestroy(Bd);
	cublasLtMatrixLayoutDestroy(Dd);
	cublasLtMatmulDescDestroy(op);
	for (auto w : W)
		CK(cudaFree(w));
	CK(cudaFree(X));
	CK(cudaFree(D));
}

int main(int argc, char **argv)
{
	struct { const char *what; int K, M; } shapes[] = {
		{ "q_a+kv_a", 7168, 2112 },	/* 1536 + 576 */
		{ "q_b", 1536, 24576 },		/* 128 x 192 */
		{ "o_proj", 16384, 7168 },	/* 128 x 128 -> hidden */
		{ "expert_gate_up", 7168, 4096 },
		{ "expert_down", 2048, 7168 },
		{ "dense_gate_up", 7168, 36864 },
	};
	int tokens[] = { 16, 64, 128, 256, 512, 1024 };
	cudaDeviceProp prop;
	cublasLtHandle_t h;
	size_t wsz = 64ull << 20;
	void *ws;

	if (argc > 1)
		reps = atoi(argv[1]) > 0 ? atoi(argv[1]) : 7;
	CK(cudaGetDeviceProperties(&prop, 0));
	fprintf(stderr, "device %s, %d SMs, %.1f GiB\n", prop.name, prop.multiProcessorCount,
		prop.totalGlobalMem / 1073741824.0);
	CK(cudaEventCreate(&ev0));
	CK(cudaEventCreate(&ev1));
	CK(cudaMalloc(&ws, wsz));
	CB(cublasLtCreate(&h));
	printf("# device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
	printf("kind,shape,K,M,N,ms,bytes,flops\n");
	hbm_read(prop.multiProcessorCount);
	for (int fp8 = 1; fp8 >= 0; fp8--)
		for (auto &s : shapes)
			for (int n : tokens)
				gemm(h, fp8, s.K, s.M, n, s.what, ws, wsz);
	cublasLtDestroy(h);
	return 0;
}
