/* ibx-udpping: UDP round-trip times between two hosts (here: two network
 * namespaces of tests/support/vcluster.sh), for measuring what
 * ibx-netdelay adds (docs/performance.md, issue 14).
 *
 *   ibx-udpping serve ADDR PORT                 echo every datagram back
 *   ibx-udpping ping ADDR PORT COUNT INTERVAL_US
 *       sends COUNT 64-byte datagrams, one every INTERVAL_US microseconds
 *       after the previous reply, and prints one line:
 *       rtt_us n=... lost=... min=... p50=... p90=... p99=... max=... mean=...
 *       A reply not back within 1 s counts as lost.
 * Exit status: 0, or 1 with a one-line error (or when every ping was lost).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int addr_of(const char *host, const char *port, struct sockaddr_in *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  char *end;
  long p = strtol(port, &end, 10);
  if (*end || p < 1 || p > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
    fprintf(stderr, "ibx-udpping: '%s:%s' is not an IPv4 address and port\n", host, port);
    return -1;
  }
  sa->sin_port = htons((uint16_t)p);
  return 0;
}

static int serve(const struct sockaddr_in *sa) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0 || bind(fd, (const struct sockaddr *)sa, sizeof *sa) < 0) {
    fprintf(stderr, "ibx-udpping: cannot bind: %s\n", strerror(errno));
    return 1;
  }
  char buf[2048];
  for (;;) {
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "ibx-udpping: recv: %s\n", strerror(errno));
      return 1;
    }
    sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
  }
}

static int ping(const struct sockaddr_in *sa, long count, long interval_us) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof *sa) < 0) {
    fprintf(stderr, "ibx-udpping: cannot connect: %s\n", strerror(errno));
    return 1;
  }
  double *rtt = calloc((size_t)count, sizeof *rtt);
  if (!rtt) return 1;
  long got = 0, lost = 0;
  for (long seq = 0; seq < count; seq++) {
    char msg[64] = {0}, reply[2048];
    memcpy(msg, &seq, sizeof seq);
    int64_t t0 = now_ns();
    if (send(fd, msg, sizeof msg, 0) < 0) {
      lost++; /* e.g. ECONNREFUSED of an earlier datagram: the server is not up yet */
      usleep(1000);
      continue;
    }
    for (;;) {
      int64_t left = t0 + 1000000000 - now_ns();
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (left <= 0 || poll(&p, 1, (int)(left / 1000000) + 1) <= 0) {
        lost++;
        break;
      }
      ssize_t n = recv(fd, reply, sizeof reply, 0);
      long back;
      if (n < (ssize_t)sizeof back) continue;
      memcpy(&back, reply, sizeof back);
      if (back != seq) continue; /* a late reply to an earlier ping */
      rtt[got++] = (double)(now_ns() - t0) / 1e3;
      break;
    }
    if (interval_us > 0) usleep((useconds_t)interval_us);
  }
  if (got == 0) {
    fprintf(stderr, "ibx-udpping: no reply to any of %ld pings\n", count);
    return 1;
  }
  double sum = 0;
  for (long i = 0; i < got; i++) sum += rtt[i];
  qsort(rtt, (size_t)got, sizeof *rtt, cmp_double);
#define PCT(p) rtt[(long)((p) / 100.0 * (double)(got - 1) + 0.5)]
  printf("rtt_us n=%ld lost=%ld min=%.1f p50=%.1f p90=%.1f p99=%.1f max=%.1f mean=%.1f\n", got,
         lost, rtt[0], PCT(50), PCT(90), PCT(99), rtt[got - 1], sum / (double)got);
  free(rtt);
  return 0;
}

int main(int argc, char **argv) {
  struct sockaddr_in sa;
  if (argc == 4 && strcmp(argv[1], "serve") == 0) {
    if (addr_of(argv[2], argv[3], &sa)) return 1;
    return serve(&sa);
  }
  if (argc == 6 && strcmp(argv[1], "ping") == 0) {
    long count = strtol(argv[4], NULL, 10), interval = strtol(argv[5], NULL, 10);
    if (addr_of(argv[2], argv[3], &sa)) return 1;
    if (count < 1 || count > 1000000 || interval < 0) {
      fprintf(stderr, "ibx-udpping: COUNT must be 1..1000000 and INTERVAL_US >= 0\n");
      return 1;
    }
    return ping(&sa, count, interval);
  }
  fprintf(stderr, "usage: ibx-udpping serve ADDR PORT | ibx-udpping ping ADDR PORT COUNT INTERVAL_US\n");
  return 2;
}
