/* nodes.c: ternd's own resource-manager names (`ternd --rm`): state,
 * status, metrics, log and the sample device here, net/IFNAME in
 * nodes_net.c; what each does is in tern/ternd_ctl.h. One dispatcher on
 * ternd's loop (tern/rm.h), so every handler runs on the loop thread next
 * to the HTTP server and the stack, and reads their state directly.
 *
 * Notify (ionotify, select/poll through the FUSE bridge): a text node is
 * always readable, as a regular file is, so POLL and POLLARM answer
 * INPUT at once; TRANSITION arms for the next change: the state and
 * status nodes fire INPUT on every system state change (SMD SYSTEM
 * class), the metrics node whenever the periodic metrics publication on
 * SMD found samples that changed (--metrics-period). The sample queue is
 * readable while it holds a message and writable while it has room, and
 * fires INPUT on a write and OUTPUT when a read makes room.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "nodes.h"

#define TEXT_MAX 8192 /* status, log, state (metrics are sized exactly) */

/* ---- text nodes: a snapshot made by a read at offset 0 ---------------- */

typedef struct text {
  size_t len;
  char buf[];
} text;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG",
                                          "TRACE"};

/* A level name (any case) or digit; -1 if neither. */
int ternd_nodes_parse_level(const char *s, size_t len) {
  while (len && (s[len - 1] == '\n' || s[len - 1] == ' ')) len--;
  if (len == 1 && s[0] >= '0' && s[0] <= '4') return s[0] - '0';
  for (int i = 0; i < 5; i++)
    if (strlen(level_names[i]) == len && !strncasecmp(s, level_names[i], len))
      return i;
  return -1;
}

static text *text_new(size_t cap) {
  text *t = malloc(sizeof(*t) + cap + 1);
  if (t) t->len = 0;
  return t;
}

static int make_text(tnode *n, text **out) {
  ternd *d = n->nodes->d;
  text *t;
  if (n->kind == NODE_METRICS) {
    size_t need = tern_metrics_prometheus(d->metrics, NULL, 0);
    if ((t = text_new(need)) == NULL) return TERN_ENOMEM;
    t->len = tern_metrics_prometheus(d->metrics, t->buf, need + 1);
    if (t->len > need) t->len = need; /* grew meanwhile: cut */
  } else {
    if ((t = text_new(TEXT_MAX)) == NULL) return TERN_ENOMEM;
    int k = 0;
    switch (n->kind) {
    case NODE_STATE:
      k = snprintf(t->buf, TEXT_MAX, "%s\n",
                   tern_sys_state_name(tern_sys_current(d->sys)));
      break;
    case NODE_STATUS:
      k = (int)ternd_status_json(d, t->buf, TEXT_MAX);
      break;
    case NODE_LOG:
      k = snprintf(t->buf, TEXT_MAX, "level %s\n",
                   level_names[tern_log_get_level()]);
      break;
    case NODE_NET:
      k = (int)ternd_nodes_net_text(n, t->buf, TEXT_MAX);
      break;
    default:
      break;
    }
    t->len = k < 0 ? 0 : (size_t)k < TEXT_MAX ? (size_t)k : TEXT_MAX - 1;
  }
  *out = t;
  return TERN_OK;
}

static int t_read(tern_rm_ctx *ctx, const tern_rm_read_msg *msg,
                  tern_rm_ocb *ocb) {
  if ((tern_rm_ocb_oflag(ocb) & O_ACCMODE) == O_WRONLY) return TERN_EBADF;
  tnode *n = tern_rm_ocb_attr(ocb)->data;
  text *t = tern_rm_ocb_data(ocb);
  int64_t off = tern_rm_ocb_offset(ocb);
  if (off == 0 || t == NULL) {
    free(t);
    tern_rm_ocb_set_data(ocb, NULL);
    int rc = make_text(n, &t);
    if (rc != TERN_OK) return rc;
    tern_rm_ocb_set_data(ocb, t);
    n->attr.nbytes = t->len; /* stat and SEEK_END see the last snapshot */
  }
  if (off >= (int64_t)t->len) return TERN_OK; /* end of data */
  size_t k = t->len - (size_t)off;
  if (k > msg->nbytes) k = msg->nbytes;
  tern_rm_ocb_set_offset(ocb, off + (int64_t)k);
  return tern_rm_reply_data(ctx, t->buf + off, k);
}

static int t_close_ocb(tern_rm_ctx *ctx, tern_rm_ocb *ocb) {
  (void)ctx;
  free(tern_rm_ocb_data(ocb));
  return TERN_OK;
}

/* an int32 answer, in place */
static int reply_i32(tern_rm_ctx *ctx, tern_rm_devctl_msg *msg, int32_t v) {
  memcpy(msg->data, &v, sizeof(v));
  return tern_rm_reply_data(ctx, msg->data, sizeof(v));
}

static bool writable(tern_rm_ocb *ocb) {
  return (tern_rm_ocb_oflag(ocb) & O_ACCMODE) != O_RDONLY;
}

static int t_devctl(tern_rm_ctx *ctx, tern_rm_devctl_msg *msg,
                    tern_rm_ocb *ocb) {
  int rc = tern_rm_devctl_default(ctx, msg, ocb);
  if (rc != TERN_RM_DEFAULT) return rc;
  tnode *n = tern_rm_ocb_attr(ocb)->data;
  int32_t v;
  if (n->kind == NODE_STATE && msg->dcmd == TERND_STATE_GET)
    return reply_i32(ctx, msg, (int32_t)tern_sys_current(n->nodes->d->sys));
  if (n->kind == NODE_NET) return ternd_nodes_net_devctl(n, ctx, msg, ocb);
  if (n->kind != NODE_LOG) return TERN_ENOTSUP;
  switch (msg->dcmd) {
  case TERND_LOG_GET_LEVEL:
    return reply_i32(ctx, msg, (int32_t)tern_log_get_level());
  case TERND_LOG_SET_LEVEL:
    if (!writable(ocb)) return TERN_EBADF;
    memcpy(&v, msg->data, sizeof(v));
    if (msg->nbytes < sizeof(v) || v < TERN_LOG_ERROR || v > TERN_LOG_TRACE)
      return TERN_EINVAL;
    tern_log_set_level((tern_log_level)v);
    return TERN_OK;
  case TERND_LOG_SET_SUBSYS: {
    ternd_ctl_log_subsys s;
    if (!writable(ocb)) return TERN_EBADF;
    if (msg->nbytes < sizeof(s)) return TERN_EINVAL;
    memcpy(&s, msg->data, sizeof(s));
    if (memchr(s.subsys, 0, sizeof(s.subsys)) == NULL) return TERN_EINVAL;
    return tern_log_set_subsys_level(s.subsys, (tern_log_level)s.level);
  }
  default:
    return TERN_ENOTSUP;
  }
}

/* log: write a level name */
static int t_write(tern_rm_ctx *ctx, const tern_rm_write_msg *msg,
                   tern_rm_ocb *ocb) {
  tnode *n = tern_rm_ocb_attr(ocb)->data;
  if (!writable(ocb)) return TERN_EBADF;
  if (n->kind != NODE_LOG) return TERN_ENOTSUP;
  int lv = ternd_nodes_parse_level((const char *)msg->data, msg->nbytes);
  if (lv < 0) return TERN_EINVAL;
  tern_log_set_level((tern_log_level)lv);
  tern_rm_ctx_set_value(ctx, (int64_t)msg->nbytes);
  return TERN_OK;
}

static int t_notify(tern_rm_ctx *ctx, const tern_rm_notify_msg *msg,
                    tern_rm_ocb *ocb) {
  uint32_t ready = TERN_RM_NOTIFY_INPUT | (writable(ocb) ? TERN_RM_NOTIFY_OUTPUT : 0);
  return tern_rm_notify(ctx, msg, ocb, ready);
}

static const tern_rm_io_funcs text_io = {
    .read = t_read, .write = t_write, .devctl = t_devctl,
    .notify = t_notify, .close_ocb = t_close_ocb};

/* A change the text nodes' TRANSITION arms wait for (SMD, loop thread). */
static void on_smd(tern_sys *sys, const tern_smd_msg *msg, void *ud) {
  (void)sys;
  ternd_nodes *nd = ud;
  if (msg->cls == TERN_SMD_SYSTEM) {
    tern_rm_notify_trigger(&nd->nodes[NODE_STATE].attr, TERN_RM_NOTIFY_INPUT, 1);
    tern_rm_notify_trigger(&nd->nodes[NODE_STATUS].attr, TERN_RM_NOTIFY_INPUT, 1);
  } else if (msg->cls == TERN_SMD_METRICS) {
    tern_rm_notify_trigger(&nd->nodes[NODE_METRICS].attr, TERN_RM_NOTIFY_INPUT, 1);
  }
}

/* ---- sample: QNX's sample device with a message queue ------------------ */

static void sample_wake(ternd_nodes *nd) {
  sample_dev *s = &nd->sample;
  int32_t cnt = (int32_t)s->n;
  struct iovec v = {&cnt, sizeof(cnt)};
  for (unsigned i = 0; i < s->nw; i++) /* a vanished client: ENOENT, fine */
    tern_rm_reply(nd->rmd, s->w[i].rcvid, TERN_OK, 0, &v, 1);
  s->nw = 0;
}

static int s_write(tern_rm_ctx *ctx, const tern_rm_write_msg *msg,
                   tern_rm_ocb *ocb) {
  ternd_nodes *nd = ((tnode *)tern_rm_ocb_attr(ocb)->data)->nodes;
  sample_dev *s = &nd->sample;
  if (!writable(ocb)) return TERN_EBADF;
  if (msg->nbytes == 0) return TERN_OK; /* no message */
  if (s->n >= TERND_SAMPLE_QUEUE_MAX) return TERN_EAGAIN;
  size_t k = msg->nbytes < TERND_SAMPLE_MSG_MAX ? msg->nbytes
                                                : TERND_SAMPLE_MSG_MAX;
  sample_msg *m = malloc(sizeof(*m) + k);
  if (m == NULL) return TERN_ENOMEM;
  m->next = NULL;
  m->len = k;
  memcpy(m->data, msg->data, k);
  if (s->tail) s->tail->next = m;
  else s->head = m;
  s->tail = m;
  s->n++;
  nd->nodes[NODE_SAMPLE].attr.nbytes = s->n;
  sample_wake(nd);
  tern_rm_notify_trigger(&nd->nodes[NODE_SAMPLE].attr, TERN_RM_NOTIFY_INPUT, s->n);
  tern_rm_ctx_set_value(ctx, (int64_t)k);
  return TERN_OK;
}

static int s_read(tern_rm_ctx *ctx, const tern_rm_read_msg *msg,
                  tern_rm_ocb *ocb) {
  ternd_nodes *nd = ((tnode *)tern_rm_ocb_attr(ocb)->data)->nodes;
  sample_dev *s = &nd->sample;
  if ((tern_rm_ocb_oflag(ocb) & O_ACCMODE) == O_WRONLY) return TERN_EBADF;
  free(s->gone); /* the last one popped: its reply has been sent */
  s->gone = NULL;
  sample_msg *m = s->head;
  if (m == NULL)
    return (tern_rm_ocb_oflag(ocb) & O_NONBLOCK) ? TERN_EAGAIN : TERN_OK;
  if ((s->head = m->next) == NULL) s->tail = NULL;
  s->n--;
  nd->nodes[NODE_SAMPLE].attr.nbytes = s->n;
  tern_rm_notify_trigger(&nd->nodes[NODE_SAMPLE].attr, TERN_RM_NOTIFY_OUTPUT,
                         TERND_SAMPLE_QUEUE_MAX - s->n);
  s->gone = m; /* kept until the reply is out */
  return tern_rm_reply_data(ctx, m->data,
                            m->len < msg->nbytes ? m->len : msg->nbytes);
}

static int s_devctl(tern_rm_ctx *ctx, tern_rm_devctl_msg *msg,
                    tern_rm_ocb *ocb) {
  ternd_nodes *nd = ((tnode *)tern_rm_ocb_attr(ocb)->data)->nodes;
  sample_dev *s = &nd->sample;
  int rc = tern_rm_devctl_default(ctx, msg, ocb); /* generic commands first */
  if (rc != TERN_RM_DEFAULT) return rc;
  int32_t prev = s->value;
  switch (msg->dcmd) {
  case TERND_SAMPLE_GETVAL:
    return reply_i32(ctx, msg, s->value);
  case TERND_SAMPLE_SETVAL:
    if (msg->nbytes < sizeof(int32_t)) return TERN_EINVAL;
    memcpy(&s->value, msg->data, sizeof(s->value));
    return TERN_OK;
  case TERND_SAMPLE_SETGET:
    if (msg->nbytes < sizeof(int32_t)) return TERN_EINVAL;
    memcpy(&s->value, msg->data, sizeof(s->value));
    return reply_i32(ctx, msg, prev);
  case TERND_SAMPLE_COUNT:
    return reply_i32(ctx, msg, (int32_t)s->n);
  case TERND_SAMPLE_WAIT:
    if (s->n > 0) return reply_i32(ctx, msg, (int32_t)s->n);
    if (s->nw == SAMPLE_WAITERS_MAX) return TERN_EAGAIN;
    s->w[s->nw++] = (sample_waiter){tern_rm_ctx_rcvid(ctx), ocb};
    return TERN_RM_NOREPLY; /* s_write answers */
  default:
    return TERN_ENOTSUP;
  }
}

static void drop_waiters(sample_dev *s, tern_rm_rcvid rcvid,
                         const tern_rm_ocb *ocb) {
  unsigned k = 0;
  for (unsigned i = 0; i < s->nw; i++)
    if (s->w[i].rcvid != rcvid && s->w[i].ocb != ocb) s->w[k++] = s->w[i];
  s->nw = k;
}

/* A client gave up waiting (timeout, FUSE interrupt): TERN_ECANCELED. */
static int s_unblock(tern_rm_ctx *ctx, tern_rm_ocb *ocb) {
  ternd_nodes *nd = ((tnode *)tern_rm_ocb_attr(ocb)->data)->nodes;
  drop_waiters(&nd->sample, tern_rm_ctx_rcvid(ctx), NULL);
  return tern_rm_unblock_default(ctx, ocb);
}

static int s_close_ocb(tern_rm_ctx *ctx, tern_rm_ocb *ocb) {
  (void)ctx;
  ternd_nodes *nd = ((tnode *)tern_rm_ocb_attr(ocb)->data)->nodes;
  drop_waiters(&nd->sample, 0, ocb);
  return TERN_OK;
}

static int s_notify(tern_rm_ctx *ctx, const tern_rm_notify_msg *msg,
                    tern_rm_ocb *ocb) {
  ternd_nodes *nd = ((tnode *)tern_rm_ocb_attr(ocb)->data)->nodes;
  sample_dev *s = &nd->sample;
  uint32_t ready = (s->n > 0 ? TERN_RM_NOTIFY_INPUT : 0) |
                   (s->n < TERND_SAMPLE_QUEUE_MAX ? TERN_RM_NOTIFY_OUTPUT : 0);
  return tern_rm_notify(ctx, msg, ocb, ready);
}

static const tern_rm_io_funcs sample_io = {
    .read = s_read, .write = s_write, .devctl = s_devctl,
    .notify = s_notify, .unblock = s_unblock, .close_ocb = s_close_ocb};

/* ---- attach / detach ------------------------------------------------------ */

int ternd_nodes_attach(ternd_nodes *nd, tnode *n, const char *name,
                       node_kind kind, uint32_t mode) {
  char path[256];
  int k = snprintf(path, sizeof(path), "%s/%s", nd->prefix, name);
  if (k < 0 || (size_t)k >= sizeof(path)) return TERN_EINVAL;
  tern_rm_attr_init(&n->attr, mode, getuid(), getgid());
  n->attr.data = n;
  n->nodes = nd;
  n->kind = kind;
  int rc = tern_rm_attach(nd->rmd, path, 0, NULL,
                          kind == NODE_SAMPLE ? &sample_io : &text_io,
                          &n->attr, NULL);
  if (rc != TERN_OK)
    fprintf(stderr, "ternd: cannot attach %s: %s\n", path, tern_strerror(rc));
  return rc;
}

int ternd_nodes_start(ternd *d) {
  static const struct {
    const char *name;
    node_kind kind;
    uint32_t mode;
  } fixed[] = {
      {"state", NODE_STATE, 0100444},     {"status", NODE_STATUS, 0100444},
      {"metrics", NODE_METRICS, 0100444}, {"log", NODE_LOG, 0100644},
      {"sample", NODE_SAMPLE, 0020666}, /* S_IFCHR: a queue, no offsets */
  };
  ternd_nodes *nd = calloc(1, sizeof(*nd));
  if (nd == NULL) return TERN_ENOMEM;
  d->nodes = nd;
  nd->d = d;
  nd->prefix = d->rm_prefix ? d->rm_prefix : "/dev/tern";
  size_t pl = strlen(nd->prefix);
  if (pl > 1 && nd->prefix[pl - 1] == '/') { /* "/dev/tern/" is fine too */
    snprintf(nd->prefix_buf, sizeof(nd->prefix_buf), "%.*s", (int)(pl - 1),
             nd->prefix);
    nd->prefix = nd->prefix_buf;
  }
  tern_rm_opts o = {.registry = d->rm_dir};
  int rc = tern_rm_dispatch_new(&nd->rmd, tern_mgr_loop(d->mgr), &o);
  if (rc != TERN_OK) {
    fprintf(stderr, "ternd: resource manager: %s\n", tern_strerror(rc));
    return rc;
  }
  for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
    if ((rc = ternd_nodes_attach(nd, &nd->nodes[fixed[i].kind], fixed[i].name,
                                 fixed[i].kind, fixed[i].mode)) != TERN_OK)
      return rc;
  if (d->netif && (rc = ternd_nodes_net_start(nd)) != TERN_OK) return rc;
  if ((rc = tern_smd_subscribe(d->sys, TERN_SMD_SYSTEM | TERN_SMD_METRICS,
                               on_smd, nd, &nd->smd)) != TERN_OK)
    return rc;
  printf("ternd: rm nodes under %s in %s\n", nd->prefix,
         tern_rm_dispatch_registry(nd->rmd));
  return TERN_OK;
}

void ternd_nodes_stop(ternd *d) {
  ternd_nodes *nd = d->nodes;
  if (nd == NULL) return;
  if (nd->smd) tern_smd_unsubscribe(nd->smd);
  if (nd->rmd) tern_rm_dispatch_free(nd->rmd); /* close_ocb for every open */
  sample_dev *s = &nd->sample;
  while (s->head) {
    sample_msg *m = s->head;
    s->head = m->next;
    free(m);
  }
  free(s->gone);
  free(nd);
  d->nodes = NULL;
}
