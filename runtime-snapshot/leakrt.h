/*
 * leakrt.h — libleakrt, a Go-like task runtime for C.
 *
 * Tasks are cheap cooperative threads on their own stacks, run M:N on
 * LRT_PROCS worker threads. They talk through channels, select, mutexes,
 * rwmutexes, condition variables and wait groups, sleep on timers, wait for
 * file descriptors and are cancelled through contexts. Every blocking call
 * records why and on what the task waits, so that a snapshot of the program
 * can be analysed offline by `leakscan` to find tasks that can never wake.
 *
 * The semantics are Go's. Misuse that Go turns into a panic (send on a closed
 * channel, closing twice, unlocking an unlocked mutex, a negative wait-group
 * counter, blocking outside a task) aborts the program with a message that
 * names the call and the task.
 *
 * This is the only public header of the library.
 */
#ifndef LEAKRT_H
#define LEAKRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LRT_VERSION_MAJOR 0
#define LRT_VERSION_MINOR 1

/* Durations are int64_t nanoseconds. */
#define LRT_NANOSECOND  ((int64_t)1)
#define LRT_MICROSECOND ((int64_t)1000)
#define LRT_MILLISECOND ((int64_t)1000000)
#define LRT_SECOND      ((int64_t)1000000000)

/* ------------------------------------------------------------------------ */
/* Tasks                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * Starts the runtime with LRT_PROCS worker threads (environment; default:
 * the number of CPUs), runs fn(arg) as the main task and returns when it
 * returns. Tasks still alive then are discarded, as Go discards goroutines
 * when main returns; a task that never blocks or yields cannot be stopped
 * and keeps its thread until the process exits (lrt_main says so on
 * stderr). The calling thread only waits; it is not a worker. Returns 0,
 * or -errno when the runtime could not start. lrt_main may be called again
 * after it returned (not concurrently), unless a task was left running.
 */
int lrt_main(void (*fn)(void *arg), void *arg);

/* Spawns a task running fn(arg); returns its id (ids start at 1 and are
 * never reused). Records the spawning task and the call site. */
uint64_t lrt_go(void (*fn)(void *arg), void *arg);

/*
 * Labels, like pprof's goroutine labels: key/value strings on the running
 * task, inherited by the tasks it spawns afterwards, carried by snapshots
 * and shown by leakscan (which can group and filter leaks by them).
 * lrt_label_set sets key to value (value NULL removes it). Keys are up to
 * 63 bytes, values up to 255, at most 16 labels a task. Returns 0, or
 * -EINVAL for an empty or too long key or value, or too many labels.
 * lrt_label_get returns the running task's value for key, or NULL; it
 * stays valid until the task next changes its labels. Both abort when
 * called outside a task.
 */
int         lrt_label_set(const char *key, const char *value);
const char *lrt_label_get(const char *key);

uint64_t lrt_self(void);        /* id of the running task; 0 outside tasks */
size_t   lrt_num_tasks(void);   /* live tasks, like runtime.NumGoroutine */
void     lrt_yield(void);       /* let other runnable tasks run */
void     lrt_sleep(int64_t ns); /* park for at least ns; never holds a worker */
int64_t  lrt_now(void);         /* monotonic clock, ns */

/* ------------------------------------------------------------------------ */
/* Channels                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct lrt_chan lrt_chan;

/* A channel of elements of elem_size bytes with a buffer of cap elements
 * (0: unbuffered). elem_size 0 makes a signal-only channel. Channels live in
 * the tracked heap; lrt_chan_free releases one that nobody uses any more. */
lrt_chan *lrt_chan_make(size_t elem_size, size_t cap);
void      lrt_chan_free(lrt_chan *c);

/* Blocks until the element is taken (or buffered). elem is copied.
 * Sending on a NULL channel blocks forever; on a closed one aborts. */
void lrt_chan_send(lrt_chan *c, const void *elem);

/* Blocks until an element arrives; copies it to elem (which may be NULL).
 * Returns false, with elem zeroed, when the channel is closed and drained.
 * Receiving from a NULL channel blocks forever. */
bool lrt_chan_recv(lrt_chan *c, void *elem);

/* Closes the channel: receivers drain the buffer, then get false; blocked
 * senders abort. Closing NULL or closing twice aborts. */
void   lrt_chan_close(lrt_chan *c);
size_t lrt_chan_len(lrt_chan *c);
size_t lrt_chan_cap(lrt_chan *c);

enum { LRT_SEND = 1, LRT_RECV = 2 };

typedef struct lrt_case {
    lrt_chan *chan; /* NULL: the case never fires */
    int       dir;  /* LRT_SEND or LRT_RECV */
    void     *elem; /* element to send, or buffer to receive into (may be NULL) */
    bool      ok;   /* after a receive fired: true for a value, false for closed */
} lrt_case;

/*
 * Waits until one of the n cases can proceed, performs it and returns its
 * index. Among several ready cases one is chosen uniformly at random.
 * timeout_ns: -1 blocks as long as needed; 0 is Go's `default:` (returns -1
 * at once when no case is ready); > 0 gives up after that long, returning -1.
 * With n == 0 and timeout_ns == -1 the task blocks forever.
 */
int lrt_select(lrt_case *cases, int n, int64_t timeout_ns);

/* ------------------------------------------------------------------------ */
/* Synchronisation. All are zero-initialised and usable anywhere (heap,     */
/* globals, a task's stack); their fields are private to the runtime.       */
/* ------------------------------------------------------------------------ */

typedef struct lrt_waitq_ { void *head_, *tail_; } lrt_waitq_;

typedef struct lrt_mutex {
    uint32_t   state_;  /* 0 unlocked, 1 locked, 2 locked with waiters */
    uint32_t   guard_;  /* protects the wait queue */
    lrt_waitq_ waiters_;
    uint64_t   owner_;  /* the holding task's id (0: none, or not a task) ... */
    uintptr_t  site_;   /* ... and where it locked: what leakscan shows waiters */
} lrt_mutex;

void lrt_mutex_lock(lrt_mutex *m);
bool lrt_mutex_trylock(lrt_mutex *m);
void lrt_mutex_unlock(lrt_mutex *m);   /* aborts if m is not locked */

/* Writer-preferring: once a writer waits, new readers wait behind it; when
 * it unlocks, the readers that queued meanwhile go first. Nobody starves. */
typedef struct lrt_rwmutex {
    uint32_t   guard_;
    int32_t    readers_;         /* readers holding it */
    uint32_t   writer_;          /* 1 while a writer holds it */
    uint32_t   writers_waiting_;
    lrt_waitq_ read_waiters_;
    lrt_waitq_ write_waiters_;
} lrt_rwmutex;

void lrt_rwmutex_rlock(lrt_rwmutex *rw);
void lrt_rwmutex_runlock(lrt_rwmutex *rw);  /* aborts if not read-locked */
void lrt_rwmutex_lock(lrt_rwmutex *rw);
void lrt_rwmutex_unlock(lrt_rwmutex *rw);   /* aborts if not write-locked */

typedef struct lrt_cond {
    uint32_t   guard_;
    uint32_t   pad_;
    lrt_waitq_ waiters_;
} lrt_cond;

/* Atomically unlocks m and waits; locks m again before returning. */
void lrt_cond_wait(lrt_cond *c, lrt_mutex *m);
void lrt_cond_signal(lrt_cond *c);
void lrt_cond_broadcast(lrt_cond *c);

typedef struct lrt_wg {
    uint32_t   guard_;
    uint32_t   pad_;
    int64_t    counter_;
    lrt_waitq_ waiters_;
} lrt_wg;

void lrt_wg_add(lrt_wg *wg, int64_t n);   /* aborts if the counter goes negative */
void lrt_wg_done(lrt_wg *wg);
void lrt_wg_wait(lrt_wg *wg);

/* ------------------------------------------------------------------------ */
/* The tracked heap                                                         */
/* ------------------------------------------------------------------------ */

/* Zeroed memory in the tracked heap, which a snapshot's analysis scans for
 * pointers. _noscan memory is never scanned: use it for bytes that hold no
 * pointers (buffers, strings). lrt_free(NULL) does nothing. */
void *lrt_alloc(size_t n);
void *lrt_alloc_noscan(size_t n);
void  lrt_free(void *p);

/* ------------------------------------------------------------------------ */
/* Contexts                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct lrt_ctx lrt_ctx;

enum { LRT_CANCELED = 1, LRT_DEADLINE = 2 };

lrt_ctx  *lrt_ctx_background(void);               /* never cancelled; done() is NULL */
lrt_ctx  *lrt_ctx_with_cancel(lrt_ctx *parent);
lrt_ctx  *lrt_ctx_with_timeout(lrt_ctx *parent, int64_t ns);
void      lrt_ctx_cancel(lrt_ctx *ctx);           /* cancels ctx and its descendants */
lrt_chan *lrt_ctx_done(lrt_ctx *ctx);             /* closed when cancelled or timed out */
int       lrt_ctx_err(lrt_ctx *ctx);              /* 0, LRT_CANCELED or LRT_DEADLINE */
/* Cancels ctx and releases it. Free children before their parent. */
void      lrt_ctx_free(lrt_ctx *ctx);

/* ------------------------------------------------------------------------ */
/* I/O                                                                      */
/* ------------------------------------------------------------------------ */

enum { LRT_READ = 1, LRT_WRITE = 2 };

/* Parks the task until fd is ready for events (LRT_READ | LRT_WRITE), on
 * epoll, without holding a worker. Returns the ready events (> 0), 0 when
 * timeout_ns (-1: none) passed first, or -errno (e.g. -EBADF). */
int lrt_fd_wait(int fd, int events, int64_t timeout_ns);

/* The analysis finds what is reachable by scanning the program's memory,
 * as a garbage collector would: an object whose only pointer is kept
 * where no scan sees it — in the kernel (epoll_event.data.ptr, io_uring's
 * user_data, sigev_value), on disk, or disguised (XOR-linked lists, tag
 * bits) — looks unreachable, and so may a task that waits on something it
 * holds. Pin such an object while that is so: a pinned object is a root.
 * Pins nest (each lrt_pin wants its lrt_unpin); NULL does nothing. Tasks
 * parked in lrt_fd_wait need none of this: the runtime keeps them. */
void lrt_pin(const void *p);
void lrt_unpin(const void *p);

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                */
/* ------------------------------------------------------------------------ */

/*
 * Writes a snapshot of the whole program — heap, tasks, threads — to path,
 * as an ELF core file that `leakscan` analyses (and gdb opens). The program
 * is paused only while every thread is stopped and the process forks; a
 * child process writes the file, atomically (temporary file, fsync,
 * rename), mode 0600, never through a symlink. Called from a task, only the
 * task waits for the writer. reason is recorded in the file (may be NULL).
 * Returns 0 or -errno; on failure no file is left behind. What is at
 * path already is replaced only if it is a regular file of this user or a
 * symlink (replaced itself): a FIFO, device or socket there gives -EEXIST,
 * a directory -EISDIR, another user's file -EPERM, and it stays as it was.
 *
 * Also taken on LEAKSCAN_SIGNAL (default SIGUSR2; "off" disables it) into
 * LEAKSCAN_DIR (default: the working directory) as leakscan-PID-N.snap, and
 * at the end of lrt_main when LEAKSCAN_AT_EXIT=path is set.
 */
int lrt_snapshot(const char *path, const char *reason);

/* How long the last snapshot paused the program, in ns; when that pause
 * began, on the lrt_now() clock. */
int64_t lrt_snapshot_last_pause_ns(void);
int64_t lrt_snapshot_last_pause_start_ns(void);

#ifdef __cplusplus
}
#endif

#endif /* LEAKRT_H */
