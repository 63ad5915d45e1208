/* rm/rm_pool.c: the dispatcher's thread pool (QNX thread_pool_create with
 * lo_water / hi_water / maximum, and dispatch_context_alloc per thread).
 *
 * The loop thread receives each datagram (rm_dispatch.c), copies it into
 * a job on its connection's queue and puts the connection on the run
 * queue unless it is there or running. A pool thread takes a connection,
 * handles ONE job with the same code as the loop mode
 * (tern__rm_conn_input) and puts it back at the tail if it has more: so
 * one connection's messages run one at a time and in order, and busy
 * connections take turns. A connection whose client is gone (or that
 * detach closes) is marked gone by the loop thread, which stops watching
 * it; its pool thread drops the jobs left, runs close_dup/close_ocb and
 * frees it.
 *
 * Bounds: at most TERN__RM_POOL_JOBS queued per connection, then the loop
 * stops reading it (the kernel's socket buffer holds the rest) until its
 * thread has drained it and posts a resume. Threads: lo_water are kept
 * idle; one is started when work arrives and none is idle, up to
 * hi_water; an idle thread above lo_water exits after idle_ms and is
 * joined by the next start or by the stop.
 *
 * Everything here is under d->lock, never held while a handler runs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rm/rm_internal.h"

#define TERN__RM_POOL_JOBS 4

typedef struct tern__rm_job {
  struct tern__rm_job *next;
  size_t n; /* datagram size as received; min(n, max_msg) bytes kept */
  int fd;
  uint8_t buf[];
} tern__rm_job;

typedef struct worker {
  struct worker *next;
  struct tern__rm_pool *p;
  pthread_t th;
  bool exited;
} worker;

typedef struct tern__rm_pool {
  tern_rm_dispatch *d;
  pthread_cond_t work; /* run queue not empty, or stop */
  pthread_cond_t done; /* a connection freed, a thread exited */
  unsigned lo, hi, nthreads, nidle;
  int idle_ms;
  tern__rm_conn *rq_head, *rq_tail;
  worker *workers; /* running and exited-not-joined */
  bool stop;
} tern__rm_pool;

static void rq_push(tern__rm_pool *p, tern__rm_conn *c) {
  c->queued = true;
  c->rq_next = NULL;
  if (p->rq_tail)
    p->rq_tail->rq_next = c;
  else
    p->rq_head = c;
  p->rq_tail = c;
}

static tern__rm_conn *rq_pop(tern__rm_pool *p) {
  tern__rm_conn *c = p->rq_head;
  p->rq_head = c->rq_next;
  if (p->rq_head == NULL) p->rq_tail = NULL;
  c->queued = false;
  return c;
}

/* Join the threads that exited (they hold nothing any more). */
static void reap(tern__rm_pool *p) {
  for (worker **pp = &p->workers; *pp;) {
    worker *w = *pp;
    if (!w->exited) {
      pp = &w->next;
      continue;
    }
    *pp = w->next;
    pthread_join(w->th, NULL);
    free(w);
  }
}

static void *worker_main(void *arg);

static int spawn(tern__rm_pool *p) {
  worker *w = calloc(1, sizeof(*w));
  if (w == NULL) return TERN_ENOMEM;
  w->p = p;
  int e = pthread_create(&w->th, NULL, worker_main, w);
  if (e != 0) {
    free(w);
    return tern_err_from_errno(e);
  }
  w->next = p->workers;
  p->workers = w;
  p->nthreads++;
  return TERN_OK;
}

/* Work was queued: wake an idle thread or start one. */
static void wake(tern__rm_pool *p) {
  if (p->nidle > 0) {
    pthread_cond_signal(&p->work);
    return;
  }
  reap(p);
  if (p->nthreads < p->hi && spawn(p) != TERN_OK)
    tern_log(TERN_LOG_WARN, "rm", "pool: no new thread (%u running)",
             p->nthreads);
}

/* A MOUNT on an idle connection runs here, on the loop thread: a mount
 * handler attaches and detaches paths, which are loop-thread calls. No
 * pool thread owns c meanwhile (running keeps them off). */
static bool mount_on_loop(tern__rm_conn *c, const uint8_t *buf, size_t n,
                          int fd) {
  tern_rm_dispatch *d = c->d;
  if (n < 2 || buf[1] != TERN__RM_T_MOUNT) return false;
  pthread_mutex_lock(&d->lock);
  bool idle = !c->queued && !c->running && c->jq_head == NULL;
  if (idle) c->running = true;
  pthread_mutex_unlock(&d->lock);
  if (!idle) return false; /* behind the others, on a pool thread */
  tern__rm_conn_input(c, buf, n, fd);
  pthread_mutex_lock(&d->lock);
  c->running = false;
  if (c->jq_head && !c->queued) rq_push(d->pool, c);
  pthread_mutex_unlock(&d->lock);
  return true;
}

void tern__rm_pool_submit(tern__rm_conn *c, const uint8_t *buf, size_t n,
                          int fd) {
  tern_rm_dispatch *d = c->d;
  tern__rm_pool *p = d->pool;
  if (mount_on_loop(c, buf, n, fd)) return;
  size_t len = n < d->max_msg ? n : d->max_msg, room = len;
  /* a devctl's answer is built in place up to its declared size (the
   * loop mode's receive buffer has that room too) */
  if (len >= TERN__RM_HDR_LEN + 8 && buf[1] == TERN__RM_T_DEVCTL) {
    uint32_t dcmd = (uint32_t)buf[16] | (uint32_t)buf[17] << 8 |
                    (uint32_t)buf[18] << 16 | (uint32_t)buf[19] << 24;
    room += TERN_DCMD_GET_SIZE(dcmd);
  }
  tern__rm_job *j = malloc(sizeof(*j) + room);
  if (j == NULL) {
    if (fd >= 0) close(fd);
    tern__rm_conn_fail(c);
    return;
  }
  j->next = NULL;
  j->n = n;
  j->fd = fd;
  memcpy(j->buf, buf, len);
  pthread_mutex_lock(&d->lock);
  if (c->jq_tail)
    c->jq_tail->next = j;
  else
    c->jq_head = j;
  c->jq_tail = j;
  if (++c->njobs >= TERN__RM_POOL_JOBS && !c->throttled) {
    c->throttled = true; /* the socket buffer holds the rest */
    tern_io_set(c->io, 0);
  }
  if (!c->queued && !c->running) rq_push(p, c);
  wake(p);
  pthread_mutex_unlock(&d->lock);
}

/* Loop thread, under d->lock: c is to be closed by its pool thread. */
static void mark_gone(tern__rm_pool *p, tern__rm_conn *c) {
  if (c->gone) return;
  c->gone = true;
  tern_io_stop(c->io);
  c->io = NULL;
  if (!c->queued && !c->running) rq_push(p, c);
  wake(p);
}

void tern__rm_pool_gone(tern__rm_conn *c) {
  pthread_mutex_lock(&c->d->lock);
  mark_gone(c->d->pool, c);
  pthread_mutex_unlock(&c->d->lock);
}

static bool any_conn_of(tern_rm_dispatch *d, tern_rm_attach_h *a) {
  for (tern__rm_conn *c = d->conns; c; c = c->next)
    if (a == NULL || c->a == a) return true;
  return false;
}

void tern__rm_pool_close_conns(tern_rm_dispatch *d, tern_rm_attach_h *a) {
  tern__rm_pool *p = d->pool;
  pthread_mutex_lock(&d->lock);
  for (tern__rm_conn *c = d->conns; c; c = c->next)
    if (a == NULL || c->a == a) mark_gone(p, c);
  while (any_conn_of(d, a)) pthread_cond_wait(&p->done, &d->lock);
  pthread_mutex_unlock(&d->lock);
}

typedef struct resume {
  tern_rm_dispatch *d;
  uint32_t id;
} resume;

/* Loop thread: read c again after its thread drained its queue. */
static void on_resume(tern_loop *loop, void *arg, int status) {
  resume *r = arg;
  tern_rm_dispatch *d = r->d;
  (void)loop;
  pthread_mutex_lock(&d->lock);
  tern__rm_conn *c = status == TERN_OK ? tern__rm_conn_find(d, r->id) : NULL;
  if (c && !c->gone && c->throttled) {
    c->throttled = false;
    tern_io_set(c->io, TERN_IO_READ);
  }
  pthread_mutex_unlock(&d->lock);
  free(r);
  tern__rm_posted_end(d);
}

static void post_resume(tern__rm_conn *c) {
  tern_rm_dispatch *d = c->d;
  resume *r = malloc(sizeof(*r));
  tern__rm_posted_begin(d);
  if (r) *r = (resume){d, c->id};
  if (r == NULL || tern_loop_call(d->loop, on_resume, r) != TERN_OK) {
    free(r);
    tern__rm_posted_end(d);
    tern__rm_conn_fail(c); /* would stay unread: let it go */
  }
}

static void jobs_free(tern__rm_job *j) {
  while (j) {
    tern__rm_job *nx = j->next;
    if (j->fd >= 0) close(j->fd);
    free(j);
    j = nx;
  }
}

/* Under d->lock: one turn of c. Returns with the lock held. */
static void run_conn(tern__rm_pool *p, tern__rm_conn *c) {
  tern_rm_dispatch *d = p->d;
  c->running = true;
  if (c->gone) { /* drop what is left, close, free */
    tern__rm_job *left = c->jq_head;
    c->jq_head = c->jq_tail = NULL;
    c->njobs = 0;
    pthread_mutex_unlock(&d->lock);
    jobs_free(left);
    tern__rm_conn_close(c); /* close_dup, close_ocb, free */
    pthread_mutex_lock(&d->lock);
    pthread_cond_broadcast(&p->done);
    return;
  }
  tern__rm_job *j = c->jq_head;
  c->jq_head = j->next;
  if (c->jq_head == NULL) c->jq_tail = NULL;
  bool resume_now = --c->njobs == 0 && c->throttled;
  pthread_mutex_unlock(&d->lock);
  tern__rm_conn_input(c, j->buf, j->n, j->fd); /* owns j->fd */
  free(j);
  if (resume_now) post_resume(c);
  pthread_mutex_lock(&d->lock);
  c->running = false;
  if (c->jq_head || c->gone) rq_push(p, c);
}

static void deadline(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  tern__rm_pool *p = w->p;
  tern_rm_dispatch *d = p->d;
  pthread_mutex_lock(&d->lock);
  for (;;) {
    if (p->rq_head) {
      run_conn(p, rq_pop(p));
      continue;
    }
    if (p->stop) break;
    struct timespec ts;
    deadline(&ts, p->idle_ms);
    p->nidle++;
    int e = pthread_cond_timedwait(&p->work, &d->lock, &ts);
    p->nidle--;
    if (e == ETIMEDOUT && p->rq_head == NULL && p->nthreads > p->lo) break;
  }
  p->nthreads--;
  w->exited = true; /* joined by the next spawn or the stop */
  pthread_cond_broadcast(&p->done);
  pthread_mutex_unlock(&d->lock);
  return NULL;
}

int tern_rm_pool_start(tern_rm_dispatch *d, const tern_rm_pool_attr *attr) {
  tern_rm_pool_attr a = {0};
  if (d == NULL) return TERN_EINVAL;
  if (attr) a = *attr;
  if (a.lo_water == 0) a.lo_water = 1;
  if (a.hi_water == 0) a.hi_water = a.lo_water > 4 ? a.lo_water : 4;
  if (a.idle_ms <= 0) a.idle_ms = 2000;
  if (a.lo_water > a.hi_water || a.hi_water > 1024) return TERN_EINVAL;
  if (!tern_loop_on_thread(d->loop)) return TERN_EPERM;
  if (d->pool) return TERN_EALREADY;
  if (d->conns) return TERN_EBUSY;
  tern__rm_pool *p = calloc(1, sizeof(*p));
  if (p == NULL) return TERN_ENOMEM;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->work, &ca);
  pthread_condattr_destroy(&ca);
  pthread_cond_init(&p->done, NULL);
  p->d = d;
  p->lo = a.lo_water;
  p->hi = a.hi_water;
  p->idle_ms = a.idle_ms;
  int rc = TERN_OK;
  pthread_mutex_lock(&d->lock);
  d->pool = p;
  for (unsigned i = 0; i < p->lo && rc == TERN_OK; i++) rc = spawn(p);
  pthread_mutex_unlock(&d->lock);
  if (rc != TERN_OK) tern__rm_pool_stop(d);
  return rc;
}

void tern__rm_pool_stop(tern_rm_dispatch *d) {
  tern__rm_pool *p = d->pool;
  if (p == NULL) return;
  pthread_mutex_lock(&d->lock);
  p->stop = true;
  pthread_cond_broadcast(&p->work);
  while (p->nthreads > 0) pthread_cond_wait(&p->done, &d->lock);
  reap(p);
  d->pool = NULL;
  pthread_mutex_unlock(&d->lock);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->done);
  free(p);
}

void tern_rm_pool_count(tern_rm_dispatch *d, unsigned *threads,
                        unsigned *idle) {
  unsigned t = 0, i = 0;
  pthread_mutex_lock(&d->lock);
  if (d->pool) t = d->pool->nthreads, i = d->pool->nidle;
  pthread_mutex_unlock(&d->lock);
  if (threads) *threads = t;
  if (idle) *idle = i;
}
