/* SPDX-License-Identifier: MIT */
/*
 * TAP output for the unit tests, shared by every area's test helpers.
 *
 * A program either prints its plan first (tap_plan) or lets tap_done()
 * print it at the end from the results counted so far; either way
 * tests/tap-run.sh checks the count, and a crash fails the program through
 * its exit status.  ok/diag/done are short names of tap_ok/tap_diag/
 * tap_done.  Only libc, so tests also build statically for the QEMU guest.
 */
#ifndef ESS_TESTS_TAP_H
#define ESS_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed, tap_planned;

static inline void tap_plan(int n)
{
	printf("1..%d\n", n);
	fflush(stdout);
	tap_planned = 1;
}

static inline int tap_vok(int cond, const char *fmt, va_list ap)
{
	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

static inline void tap_vdiag(const char *fmt, va_list ap)
{
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
}

__attribute__((format(printf, 2, 3)))
static inline int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cond = tap_vok(cond, fmt, ap);
	va_end(ap);
	return cond;
}

__attribute__((format(printf, 2, 3)))
static inline int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cond = tap_vok(cond, fmt, ap);
	va_end(ap);
	return cond;
}

__attribute__((format(printf, 1, 2)))
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vdiag(fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 1, 2)))
static inline void diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vdiag(fmt, ap);
	va_end(ap);
}

/* The whole program is skipped: a plan of 0 with the reason. */
static inline void tap_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	fflush(stdout);
	exit(0);
}

/* The exit status; prints the plan if the program did not. */
static inline int tap_done(void)
{
	if (!tap_planned) {
		printf("1..%d\n", tap_n);
		fflush(stdout);
	}
	return tap_failed ? 1 : 0;
}

static inline int done(void)
{
	return tap_done();
}

/* Fail hard (Bail out!) when a test's fixture itself cannot be built:
 * x is a call that returns 0 on success. */
#define MUST(x) do { long r_ = (long)(x); if (r_) { \
	printf("Bail out! %s = %ld at %s:%d\n", #x, r_, __FILE__, __LINE__); \
	exit(1); } } while (0)

#endif /* ESS_TESTS_TAP_H */
