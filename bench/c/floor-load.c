/*
 * floor-load: the socket work of scenario f (set-up, drop, resume storm) against a bare Node server, for
 * `npm run bench:floor`. No protocol and no crypto: every message is a u32-LE length and a body whose first
 * byte is its type; the server answers each type with a reply of a fixed size, the sizes of the edge's
 * answers in f (PubKey 39 B, ClientId 9 B, Challenge 78 B, Ping with 10 replayed packets 215 B, the probe's
 * echo 32 B). What the server spends per connection is then what Node's `net` costs for a resume's sockets.
 *
 *   floor-load --target 127.0.0.1:PORT [--clients N] [--inflight K]
 *
 * Phases, each line on stdout when done: "UP secs" (N connections, hello + key each, kept open), "STALE secs"
 * (each sends FIN and waits for the server's), then a line on stdin starts the storm: N new connections, at
 * most K in progress, hello, id, response, probe, FIN, server's FIN: "DONE secs errors". Exit 1 on any error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct { int type; int body; int expect; } step_t;

/* Body sizes of the client's messages and the server's reply sizes, as in f (see above). */
static const step_t SETUP[] = {{1, 2, 39}, {2, 34, 9}};
static const step_t RESUME[] = {{1, 2, 39}, {3, 9, 78}, {4, 85, 215}, {5, 28, 32}};

enum { S_CONNECTING, S_TALKING, S_KEPT, S_CLOSING, S_DONE };
typedef struct { int fd; int state; int step; int got; } conn_t;

static struct sockaddr_in target;
static int epfd, errors;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fail(const char *what, long i) {
  if (errors++ < 5) fprintf(stderr, "floor-load: connection %ld: %s (%s)\n", i, what, strerror(errno));
}

static int send_step(conn_t *c, const step_t *s) {
  unsigned char buf[128] = {0};
  uint32_t len = (uint32_t)s->body;
  memcpy(buf, &len, 4); /* little-endian hosts only: x86-64, arm64 */
  buf[4] = (unsigned char)s->type;
  return send(c->fd, buf, 4 + (size_t)s->body, MSG_NOSIGNAL) == 4 + s->body ? 0 : -1;
}

static int open_conn(conn_t *c, long i) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return fail("socket", i), -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) return fail("connect", i), close(c->fd), -1;
  c->state = S_CONNECTING;
  c->step = c->got = 0;
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u64 = (uint64_t)i};
  epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
  return 0;
}

static void finish(conn_t *c, long *active, long *done) {
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->state = S_DONE;
  (*active)--;
  (*done)++;
}

/* Runs the steps on n connections (kept open when keep), at most inflight at a time. */
static void run(conn_t *conns, long n, long inflight, const step_t *steps, int nsteps, int keep) {
  long next = 0, active = 0, done = 0;
  struct epoll_event evs[256];
  while (done < n) {
    while (next < n && active < inflight) {
      if (open_conn(&conns[next], next) == 0) active++;
      else conns[next].state = S_DONE, done++;
      next++;
    }
    int k = epoll_wait(epfd, evs, 256, 5000);
    if (k == 0) { fprintf(stderr, "floor-load: nothing for 5 s, %ld of %ld done\n", done, n); exit(1); }
    for (int e = 0; e < k; e++) {
      long i = (long)evs[e].data.u64;
      conn_t *c = &conns[i];
      if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err != 0) { errno = err; fail("connect", i); finish(c, &active, &done); continue; }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->state = S_TALKING;
        if (send_step(c, &steps[0]) < 0) { fail("send", i); finish(c, &active, &done); }
        continue;
      }
      char buf[4096];
      ssize_t r = read(c->fd, buf, sizeof buf);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (c->state == S_CLOSING) {
        if (r != 0) { errno = 0; fail("bytes after FIN", i); }
        finish(c, &active, &done);
        continue;
      }
      if (r <= 0) { errno = r == 0 ? ECONNRESET : errno; fail("closed early", i); finish(c, &active, &done); continue; }
      c->got += (int)r;
      if (c->got > steps[c->step].expect) { errno = 0; fail("reply too long", i); finish(c, &active, &done); continue; }
      if (c->got < steps[c->step].expect) continue;
      c->got = 0;
      if (++c->step < nsteps) {
        if (send_step(c, &steps[c->step]) < 0) { fail("send", i); finish(c, &active, &done); }
      } else if (keep) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        c->state = S_KEPT;
        active--;
        done++;
      } else {
        shutdown(c->fd, SHUT_WR);
        c->state = S_CLOSING;
      }
    }
  }
}

/* Every kept connection sends FIN and waits for the server's. */
static void drop_all(conn_t *conns, long n) {
  long active = 0, done = 0;
  for (long i = 0; i < n; i++) {
    if (conns[i].state != S_KEPT) { done++; continue; }
    shutdown(conns[i].fd, SHUT_WR);
    conns[i].state = S_CLOSING;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
    epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev);
    active++;
  }
  struct epoll_event evs[256];
  while (done < n) {
    int k = epoll_wait(epfd, evs, 256, 5000);
    if (k == 0) { fprintf(stderr, "floor-load: no FIN back for 5 s\n"); exit(1); }
    for (int e = 0; e < k; e++) {
      conn_t *c = &conns[evs[e].data.u64];
      char buf[256];
      ssize_t r = read(c->fd, buf, sizeof buf);
      if (r < 0 && errno == EAGAIN) continue;
      if (r != 0) { errno = 0; fail("bytes after FIN", (long)evs[e].data.u64); }
      finish(c, &active, &done);
    }
  }
}

int main(int argc, char **argv) {
  const char *t = NULL;
  long n = 10000, inflight = 256;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--target")) t = argv[i + 1];
    else if (!strcmp(argv[i], "--clients")) n = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--inflight")) inflight = atol(argv[i + 1]);
    else { fprintf(stderr, "floor-load: unknown option %s\n", argv[i]); return 2; }
  }
  const char *colon = t ? strrchr(t, ':') : NULL;
  if (!colon || n < 1 || inflight < 1) { fprintf(stderr, "usage: floor-load --target HOST:PORT [--clients N] [--inflight K]\n"); return 2; }
  char host[64];
  snprintf(host, sizeof host, "%.*s", (int)(colon - t), t);
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &target.sin_addr) != 1) { fprintf(stderr, "floor-load: bad host %s\n", host); return 2; }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
  if ((rlim_t)n + 64 > rl.rlim_cur) { fprintf(stderr, "floor-load: open-file limit %lu is below %ld clients\n", (unsigned long)rl.rlim_cur, n); return 2; }
  conn_t *conns = calloc((size_t)n, sizeof *conns);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  setvbuf(stdout, NULL, _IOLBF, 0);

  double t0 = now();
  run(conns, n, inflight, SETUP, 2, 1);
  printf("UP %.3f\n", now() - t0);
  t0 = now();
  drop_all(conns, n);
  printf("STALE %.3f\n", now() - t0);
  char line[16];
  if (!fgets(line, sizeof line, stdin)) return 1;
  t0 = now();
  run(conns, n, inflight, RESUME, 4, 0);
  printf("DONE %.3f %d\n", now() - t0, errors);
  return errors ? 1 : 0;
}
