/* nodes.h: ternd's resource-manager names (nodes.c, nodes_net.c), shared
 * by the two files. The names and commands are in tern/ternd_ctl.h. */
#ifndef TERND_NODES_H
#define TERND_NODES_H

#include "ternd.h"
#include "tern/ternd_ctl.h"

typedef enum node_kind {
  NODE_STATE,
  NODE_STATUS,
  NODE_METRICS,
  NODE_LOG,
  NODE_SAMPLE,
  NODE_NET,
  NODE_COUNT
} node_kind;

typedef struct ternd_nodes ternd_nodes;

typedef struct tnode {
  tern_rm_attr attr; /* attr.data points back here */
  ternd_nodes *nodes;
  node_kind kind;
} tnode;

typedef struct sample_msg {
  struct sample_msg *next;
  size_t len;
  uint8_t data[];
} sample_msg;

#define SAMPLE_WAITERS_MAX 16 /* TERND_SAMPLE_WAIT callers at once */

typedef struct sample_waiter {
  tern_rm_rcvid rcvid;
  const tern_rm_ocb *ocb;
} sample_waiter;

typedef struct sample_dev {
  int32_t value;
  sample_msg *head, *tail, *gone; /* gone: popped, freed on the next read */
  unsigned n;
  sample_waiter w[SAMPLE_WAITERS_MAX];
  unsigned nw;
} sample_dev;

struct ternd_nodes {
  ternd *d;
  tern_rm_dispatch *rmd;
  const char *prefix;
  char prefix_buf[200];
  tnode nodes[NODE_COUNT]; /* NODE_NET: the TAP netif's */
  sample_dev sample;
  tern_smd_sub *smd; /* state and metrics changes for notify */
};

int ternd_nodes_attach(ternd_nodes *nd, tnode *n, const char *name,
                       node_kind kind, uint32_t mode);
int ternd_nodes_parse_level(const char *s, size_t len);

/* nodes_net.c */
int ternd_nodes_net_start(ternd_nodes *nd);
size_t ternd_nodes_net_text(tnode *n, char *buf, size_t size);
int ternd_nodes_net_devctl(tnode *n, tern_rm_ctx *ctx, tern_rm_devctl_msg *msg,
                           tern_rm_ocb *ocb);

#endif
