/* tern/port.h: the OS interface: threads, mutexes, semaphores, bounded
 * mailboxes and random bytes.
 *
 * This is the whole of what tern needs from an operating system besides
 * sockets (which only the sock backend uses). src/port/posix/ implements it
 * with pthreads; a bare-metal or RTOS port provides the same functions (the
 * model is lwIP's sys.h / sys_arch.c split). Objects are opaque and
 * allocated by their _new function; _free releases them.
 *
 * Timeouts are in milliseconds; TERN_WAIT_FOREVER blocks without limit and
 * 0 polls.
 */
#ifndef TERN_PORT_H
#define TERN_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "tern/config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_WAIT_FOREVER (-1)

typedef struct tern_thread tern_thread;
typedef struct tern_mutex tern_mutex;
typedef struct tern_sem tern_sem;
typedef struct tern_mbox tern_mbox;

typedef void (*tern_thread_fn)(void *arg);

/* Start fn(arg) on a new thread. The thread must be joined exactly once
 * with tern_thread_join(), which also frees *out. name (may be NULL) is a
 * short label for debuggers. */
TERN_API int tern_thread_new(tern_thread **out, const char *name,
                             tern_thread_fn fn, void *arg);
TERN_API int tern_thread_join(tern_thread *t);
/* An identifier of the calling thread, for "am I on the owner thread?". */
TERN_API uintptr_t tern_thread_self(void);

/* A non-recursive mutex. */
TERN_API int tern_mutex_new(tern_mutex **out);
TERN_API void tern_mutex_free(tern_mutex *m);
TERN_API void tern_mutex_lock(tern_mutex *m);
TERN_API void tern_mutex_unlock(tern_mutex *m);

/* A counting semaphore. wait returns TERN_OK or TERN_ETIMEDOUT. */
TERN_API int tern_sem_new(tern_sem **out, unsigned initial);
TERN_API void tern_sem_free(tern_sem *s);
TERN_API void tern_sem_post(tern_sem *s);
TERN_API int tern_sem_wait(tern_sem *s, int timeout_ms);

/* A bounded FIFO of pointers, many producers and many consumers.
 * post blocks while full (up to timeout_ms; TERN_ETIMEDOUT), trypost
 * returns TERN_ENOSPC when full. fetch blocks while empty (TERN_ETIMEDOUT),
 * tryfetch returns TERN_EAGAIN when empty. Freeing a mailbox that still
 * holds messages drops them (the owner must drain first if they own
 * memory). */
TERN_API int tern_mbox_new(tern_mbox **out, size_t capacity);
TERN_API void tern_mbox_free(tern_mbox *mb);
TERN_API int tern_mbox_post(tern_mbox *mb, void *msg, int timeout_ms);
TERN_API int tern_mbox_trypost(tern_mbox *mb, void *msg);
TERN_API int tern_mbox_fetch(tern_mbox *mb, void **msg, int timeout_ms);
TERN_API int tern_mbox_tryfetch(tern_mbox *mb, void **msg);
TERN_API size_t tern_mbox_count(tern_mbox *mb);

/* Fill buf with len bytes from the OS's cryptographic random source.
 * TERN_EIO if none is available. */
TERN_API int tern_random(void *buf, size_t len);

#if TERN_NO_SYS
/* Bare metal (TERN_NO_SYS=1, src/port/nosys/): one thread, a superloop.
 *  - tern_thread_new/join return TERN_ENOTSUP; tern_thread_self is 1.
 *  - Mutexes do nothing (there is no one to exclude).
 *  - Nothing can post a semaphore or a mailbox while its only thread waits
 *    in it, so waits never block: tern_sem_wait takes a count if there is
 *    one, else returns TERN_ETIMEDOUT whatever the timeout (also
 *    TERN_WAIT_FOREVER: blocking would hang the device for good); a full
 *    mailbox refuses a post the same way, an empty one a fetch.
 *  - None of these is interrupt-safe: an interrupt handler fills a
 *    driver's ring or sets a flag that the superloop reads, and never
 *    calls tern.
 *  - tern_random returns TERN_EIO: there is no portable entropy source.
 *    Give the stack the hardware RNG in tern_stack_opts.random (without
 *    it tern_stack_new fails with TERN_EIO rather than run predictable
 *    ISNs and ports).
 *
 * The application (its board code) provides this clock; base's
 * tern_clock_ms() returns it and tern_clock_us() is it times 1000. It is
 * monotonic milliseconds from any origin (a SysTick counter), and must be
 * callable from the superloop at any time. There is no wall clock:
 * tern_clock_wall_us() returns 0. */
uint64_t tern_port_clock_ms(void);
#endif

#ifdef __cplusplus
}
#endif
#endif /* TERN_PORT_H */
