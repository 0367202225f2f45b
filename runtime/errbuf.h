/* SPDX-License-Identifier: MIT */
/*
 * Writing a message into a caller's (err, errlen) buffer, the convention of
 * the functions of include/ess/trace.h, the simulator's profile parser and
 * the decode benchmark's sides: either may be NULL/0 to ask for no message.
 */
#ifndef ESS_RUNTIME_ERRBUF_H
#define ESS_RUNTIME_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

__attribute__((format(printf, 3, 4)))
static inline void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

#endif /* ESS_RUNTIME_ERRBUF_H */
