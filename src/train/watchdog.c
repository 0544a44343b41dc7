/* The trainer's watchdog (see watchdog.h). */
#include "watchdog.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ibx/error.h"
#include "run_dir.h"

struct ibx_watchdog {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int stopping;
  double timeout;
  atomic_llong last_beat_ms;
  const char *run_dir;
  int rank;
  void (*on_stall)(const char *message);
};

static long long monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stall(ibx_watchdog *w, double idle) {
  char msg[512], state[600];
  snprintf(msg, sizeof msg,
           "rank %d: no training progress for %.0f s (train.watchdog_s = %g): another rank "
           "died or hangs, or this one is stuck in a collective", w->rank, idle, w->timeout);
  snprintf(state, sizeof state, "failed: %s", msg);
  if (w->run_dir)
    ibx_run_dir_set_state(w->run_dir, state);
  if (w->on_stall)
    w->on_stall(msg);
  _exit(1);
}

static void *watch(void *arg) {
  ibx_watchdog *w = arg;
  /* wake up often enough that the bound is timeout + ~1/4 of it */
  const double period = w->timeout / 4 < 1.0 ? w->timeout / 4 : 1.0;
  pthread_mutex_lock(&w->lock);
  while (!w->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    const long long ns = until.tv_nsec + (long long)(period * 1e9);
    until.tv_sec += (time_t)(ns / 1000000000), until.tv_nsec = (long)(ns % 1000000000);
    pthread_cond_timedwait(&w->wake, &w->lock, &until);
    const double idle = (double)(monotonic_ms() - atomic_load(&w->last_beat_ms)) / 1000.0;
    if (!w->stopping && idle > w->timeout)
      stall(w, idle);
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

int ibx_watchdog_start(double timeout_s, const char *run_dir, int rank,
                       void (*on_stall)(const char *message), ibx_watchdog **out) {
  *out = NULL;
  if (timeout_s <= 0)
    return IBX_OK;
  ibx_watchdog *w = calloc(1, sizeof *w);
  if (!w)
    return ibx_fail(IBX_ERR_NOMEM, "watchdog: out of memory");
  w->timeout = timeout_s, w->run_dir = run_dir, w->rank = rank, w->on_stall = on_stall;
  atomic_store(&w->last_beat_ms, monotonic_ms());
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&w->wake, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&w->lock, NULL);
  /* the thread blocks every signal: SIGUSR1/SIGTERM stay with the main thread */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const int rc = pthread_create(&w->thread, NULL, watch, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc) {
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return ibx_fail(IBX_ERR_NOMEM, "watchdog: cannot start its thread");
  }
  *out = w;
  return IBX_OK;
}

void ibx_watchdog_beat(ibx_watchdog *w) {
  if (w)
    atomic_store(&w->last_beat_ms, monotonic_ms());
}

void ibx_watchdog_stop(ibx_watchdog *w) {
  if (!w)
    return;
  pthread_mutex_lock(&w->lock);
  w->stopping = 1;
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
  pthread_cond_destroy(&w->wake);
  pthread_mutex_destroy(&w->lock);
  free(w);
}
