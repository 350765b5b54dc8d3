/*
 * fleet.c — a view over several files (`leakscan top a.snap b.snap ...`):
 * each file analysed in a worker process of its own, at most -j of them
 * at once, whose result comes back through a pipe (its groups as JSON,
 * its tasks as arrays of facts, facts.h) and is merged (merge.c) in the
 * order of the files, so the report does not depend on
 * which worker finished first. A process per file keeps the memory that of
 * the files being analysed at the moment, not their sum, and a file that
 * crashes its analysis or cannot be read costs only itself: it is named
 * on stderr, the report is of the others, and the exit status says 2.
 */
#define _GNU_SOURCE
#include "leakscan.h"
#include "merge.h"
#include "facts.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_RESULT_BYTES ((size_t)1 << 30)   /* as for a saved result (input.c) */

typedef struct job {
    pid_t  pid;
    int    fd;
    size_t file;
    char  *buf;
    size_t len, cap;
    bool   too_big;
} job;

/* What a worker passes on: this magic, three counts (the JSON text's
 * bytes, the tasks, their ancestors), then the result's JSON without its
 * tasks, and the tasks' facts as they are in memory (facts.h). Parent and
 * worker are one program, so the layout is theirs to share; the counts
 * are checked against what arrived all the same. */
static const char wire_magic[8] = "LSFACTS1";

static int write_all(FILE *out, const void *p, size_t n)
{
    return n == 0 || fwrite(p, n, 1, out) == 1 ? 0 : -1;
}

static int pass_on(FILE *out, const ls_input *in, const ls_report *r)
{
    ls_facts facts;
    cJSON *doc = ls_result_json(in->s, in->a, in->u, r, &facts);
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!text) {
        if (doc)
            ls_facts_free(&facts);
        return -1;
    }
    uint64_t counts[3] = { strlen(text), facts.ntasks, facts.nancestors };
    int status = write_all(out, wire_magic, sizeof wire_magic) | write_all(out, counts, sizeof counts) |
                 write_all(out, text, counts[0]) |
                 write_all(out, facts.tasks, facts.ntasks * sizeof *facts.tasks) |
                 write_all(out, facts.ancestors, facts.nancestors * sizeof *facts.ancestors);
    free(text);
    ls_facts_free(&facts);
    return status | fflush(out);
}

/* A message's whole size, from its head (the magic and the counts, to
 * *counts); 0 while the head is not all in, or it is not one, or it says
 * more than a result may be. */
static size_t wire_size(const char *buf, size_t len, uint64_t counts[3])
{
    size_t head = sizeof wire_magic + 3 * sizeof *counts;
    if (len < head || memcmp(buf, wire_magic, sizeof wire_magic) != 0)
        return 0;
    memcpy(counts, buf + sizeof wire_magic, 3 * sizeof *counts);
    if (counts[0] > MAX_RESULT_BYTES || counts[1] > MAX_RESULT_BYTES / sizeof(ls_fact) ||
        counts[2] > MAX_RESULT_BYTES / sizeof(ls_fact_ancestor))
        return 0;
    return head + counts[0] + counts[1] * sizeof(ls_fact) + counts[2] * sizeof(ls_fact_ancestor);
}

/* A worker's message taken apart: its JSON parsed, its facts copied out.
 * NULL: not a whole message (or out of memory). */
static cJSON *take_apart(const char *buf, size_t len, ls_facts *facts)
{
    *facts = (ls_facts){ 0 };
    uint64_t counts[3];
    size_t whole = wire_size(buf, len, counts), head = sizeof wire_magic + sizeof counts;
    if (!whole || whole != len)
        return NULL;
    const char *at = buf + head;
    cJSON *doc = cJSON_ParseWithLength(at, counts[0]);
    at += counts[0];
    facts->tasks = malloc(counts[1] ? counts[1] * sizeof(ls_fact) : 1);
    facts->ancestors = malloc(counts[2] ? counts[2] * sizeof(ls_fact_ancestor) : 1);
    if (!doc || !facts->tasks || !facts->ancestors) {
        cJSON_Delete(doc);
        ls_facts_free(facts);
        return NULL;
    }
    memcpy(facts->tasks, at, counts[1] * sizeof(ls_fact));
    memcpy(facts->ancestors, at + counts[1] * sizeof(ls_fact), counts[2] * sizeof(ls_fact_ancestor));
    facts->ntasks = counts[1];
    facts->nancestors = counts[2];
    return doc;
}

int ls_fleet_worker(const char *path, const ls_options *opt, int fd)
{
    ls_options o = *opt;
    o.suppressions = NULL;          /* applied once, to the merged result */
    o.pprof = NULL;
    ls_error err;
    ls_input in;
    ls_report r = { 0 };
    FILE *out = fdopen(fd, "w");
    snprintf(err.message, sizeof err.message, "%s: out of memory", path);
    int status = 2;
    bool opened = false;
    if (out && ls_set_group_by("stack", &err) == 0 &&
        (opened = ls_input_open(path, &o, LS_EXPLAIN_NO, &in, &err) == 0) &&
        ls_group_leaks(in.s, in.a, in.u, opt->all, &r, &err) == 0 &&
        ls_retained(in.s, in.a, &r, &err) == 0) {
        if (pass_on(out, &in, &r) == 0)
            status = 0;
        else
            ls_error_set(&err, path, "cannot pass its result on");
    }
    if (status)
        fprintf(stderr, "leakscan: %s\n", err.message);
    ls_report_free(&r);
    if (opened)
        ls_input_close(&in);
    if (out)
        fclose(out);
    return status;
}

/* A worker's command line: this program again, told to be path's worker
 * (writing to fd), with the options the parent was given (they say how
 * to read a file: --exe, --debug-dir, --all, ...). NULL: out of memory. */
static char **worker_args(const char *path, const ls_options *opt, char *fd_text)
{
    size_t n = 0;
    char **args = calloc((size_t)opt->noption_args + 6, sizeof *args);
    if (!args)
        return NULL;
    args[n++] = "leakscan";
    args[n++] = "--fleet-worker";
    args[n++] = fd_text;
    args[n++] = "--fleet-file";
    args[n++] = (char *)path;
    for (int k = 0; k < opt->noption_args; k++)
        args[n++] = opt->option_args[k];
    return args;
}

/* A worker for path: a fresh process (this program executed again), so
 * that its memory is its own and not the pages of the parent it was
 * forked from, which grow with every file merged; where it cannot be
 * executed again (no /proc), the forked copy does the work itself. */
static int start(job *j, const char *path, size_t file, const ls_options *opt, ls_error *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return ls_error_set(err, path, "cannot make a pipe: %s", strerror(errno));
    char fd_text[16];
    snprintf(fd_text, sizeof fd_text, "%d", p[1]);
    char **args = worker_args(path, opt, fd_text);
    if (!args) {
        close(p[0]);
        close(p[1]);
        return ls_error_set(err, path, "out of memory");
    }
    fflush(NULL);                   /* nothing buffered is written twice */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        free(args);
        return ls_error_set(err, path, "cannot start a worker: %s", strerror(e));
    }
    if (pid == 0) {
        close(p[0]);
        if (fcntl(p[1], F_SETFD, 0) == 0)       /* its end stays open across exec */
            execv("/proc/self/exe", args);
        _exit(ls_fleet_worker(path, opt, p[1]));
    }
    free(args);
    close(p[1]);
    *j = (job){ .pid = pid, .fd = p[0], .file = file };
    return 0;
}

/* Reads what is there; 1 at the end, 0 for more, -1: out of memory. */
static int drain(job *j)
{
    for (;;) {
        if (j->cap - j->len < 65536) {
            size_t cap = j->cap ? 2 * j->cap : 262144;
            uint64_t counts[3];            /* room for the whole message, once its head is in */
            size_t whole = j->buf ? wire_size(j->buf, j->len, counts) : 0;
            if (whole && whole + 65536 > cap)
                cap = whole + 65536;
            char *grown = realloc(j->buf, cap);
            if (!grown)
                return -1;
            j->buf = grown;
            j->cap = cap;
        }
        ssize_t n = read(j->fd, j->buf + j->len, j->cap - j->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 1;
        j->len += (size_t)n;
        if (j->len > MAX_RESULT_BYTES) {
            j->too_big = true;
            return 1;
        }
        return 0;
    }
}

/* The worker's status: 0 when it passed on a whole result. */
static int reap(job *j, const char *path)
{
    int st;
    while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR)
        ;
    close(j->fd);
    if (WIFSIGNALED(st))
        fprintf(stderr, "leakscan: %s: its analysis was killed by signal %d (%s)\n", path,
                WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (j->too_big)
        fprintf(stderr, "leakscan: %s: a result larger than %zu MiB is not merged\n", path,
                MAX_RESULT_BYTES >> 20);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && !j->too_big)
        return 0;
    return -1;
}

/* The files read, for the views' header: "a.snap, b.snap, c.snap",
 * "a, b, c and 9 more". */
static char *describe(char *const *paths, const bool *read, size_t n)
{
    size_t size = 64, shown = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        size += read[i] ? strlen(paths[i]) + 2 : 0;
    char *d = malloc(size);
    if (!d)
        return NULL;
    int len = 0;
    d[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!read[i])
            continue;
        if (shown < 3)
            len += snprintf(d + len, size - (size_t)len, "%s%s", shown++ ? ", " : "", paths[i]);
        total++;
    }
    if (total > shown)
        snprintf(d + len, size - (size_t)len, " and %zu more", total - shown);
    return d;
}

static void progress(const ls_options *opt, size_t done, size_t n)
{
    if (opt->quiet || !isatty(STDERR_FILENO))
        return;
    if (done < n)
        fprintf(stderr, "\rleakscan: %zu of %zu files analysed", done, n);
    else
        fprintf(stderr, "\r\033[K");
}

int ls_input_open_many(char *const *paths, size_t n, const ls_options *opt, ls_input *in,
                       size_t *failed, ls_error *err)
{
    *failed = 0;
    if (n == 1) {
        int status = ls_input_open(paths[0], opt, LS_EXPLAIN_NO, in, err);
        *failed = status != 0;
        return status;
    }
    memset(in, 0, sizeof *in);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t width = opt->jobs ? (size_t)opt->jobs : cpus > 0 ? (size_t)cpus : 1;
    if (width > n)
        width = n;
    job *jobs = calloc(width, sizeof *jobs);
    struct pollfd *fds = calloc(width, sizeof *fds);
    char **results = calloc(n, sizeof *results);
    size_t *lengths = calloc(n, sizeof *lengths);
    uint8_t *done = calloc(n, 1);          /* 1: finished; 2: and merged */
    ls_merge *m = ls_merge_new();
    if (!jobs || !fds || !results || !lengths || !done || !m) {
        free(jobs), free(fds), free(results), free(lengths), free(done), ls_merge_free(m);
        return ls_error_set(err, NULL, "out of memory");
    }
    size_t started = 0, running = 0, finished = 0, merged = 0, good = 0;
    int status = 0;
    while (status == 0 && finished < n) {
        while (running < width && started < n) {
            if (start(&jobs[running], paths[started], started, opt, err) != 0) {
                fprintf(stderr, "leakscan: %s\n", err->message);
                done[started++] = true;
                finished++;
                (*failed)++;
                continue;
            }
            running++;
            started++;
        }
        for (size_t k = 0; k < running; k++)
            fds[k] = (struct pollfd){ .fd = jobs[k].fd, .events = POLLIN };
        if (running && poll(fds, running, -1) < 0 && errno != EINTR) {
            status = ls_error_set(err, NULL, "cannot wait for the workers: %s", strerror(errno));
            break;
        }
        for (size_t k = 0; k < running; k++) {
            if (!fds[k].revents)
                continue;
            job *j = &jobs[k];
            int end = drain(j);
            if (end < 0) {
                status = ls_error_set(err, paths[j->file], "out of memory");
                break;
            }
            if (!end)
                continue;
            if (reap(j, paths[j->file]) == 0) {
                results[j->file] = j->buf;
                lengths[j->file] = j->len;
            } else {
                free(j->buf);
                (*failed)++;
            }
            done[j->file] = true;
            finished++;
            jobs[k] = jobs[--running];      /* its poll slot is stale: redo the poll */
            fds[k].revents = 0;
            progress(opt, finished, n);
            break;
        }
        /* Merged in the files' order, as soon as a prefix of them is done. */
        for (; status == 0 && merged < n && done[merged]; merged++) {
            if (!results[merged])
                continue;
            ls_facts facts;
            cJSON *doc = take_apart(results[merged], lengths[merged], &facts);
            free(results[merged]);
            results[merged] = NULL;
            if (!doc || ls_merge_add(m, paths[merged], doc, &facts, opt->quiet, err) != 0) {
                if (!doc)
                    ls_error_set(err, paths[merged], "its worker passed on no whole result");
                fprintf(stderr, "leakscan: %s\n", err->message);
                (*failed)++;
            } else {
                good++;
                done[merged] = 2;          /* read, for the header */
            }
            cJSON_Delete(doc);
        }
    }
    for (size_t k = 0; k < running; k++) {      /* after an error: stop the rest */
        kill(jobs[k].pid, SIGKILL);
        reap(&jobs[k], paths[jobs[k].file]);
        free(jobs[k].buf);
    }
    bool *read = calloc(n, sizeof *read);
    for (size_t i = 0; i < n; i++) {
        free(results[i]);
        if (read)
            read[i] = done[i] == 2;
    }
    ls_facts facts = { 0 };
    cJSON *doc = status == 0 && good ? ls_merge_finish(m, &facts) : NULL;
    char *name = status == 0 && good && read ? describe(paths, read, n) : NULL;
    free(read);
    free(jobs), free(fds), free(results), free(lengths), free(done);
    ls_merge_free(m);
    if (status != 0)
        return -1;
    if (!good)
        return ls_error_set(err, NULL, "none of the %zu files could be read", n);
    if (!doc || !name) {
        cJSON_Delete(doc);
        ls_facts_free(&facts);
        free(name);
        return ls_error_set(err, NULL, "out of memory");
    }
    in->owned_path = name;
    if (ls_saved_load_doc(name, doc, &facts, &in->saved, &in->s, &in->a, &in->u, err) != 0) {
        free(name);
        in->owned_path = NULL;
        return -1;
    }
    if (ls_apply_suppressions(in->s, in->a, in->u, opt->suppressions, !opt->quiet) != 0) {
        ls_input_close(in);
        return ls_error_set(err, NULL, "out of memory");
    }
    return 0;
}
