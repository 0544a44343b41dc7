/* ibx-netdelay: a constant one-way delay for the outgoing packets of one
 * network namespace, for kernels without the netem qdisc (the virtual cluster
 * of tests/support/vcluster.sh; docs/performance.md, issue 14).
 *
 *   ibx-netdelay --delay 20us --dev vc0 --to 10.214.14.12 [--to ADDR ...]
 *                [--queue 0] [--maxlen 16384] [--fail-open] [--spin-us 0]
 *                [--pidfile FILE] [--iptables iptables]
 *
 * How: an iptables rule (its own chain IBXDELAY<queue>, jumped to from
 * OUTPUT) sends every packet leaving DEV for one of the --to addresses to
 * NFQUEUE <queue> (with --queue-bypass: while no daemon listens, packets pass
 * undelayed instead of being dropped). The daemon receives each packet's
 * metadata only (no payload; GSO packets whole), notes its arrival on
 * CLOCK_MONOTONIC and holds it until arrival + delay, then accepts it. With
 * one constant delay the release times are in arrival order, so the
 * time-ordered queue is a FIFO and nothing is ever reordered; the verdicts
 * are batch verdicts ("accept every packet up to id N"), which the kernel
 * applies in queue order. The packet itself stays in the kernel meanwhile.
 *
 * Overflow: the kernel queue holds at most --maxlen packets; a packet that
 * finds it full is dropped (TCP retransmits it; nothing is reordered), or,
 * with --fail-open, accepted at once (undelayed: it may overtake held packets
 * of its flow). Both are counted by the kernel and logged at exit (the
 * queue_dropped column of /proc/net/netfilter/nfnetlink_queue). A packet
 * whose notification the socket had to drop (ENOBUFS) is released with the
 * next batch verdict, in order.
 *
 * Timing: the wait is ppoll() with a 1 ns timer slack; --spin-us N busy-waits
 * the last N microseconds (costs a core; off by default). What the delay adds
 * beyond DELAY is the NFQUEUE round trip through user space plus the wake-up
 * latency of this process (measured in docs/performance.md).
 *
 * SIGTERM / SIGINT: remove the rules, accept every held packet, unbind, log
 * the counters, remove the pid file, exit 0. The pid file is written once the
 * queue is bound and the rules are in place (ready).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_DEST 16

struct options {
  int64_t delay_ns;
  const char *dev;
  const char *dest[MAX_DEST];
  int n_dest;
  unsigned queue;
  unsigned maxlen;
  int fail_open;
  int64_t spin_ns;
  const char *pidfile;
  const char *iptables;
};

struct held {
  uint32_t id;
  int64_t due_ns;
};

struct fifo {
  struct held *slot;
  size_t cap, head, len;
};

struct state {
  struct fifo q;
  int64_t delay_ns;
  uint64_t packets, overflow_user, max_held;
  uint32_t last_id;
  int have_id;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void logmsg(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "ibx-netdelay: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* "20us", "1ms", "1.5ms", "500ns", "0.001s"; a bare number is microseconds */
static int parse_duration_ns(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || v < 0) return -1;
  double scale = 1e3;
  if (*end == 0 || strcmp(end, "us") == 0) scale = 1e3;
  else if (strcmp(end, "ns") == 0) scale = 1;
  else if (strcmp(end, "ms") == 0) scale = 1e6;
  else if (strcmp(end, "s") == 0) scale = 1e9;
  else return -1;
  if (v * scale > 60e9) return -1;
  *out = (int64_t)(v * scale + 0.5);
  return 0;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = (unsigned)v;
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: ibx-netdelay --delay DURATION --dev IFACE --to ADDR [--to ADDR ...]\n"
          "                    [--queue N] [--maxlen N] [--fail-open] [--spin-us N]\n"
          "                    [--pidfile FILE] [--iptables CMD]\n"
          "  DURATION: 20us, 1ms, 500ns, 0.001s (a bare number: microseconds)\n");
}

static int parse_args(int argc, char **argv, struct options *o) {
  memset(o, 0, sizeof *o);
  o->delay_ns = -1;
  o->maxlen = 16384;
  o->iptables = "iptables";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int takes = 1;
    if (strcmp(a, "--fail-open") == 0) {
      o->fail_open = 1;
      takes = 0;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage();
      exit(0);
    } else if (!v) {
      logmsg("%s: missing value (or unknown option)", a);
      return -1;
    } else if (strcmp(a, "--delay") == 0) {
      if (parse_duration_ns(v, &o->delay_ns)) {
        logmsg("--delay '%s': not a duration of 0..60 s (20us, 1ms, 500ns)", v);
        return -1;
      }
    } else if (strcmp(a, "--dev") == 0) {
      o->dev = v;
    } else if (strcmp(a, "--to") == 0) {
      struct in_addr ia;
      if (inet_pton(AF_INET, v, &ia) != 1) {
        logmsg("--to '%s': not an IPv4 address", v);
        return -1;
      }
      if (o->n_dest == MAX_DEST) {
        logmsg("--to: at most %d addresses", MAX_DEST);
        return -1;
      }
      o->dest[o->n_dest++] = v;
    } else if (strcmp(a, "--queue") == 0) {
      if (parse_uint(v, 0, 65535, &o->queue)) {
        logmsg("--queue '%s': not 0..65535", v);
        return -1;
      }
    } else if (strcmp(a, "--maxlen") == 0) {
      if (parse_uint(v, 16, 1u << 20, &o->maxlen)) {
        logmsg("--maxlen '%s': not 16..1048576", v);
        return -1;
      }
    } else if (strcmp(a, "--spin-us") == 0) {
      unsigned us;
      if (parse_uint(v, 0, 100000, &us)) {
        logmsg("--spin-us '%s': not 0..100000", v);
        return -1;
      }
      o->spin_ns = (int64_t)us * 1000;
    } else if (strcmp(a, "--pidfile") == 0) {
      o->pidfile = v;
    } else if (strcmp(a, "--iptables") == 0) {
      o->iptables = v;
    } else {
      logmsg("unknown option '%s'", a);
      return -1;
    }
    i += takes;
  }
  if (o->delay_ns < 0 || !o->dev || o->n_dest == 0) {
    logmsg("--delay, --dev and at least one --to are required");
    return -1;
  }
  return 0;
}

/* Runs `iptables -w ARGS...`; returns its exit status (or -1). */
static int run_iptables(const struct options *o, int quiet, const char *const *args) {
  const char *argv[24];
  int n = 0;
  argv[n++] = o->iptables;
  argv[n++] = "-w";
  for (int i = 0; args[i] && n < 23; i++) argv[n++] = args[i];
  argv[n] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (quiet) posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawnp(&pid, o->iptables, &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc) {
    logmsg("cannot run %s: %s", o->iptables, strerror(rc));
    return -1;
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void chain_name(const struct options *o, char *buf, size_t n) {
  snprintf(buf, n, "IBXDELAY%u", o->queue);
}

static void remove_rules(const struct options *o) {
  char chain[32];
  chain_name(o, chain, sizeof chain);
  /* the jump may be there more than once after a crashed daemon */
  for (int i = 0; i < 8; i++)
    if (run_iptables(o, 1, (const char *const[]){"-D", "OUTPUT", "-j", chain, NULL}) != 0) break;
  run_iptables(o, 1, (const char *const[]){"-F", chain, NULL});
  run_iptables(o, 1, (const char *const[]){"-X", chain, NULL});
}

static int install_rules(const struct options *o) {
  char chain[32], qnum[16];
  chain_name(o, chain, sizeof chain);
  snprintf(qnum, sizeof qnum, "%u", o->queue);
  remove_rules(o); /* left over by a daemon that was killed */
  if (run_iptables(o, 0, (const char *const[]){"-N", chain, NULL}) != 0) return -1;
  for (int i = 0; i < o->n_dest; i++) {
    const char *const r[] = {"-A", chain, "-o", o->dev, "-d", o->dest[i], "-j", "NFQUEUE",
                             "--queue-num", qnum, "--queue-bypass", NULL};
    if (run_iptables(o, 0, r) != 0) return -1;
  }
  if (run_iptables(o, 0, (const char *const[]){"-I", "OUTPUT", "1", "-j", chain, NULL}) != 0)
    return -1;
  return 0;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
                     void *data) {
  (void)qh;
  (void)msg;
  struct state *s = data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  if (!ph) return 0;
  uint32_t id = ntohl(ph->packet_id);
  s->packets++;
  s->last_id = id;
  s->have_id = 1;
  if (s->q.len == s->q.cap) {
    /* cannot happen while cap >= the kernel's maxlen; if it does, this packet
     * goes out with the next verdict (in order, early) */
    s->overflow_user++;
    return 0;
  }
  struct held *h = &s->q.slot[(s->q.head + s->q.len) % s->q.cap];
  h->id = id;
  h->due_ns = now_ns() + s->delay_ns;
  s->q.len++;
  if (s->q.len > s->max_held) s->max_held = s->q.len;
  return 0;
}

/* Accepts every held packet due by `now` (all of them if now < 0). */
static int release_due(struct nfq_q_handle *qh, struct state *s, int64_t now) {
  int have = 0;
  uint32_t last = 0;
  while (s->q.len > 0) {
    struct held *h = &s->q.slot[s->q.head];
    if (now >= 0 && h->due_ns > now) break;
    last = h->id;
    have = 1;
    s->q.head = (s->q.head + 1) % s->q.cap;
    s->q.len--;
  }
  if (now < 0 && s->have_id) {
    last = s->last_id;
    have = 1;
  }
  if (have && nfq_set_verdict_batch(qh, last, NF_ACCEPT) < 0) {
    logmsg("verdict for packets up to id %u failed: %s", last, strerror(errno));
    return -1;
  }
  return 0;
}

static void log_kernel_counters(unsigned queue, int fail_open) {
  FILE *f = fopen("/proc/net/netfilter/nfnetlink_queue", "r");
  if (!f) return;
  unsigned q, portid, total, mode, range, qdrop, udrop, seq, one;
  while (fscanf(f, "%u %u %u %u %u %u %u %u %u", &q, &portid, &total, &mode, &range, &qdrop,
                &udrop, &seq, &one) == 9)
    if (q == queue)
      logmsg("kernel queue %u: %u packets queued in all, %u overflowed the queue (%s), "
             "%u lost to the netlink socket, %u still queued",
             q, seq, qdrop, fail_open ? "accepted undelayed" : "dropped", udrop, total);
  fclose(f);
}

static int write_pidfile(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  fprintf(f, "%ld\n", (long)getpid());
  if (fclose(f) != 0) return -1;
  return rename(tmp, path);
}

int main(int argc, char **argv) {
  struct options o;
  if (parse_args(argc, argv, &o)) {
    usage();
    return 2;
  }
  /* SIGTERM/SIGINT are delivered only inside ppoll() (no lost wake-up) */
  sigset_t block, waitmask;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGHUP);
  sigprocmask(SIG_BLOCK, &block, &waitmask);
  sigdelset(&waitmask, SIGTERM);
  sigdelset(&waitmask, SIGINT);
  sigdelset(&waitmask, SIGHUP);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

  struct state s;
  memset(&s, 0, sizeof s);
  s.delay_ns = o.delay_ns;
  s.q.cap = o.maxlen;
  s.q.slot = calloc(s.q.cap, sizeof *s.q.slot);
  if (!s.q.slot) {
    logmsg("out of memory for %u packets", o.maxlen);
    return 1;
  }
  struct nfq_handle *h = nfq_open();
  if (!h) {
    logmsg("cannot open the netfilter queue interface: %s (root? CONFIG_NETFILTER_NETLINK_QUEUE?)",
           strerror(errno));
    return 1;
  }
  struct nfq_q_handle *qh = nfq_create_queue(h, o.queue, on_packet, &s);
  if (!qh) {
    logmsg("cannot bind queue %u: %s (another daemon on it?)", o.queue, strerror(errno));
    nfq_close(h);
    return 1;
  }
  uint32_t flags = NFQA_CFG_F_GSO | (o.fail_open ? NFQA_CFG_F_FAIL_OPEN : 0);
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(qh, o.maxlen) < 0 ||
      nfq_set_queue_flags(qh, NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN, flags) < 0) {
    logmsg("cannot configure queue %u: %s", o.queue, strerror(errno));
    nfq_destroy_queue(qh);
    nfq_close(h);
    return 1;
  }
  int fd = nfq_fd(h);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 4u << 20);
  if (install_rules(&o)) {
    logmsg("cannot install the iptables rules (%s; CONFIG_NETFILTER_XT_TARGET_NFQUEUE?)",
           o.iptables);
    remove_rules(&o);
    nfq_destroy_queue(qh);
    nfq_close(h);
    return 1;
  }
  int rc = 0;
  if (o.pidfile && write_pidfile(o.pidfile)) {
    logmsg("cannot write %s: %s", o.pidfile, strerror(errno));
    g_stop = 1;
    rc = 1;
  }
  logmsg("queue %u: delaying packets out of %s to %d address(es) by %.3f us%s", o.queue, o.dev,
         o.n_dest, o.delay_ns / 1e3, o.fail_open ? " (fail-open on overflow)" : "");

  char buf[65536] __attribute__((aligned));
  uint64_t enobufs = 0;
  while (!g_stop) {
    int64_t t = now_ns();
    if (release_due(qh, &s, t)) {
      rc = 1;
      break;
    }
    struct timespec ts, *tp = NULL;
    if (s.q.len > 0) {
      int64_t wait = s.q.slot[s.q.head].due_ns - t;
      if (wait <= o.spin_ns) { /* busy-wait the rest, still taking new packets */
        wait = 0;
      } else {
        wait -= o.spin_ns;
      }
      ts.tv_sec = wait / 1000000000;
      ts.tv_nsec = wait % 1000000000;
      tp = &ts;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n = ppoll(&pfd, 1, tp, &waitmask);
    if (n < 0) {
      if (errno == EINTR) continue;
      logmsg("poll: %s", strerror(errno));
      rc = 1;
      break;
    }
    if (n == 0 || !(pfd.revents & POLLIN)) continue;
    /* at most 256 notifications, then release what is due (a steady stream
     * of arrivals must not hold back the releases) */
    for (int k = 0; k < 256; k++) {
      ssize_t len = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (len < 0) {
        if (errno == ENOBUFS) { /* notifications lost; those packets go with the next verdict */
          enobufs++;
          continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          logmsg("recv: %s", strerror(errno));
          rc = 1;
        }
        break;
      }
      nfq_handle_packet(h, buf, (int)len);
    }
    if (rc) break;
  }
  remove_rules(&o);
  release_due(qh, &s, -1);
  log_kernel_counters(o.queue, o.fail_open);
  logmsg("stopped: %llu packets delayed, at most %llu held at once, %llu socket overruns, %llu "
         "over the user-space queue",
         (unsigned long long)s.packets, (unsigned long long)s.max_held,
         (unsigned long long)enobufs, (unsigned long long)s.overflow_user);
  nfq_destroy_queue(qh);
  nfq_close(h);
  free(s.q.slot);
  if (o.pidfile) unlink(o.pidfile);
  return rc;
}
