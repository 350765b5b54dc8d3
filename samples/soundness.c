/*
 * soundness.c — what must and must not be reported, one case per mode:
 *
 *   malloc          a channel reachable only from a malloc'd block that a
 *                   global holds: not leaked
 *   malloc-chain    a global -> a malloc'd block -> another -> a channel:
 *                   not leaked
 *   malloc-stack    a malloc'd block holding a channel, on the stack of a
 *                   task that still runs: not leaked
 *   malloc-lost     a malloc'd block holding a channel that nothing points
 *                   to any more (freed by nobody): its receiver is leaked,
 *                   as for any heap object (malloc is not a root)
 *   malloc-heavy    a program that mallocs a lot: 40,000 blocks of 16 B to
 *                   48 KiB (some realloc'd across size classes, as many
 *                   again freed), on a list a global holds whose end holds
 *                   a channel (its receiver is not leaked), and a lost
 *                   list of 1,000 blocks ending in another channel: that
 *                   receiver is leaked
 *   labels-mixed    a task labelled request=7 starts two that inherit the
 *                   label and leak, one in chan receive, one in a wait
 *                   group wait (--group-by label:request: one group)
 *   libc-keeps      a malloc'd block holding a channel, kept only by the C
 *                   library: the 41st on_exit() argument, in a list node
 *                   glibc mallocs and reaches from its own globals: not
 *                   leaked (libc's globals are roots, its blocks judged)
 *   epoll-unpinned  a malloc'd block holding a channel, kept only by the
 *                   kernel (epoll_event.data.ptr): no scan sees it, so its
 *                   receiver is leaked — the caveat lrt_pin answers
 *   epoll-pinned    the same block pinned with lrt_pin: not leaked
 *   global          a channel reachable only from a global: not leaked
 *   running-stack   a mutex on the stack of a task that still runs (sleeps
 *                   in a loop): its waiter is not leaked
 *   leaked-stack    a mutex on the stack of a leaked task: its waiter is
 *                   leaked too (2 leaked)
 *   mutex-exited    a task locks a heap mutex and returns holding it; the
 *                   task that then waits for it is leaked, and leakscan
 *                   names the holder as exited, with where it locked
 *   select-mixed    a select over a reachable and an unreachable channel:
 *                   not leaked
 *   counts          100 leaked tasks in one group and 1 in another
 *   main-blocked    the main task parked forever: reported apart, 0 leaked
 *   wait-for-core   like counts (set up by a task that has returned), then
 *                   stays alive for a minute, for a core dump to be taken
 *                   (any other MODE followed by `wait` does the same)
 *   retain          10 leaked holders, each pinning a private chain of three
 *                   1,024-byte nodes and a 4,096-byte buffer (7,168 bytes in
 *                   4 objects), and 2 leaked sharers pinning one 2,048-byte
 *                   object between them and reaching holder 0's first node
 *   crash-in-task   like counts, then a task writes through a null pointer:
 *                   the kernel's core shows that task first, then the leaks
 *   stack-keeper    a task that sleeps in a loop holds the only pointer to a
 *                   channel on its stack, in a frame tagged with
 *                   SOUNDNESS_KEEPER_TAG (tests find that stack by it): its 3
 *                   receivers are not leaked; a receiver on a channel nobody
 *                   holds and one on a nil channel are (2 leaked)
 *   stack-keeper-running  the same, the keeper never parking (it spins, so
 *                   it is running whenever a core is taken; needs LRT_PROCS=2)
 *   first-object    the very first object of the heap, a channel nothing
 *                   references: its receiver is leaked (the runtime's own
 *                   globals hold the heap's base address, which must not
 *                   count as a pointer to it)
 */
#include <leakrt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

static const char *mode = "";
static bool wait_for_core;             /* MODE wait: stay alive once set up */
/* Not static: a static variable nobody reads may be optimised away, and
 * then the channel really is unreachable. */
lrt_chan *soundness_global_chan;
void *soundness_malloc_holder;

/* Setup tasks (each mode's, run by run() through go_setup) count down
 * `settled` when done: run() waits for it before it says "ready" or
 * returns, and a crashing task before it crashes. A fixed sleep was not
 * enough in a sanitizer build under load (83 of 102 tasks there). Their
 * arguments are never heap pointers: `setups` is a global, a root. */
typedef struct setup { void (*fn)(void *); void *arg; } setup;
static setup setups[4];
static int nsetups;
static lrt_wg settled;

static void settle(void *arg)
{
    setup *s = arg;
    s->fn(s->arg);
    lrt_wg_done(&settled);
}

static void go_setup(void (*fn)(void *), void *arg)
{
    setup *s = &setups[nsetups++];
    s->fn = fn;
    s->arg = arg;
    lrt_wg_add(&settled, 1);
    lrt_go(settle, s);
}

static void receiver(void *c) { lrt_chan_recv(c, NULL); }
static void lone_receiver(void *c) { lrt_chan_recv(c, NULL); }

static void mutex_owner_running(void *arg)
{
    lrt_mutex mu = { 0 };                  /* on this task's stack */
    lrt_mutex_lock(&mu);
    *(lrt_mutex **)arg = &mu;
    for (;;)
        lrt_sleep(LRT_MILLISECOND);        /* alive: wakes by itself */
}

static void mutex_owner_leaked(void *arg)
{
    lrt_mutex mu = { 0 };
    lrt_mutex_lock(&mu);
    *(lrt_mutex **)arg = &mu;
    lrt_chan_recv(lrt_chan_make(0, 0), NULL);   /* leaked, holding mu */
}

static void locker(void *arg)
{
    lrt_mutex_lock(arg);
}

typedef struct locked_mutex { lrt_mutex mu; lrt_wg locked; } locked_mutex;

/* Locks and returns: the mutex stays locked, its holder gone. */
static void lock_and_exit(void *arg)
{
    locked_mutex *m = arg;
    lrt_mutex_lock(&m->mu);                        /* SOUNDNESS-LOCKED-HERE */
    lrt_wg_done(&m->locked);
}

static void mutex_exited_setup(void *arg)
{
    (void)arg;
    locked_mutex *m = lrt_alloc(sizeof *m);
    lrt_wg_add(&m->locked, 1);
    lrt_go(lock_and_exit, m);
    lrt_wg_wait(&m->locked);
    lrt_go(locker, &m->mu);
}

static void selector(void *arg)
{
    lrt_chan **two = arg;
    lrt_case cases[] = {
        { .chan = two[0], .dir = LRT_RECV },
        { .chan = two[1], .dir = LRT_RECV },
    };
    lrt_select(cases, 2, -1);
}

/* "KEEPER!\0" */
#define SOUNDNESS_KEEPER_TAG 0x0021524550454b4bull

static void keeper(void *arg)
{
    (void)arg;
    lrt_chan *volatile c = lrt_chan_make(0, 0);    /* only this stack holds it */
    volatile uint64_t tag = SOUNDNESS_KEEPER_TAG;
    for (int i = 0; i < 3; i++)
        lrt_go(receiver, c);
    for (;;)
        lrt_sleep(LRT_MILLISECOND);                /* alive: wakes by itself */
    (void)tag;
}

/* The keeper that never parks: always running, on a worker of its own. */
static void running_keeper(void *arg)
{
    (void)arg;
    lrt_chan *volatile c = lrt_chan_make(0, 0);
    volatile uint64_t tag = SOUNDNESS_KEEPER_TAG;
    for (int i = 0; i < 3; i++)
        lrt_go(receiver, c);
    while (tag == SOUNDNESS_KEEPER_TAG)
        ;                                          /* alive: it runs */
}

/* Mallocs a block holding a channel, starts its receiver, and returns:
 * the block is lost (never freed, nothing points to it). */
static void malloc_lost_setup(void *arg)
{
    (void)arg;
    lrt_chan **block = malloc(2 * sizeof *block);
    block[1] = lrt_chan_make(0, 0);
    lrt_go(receiver, block[1]);
}

/* A list of n malloc'd nodes of varied sizes; the last holds c. */
typedef struct heavy_node { struct heavy_node *next; lrt_chan *chan; char bytes[]; } heavy_node;

static heavy_node *heavy_list(int n, lrt_chan *c, unsigned seed)
{
    heavy_node *head = NULL;
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t size = i % 997 == 0 ? 40000 + seed % 9000 : 16 + (seed >> 8) % 500;
        heavy_node *node = malloc(sizeof *node + size);
        if (i % 5 == 0)                           /* grown into another class */
            node = realloc(node, sizeof *node + size * 3);
        node->next = head;
        node->chan = i == 0 ? c : NULL;           /* the first made ends the list */
        memset(node->bytes, 0x5a, 16);
        head = node;
        free(malloc(size));                       /* as many go again */
    }
    return head;
}

static void malloc_heavy_setup(void *arg)
{
    (void)arg;
    lrt_chan *kept = lrt_chan_make(0, 0), *lost = lrt_chan_make(0, 0);
    soundness_malloc_holder = heavy_list(40000, kept, 1);
    lrt_go(receiver, kept);
    heavy_list(1000, lost, 2);                    /* nothing keeps it */
    lrt_go(receiver, lost);
}

static void wg_waiter(void *wg) { lrt_wg_wait(wg); }

static void labels_mixed_setup(void *arg)
{
    (void)arg;
    lrt_label_set("request", "7");
    lrt_go(receiver, lrt_chan_make(0, 0));
    lrt_wg *wg = lrt_alloc(sizeof *wg);
    lrt_wg_add(wg, 1);                            /* nobody calls done */
    lrt_go(wg_waiter, wg);
}

static void exit_noop(int status, void *arg) { (void)status; (void)arg; }

/* Hands a malloc'd block holding a channel to on_exit past the 32 entries
 * glibc keeps in its own static list: the block's pointer then lives only
 * in a list node glibc malloc'd. Returns (keeps nothing itself). */
static void libc_keeps_setup(void *arg)
{
    (void)arg;
    for (int i = 0; i < 40; i++)
        on_exit(exit_noop, NULL);
    lrt_chan **block = malloc(3 * sizeof *block);
    block[2] = lrt_chan_make(0, 0);
    lrt_go(receiver, block[2]);
    on_exit(exit_noop, block);
}

/* Registers a malloc'd block holding a channel with epoll (its only
 * pointer then is in the kernel), pinned or not, and returns. */
int soundness_epoll_fd = -1;

static void epoll_setup(void *pin)
{
    lrt_chan **block = malloc(2 * sizeof *block);
    block[1] = lrt_chan_make(0, 0);
    lrt_go(receiver, block[1]);
    soundness_epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = block };
    if (epoll_ctl(soundness_epoll_fd, EPOLL_CTL_ADD, eventfd(0, EFD_CLOEXEC), &ev) != 0)
        abort();
    if (pin)
        lrt_pin(block);
}

/* A running task whose stack alone holds a malloc'd block with a channel. */
static void malloc_keeper(void *arg)
{
    (void)arg;
    lrt_chan **volatile block = malloc(4 * sizeof *block);
    block[2] = lrt_chan_make(0, 0);
    lrt_go(receiver, block[2]);
    for (;;)
        lrt_sleep(LRT_MILLISECOND);                /* alive: wakes by itself */
}

static void nil_receiver(void *arg)
{
    (void)arg;
    lrt_chan_recv(NULL, NULL);                     /* never wakes, whatever memory says */
}

static void counts_helper(void *arg)
{
    (void)arg;
    lrt_chan *many = lrt_chan_make(0, 0), *one = lrt_chan_make(0, 0);
    for (int i = 0; i < 100; i++)
        lrt_go(receiver, many);
    lrt_go(lone_receiver, one);
}

typedef struct node { struct node *next; void *buffer; char pad[1024 - 16]; } node;
static node *first_holder_head;
static void *sharer_object;

static void holder(void *arg)
{
    node *volatile head = NULL;
    for (int i = 0; i < 3; i++) {
        node *n = lrt_alloc(sizeof *n);            /* 1,024 bytes: a size class */
        n->next = head;
        head = n;
    }
    head->buffer = lrt_alloc_noscan(4096);
    if (arg)
        first_holder_head = head;
    lrt_chan_recv(NULL, NULL);                     /* parked forever, pinning it all */
}

static void sharer(void *arg)
{
    void *volatile mine = sharer_object, *volatile theirs = arg;
    (void)mine, (void)theirs;
    lrt_chan_recv(NULL, NULL);
}

static void retain_setup(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++) {
        lrt_go(holder, i == 0 ? (void *)1 : NULL);
        lrt_yield();
    }
    while (!__atomic_load_n(&first_holder_head, __ATOMIC_SEQ_CST))
        lrt_sleep(LRT_MILLISECOND);
    sharer_object = lrt_alloc(2048);
    for (int i = 0; i < 2; i++)
        lrt_go(sharer, first_holder_head);
    sharer_object = NULL;
    first_holder_head = NULL;                      /* only the tasks know them now */
}

/* Not static, and not inlined: the crash report names it. The null store
 * is the point: UBSan (sanitize builds) must let it reach the kernel. */
void soundness_crashing_task(void *arg);
__attribute__((noinline, no_sanitize("undefined"))) void soundness_crashing_task(void *arg)
{
    volatile int *nowhere = arg;
    lrt_wg_wait(&settled);
    lrt_sleep(20 * LRT_MILLISECOND);
    *nowhere = 1;                          /* SIGSEGV at address 0 */
}

static void snapshot_then_exit(void *arg)
{
    (void)arg;
    lrt_sleep(20 * LRT_MILLISECOND);
    const char *path = getenv("LEAKSCAN_AT_EXIT");
    if (path)
        lrt_snapshot(path, "main blocked");
    exit(0);
}

static void run(void *arg)
{
    (void)arg;
    if (strcmp(mode, "first-object") == 0) {
        lrt_go(receiver, lrt_chan_make(0, 0));   /* the first allocation */
    } else if (strcmp(mode, "malloc") == 0) {
        lrt_chan *c = lrt_chan_make(0, 0);
        soundness_malloc_holder = malloc(64);
        memcpy(soundness_malloc_holder, &c, sizeof c);
        lrt_go(receiver, c);
    } else if (strcmp(mode, "malloc-chain") == 0) {
        void **outer = malloc(3 * sizeof *outer);
        lrt_chan **inner = malloc(5 * sizeof *inner);
        inner[4] = lrt_chan_make(0, 0);
        outer[1] = inner;
        soundness_malloc_holder = outer;
        lrt_go(receiver, inner[4]);
    } else if (strcmp(mode, "malloc-stack") == 0) {
        lrt_go(malloc_keeper, NULL);
    } else if (strcmp(mode, "malloc-lost") == 0) {
        go_setup(malloc_lost_setup, NULL);         /* main keeps no references */
    } else if (strcmp(mode, "mutex-exited") == 0) {
        go_setup(mutex_exited_setup, NULL);
    } else if (strcmp(mode, "labels-mixed") == 0) {
        go_setup(labels_mixed_setup, NULL);
    } else if (strcmp(mode, "malloc-heavy") == 0) {
        go_setup(malloc_heavy_setup, NULL);        /* main keeps no references */
    } else if (strcmp(mode, "libc-keeps") == 0) {
        go_setup(libc_keeps_setup, NULL);
    } else if (strcmp(mode, "epoll-unpinned") == 0 || strcmp(mode, "epoll-pinned") == 0) {
        go_setup(epoll_setup, mode[6] == 'p' ? (void *)1 : NULL);
    } else if (strcmp(mode, "global") == 0) {
        soundness_global_chan = lrt_chan_make(0, 0);
        lrt_go(receiver, soundness_global_chan);
    } else if (strcmp(mode, "running-stack") == 0 || strcmp(mode, "leaked-stack") == 0) {
        lrt_mutex **where = lrt_alloc(sizeof *where);
        lrt_go(mode[0] == 'r' ? mutex_owner_running : mutex_owner_leaked, where);
        while (!*where)
            lrt_sleep(LRT_MILLISECOND);
        lrt_go(locker, *where);
        *where = NULL;                     /* only the owner's stack knows mu now */
    } else if (strcmp(mode, "select-mixed") == 0) {
        lrt_chan **two = lrt_alloc(2 * sizeof *two);
        soundness_global_chan = lrt_chan_make(0, 0);      /* reachable */
        two[0] = soundness_global_chan;
        two[1] = lrt_chan_make(0, 0);           /* not */
        lrt_go(selector, two);
    } else if (strcmp(mode, "stack-keeper") == 0 || strcmp(mode, "stack-keeper-running") == 0) {
        lrt_go(mode[12] ? running_keeper : keeper, NULL);
        lrt_go(lone_receiver, lrt_chan_make(0, 0));
        lrt_go(nil_receiver, NULL);
    } else if (strcmp(mode, "retain") == 0) {
        go_setup(retain_setup, NULL);              /* main keeps no references */
    } else if (strcmp(mode, "wait-for-core") == 0 || strcmp(mode, "crash-in-task") == 0) {
        go_setup(counts_helper, NULL);             /* main keeps no references */
        if (mode[0] == 'c')
            lrt_go(soundness_crashing_task, NULL);
    } else if (strcmp(mode, "counts") == 0) {
        lrt_chan *many = lrt_chan_make(0, 0), *one = lrt_chan_make(0, 0);
        for (int i = 0; i < 100; i++)
            lrt_go(receiver, many);
        lrt_go(lone_receiver, one);
    } else if (strcmp(mode, "main-blocked") == 0) {
        lrt_go(snapshot_then_exit, NULL);
        lrt_chan_recv(lrt_chan_make(0, 0), NULL);  /* main parks forever */
    } else {
        fprintf(stderr, "soundness: unknown mode '%s'\n", mode);
        exit(2);
    }
    lrt_wg_wait(&settled);
    lrt_sleep(20 * LRT_MILLISECOND);               /* the tasks they started park */
    if (strcmp(mode, "wait-for-core") == 0 || wait_for_core) {
        printf("ready\n");
        fflush(stdout);
        lrt_sleep(60 * LRT_SECOND);
    }
}

/* The program keeps malloc'd blocks unfreed on purpose (they are what
 * leakscan judges): LeakSanitizer's own check at exit is off for it in
 * sanitizer builds, so its exit status stays the program's. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return 1; }

int main(int argc, char **argv)
{
    mode = argc > 1 ? argv[1] : "";
    wait_for_core = argc > 2 && strcmp(argv[2], "wait") == 0;
    return lrt_main(run, NULL) == 0 ? 0 : 1;
}
