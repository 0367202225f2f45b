/* SPDX-License-Identifier: MIT */
/*
 * TAP helpers for the GPU tests: plan, ok(), CUDA call checks, the skip
 * when no CUDA device is present, and a seeded random generator (the seed
 * is printed so a failure can be replayed with ESS_SEED).
 */
#ifndef ESS_GPU_TAP_H
#define ESS_GPU_TAP_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cuda_runtime.h>

static int tap_n, tap_fail;

static void tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	if (!cond)
		tap_fail++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* A CUDA call that must succeed; a failure is a failed test and ends the
 * program (the plan then does not match). */
#define CK(call)                                                             \
	do {                                                                 \
		cudaError_t ck_e = (call);                                   \
		if (ck_e != cudaSuccess) {                                   \
			tap_ok(0, "%s: %s (%s:%d)", #call,                   \
			       cudaGetErrorString(ck_e), __FILE__, __LINE__); \
			exit(1);                                             \
		}                                                            \
	} while (0)

/* Print the skip plan and exit 0 when there is no usable device. */
static void tap_need_device(void)
{
	int n = 0;
	if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
		printf("1..0 # SKIP no CUDA device\n");
		exit(0);
	}
}

static uint64_t rng_state;

static void rng_seed(void)
{
	const char *s = getenv("ESS_SEED");
	rng_state = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) * 2654435761u + 1;
	if (!rng_state)
		rng_state = 1;
	printf("# seed %llu (ESS_SEED to replay)\n", (unsigned long long)rng_state);
}

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static void fill_random(void *p, size_t n)
{
	uint64_t *q = (uint64_t *)p;
	size_t i;
	for (i = 0; i < n / 8; i++)
		q[i] = rng();
	for (i = n / 8 * 8; i < n; i++)
		((unsigned char *)p)[i] = (unsigned char)rng();
}

#endif /* ESS_GPU_TAP_H */
