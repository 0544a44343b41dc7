/* Thread-local last-error message (see include/ibx/error.h). */
#include "ibx/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_message[512];

int ibx_fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_message, sizeof last_message, fmt, ap);
  va_end(ap);
  return code;
}

const char *ibx_errmsg(void) { return last_message; }

void ibx_clear_error(void) { last_message[0] = '\0'; }

const char *ibx_errname(int code) {
  static const char *names[IBX_ERR_COUNT] = {"ok",     "argument", "shape",   "nomem",
                                             "io",     "format",   "numeric", "mpi"};
  return (code >= 0 && code < IBX_ERR_COUNT) ? names[code] : "unknown";
}
