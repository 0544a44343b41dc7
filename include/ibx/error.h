/* Error reporting: every fallible ibx function returns an ibx_status code and
 * records a one-line message in thread-local storage. Nothing deep inside the
 * library prints; the CLI (or a test) decides what to show. */
#ifndef IBX_ERROR_H
#define IBX_ERROR_H

typedef enum {
  IBX_OK = 0,
  IBX_ERR_ARG,      /* bad argument or configuration value */
  IBX_ERR_SHAPE,    /* tensor shapes do not match what the operation needs */
  IBX_ERR_NOMEM,    /* allocation failed */
  IBX_ERR_IO,       /* file missing, unreadable or unwritable */
  IBX_ERR_FORMAT,   /* file exists but its contents are wrong or truncated */
  IBX_ERR_NUMERIC,  /* NaN/inf or another numerical failure */
  IBX_ERR_MPI,      /* a distributed operation failed */
  IBX_ERR_COUNT
} ibx_status;

/* Records the message (printf-style) for the calling thread and returns code,
 * so a failure site reads: return ibx_fail(IBX_ERR_SHAPE, "conv2d: ...");  */
int ibx_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The last message recorded on this thread ("" when none). */
const char *ibx_errmsg(void);

/* A short stable name for a code ("shape", "nomem", ...). */
const char *ibx_errname(int code);

/* Clears the recorded message. */
void ibx_clear_error(void);

/* Propagate a non-OK status to the caller. */
#define IBX_TRY(expr)          \
  do {                         \
    int ibx_try_rc_ = (expr);  \
    if (ibx_try_rc_ != IBX_OK) \
      return ibx_try_rc_;      \
  } while (0)

#endif
