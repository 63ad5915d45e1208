/* tern/tern.h: everything public in one include. */
#ifndef TERN_TERN_H
#define TERN_TERN_H

#include "tern/config.h"
#include "tern/base.h"
#include "tern/port.h"
#include "tern/loop.h"
#include "tern/net.h"
#include "tern/conmon.h"
#include "tern/backend.h"
#include "tern/http.h"
#include "tern/ws.h"
#include "tern/dns.h"
#include "tern/sntp.h"
#include "tern/sys.h"
#include "tern/metrics.h"
#include "tern/fi.h"
#include "tern/retry.h"
#include "tern/ip.h"
#include "tern/ip_drivers.h"
#include "tern/dhcp.h"
#include "tern/acd.h"
#include "tern/netconn.h"
#include "tern/sockets.h"
#ifdef __linux__ /* the resource manager needs AF_UNIX SEQPACKET */
#include "tern/rm.h"
#include "tern/rmc.h"
#endif

#define TERN_VERSION_MAJOR 0
#define TERN_VERSION_MINOR 1
#define TERN_VERSION_PATCH 0
#define TERN_VERSION_STRING "0.1.0"

#endif /* TERN_TERN_H */
