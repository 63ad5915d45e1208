/* test_notify_pool.c: test_notify.c's cases with the dispatcher's thread
 * pool started (lo_water 2, hi_water 4): arm and trigger from write
 * handlers on pool threads, removal on close and on a client's death,
 * pulses both ways, private messages in connection order, fault points;
 * plus test_pool_parallel (clients arming, writing, closing and dying at
 * once). Run it under TSan too (see tests/rm/README or the report). */
#define TEST_NOTIFY_POOL 1
#include "rm/test_notify.c"
