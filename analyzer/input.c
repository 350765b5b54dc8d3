/*
 * input.c — what a view reads, from a snapshot or core (analysed and
 * unwound here) or from a saved JSON result (json_load.c).
 *
 * The path is opened once, and what it is decided from that descriptor:
 * a FIFO or pipe (`leakscan <(cat result.json)`) can be read only once,
 * so looking at its first byte and opening it again loses that byte, or
 * waits forever for a writer that has gone.
 */
#define _GNU_SOURCE
#include "leakscan.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A saved result is at most this big: a stream must not grow without end
 * in memory (a million leaked tasks make tens of MiB). */
#define MAX_JSON_BYTES ((size_t)1 << 30)

enum { NOT_JSON, IS_JSON };

/* Reads fd to its end into *text if its first non-blank byte is '{' (a
 * JSON result); stops at that byte otherwise (a core, or something else,
 * whose bytes are not wanted). The descriptor is non-blocking (so that
 * opening a FIFO did not wait): from a FIFO, poll waits for data — and
 * for a writer, as cat does, since Linux reports no hang-up on a FIFO
 * that has not had one yet. IS_JSON, NOT_JSON, or -1 with err. */
static int read_json(const char *path, int fd, bool stream, char **text, ls_error *err)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    bool decided = false;
    if (!buf)
        return ls_error_set(err, path, "out of memory");
    for (;;) {
        if (len + 1 == cap) {
            if (len > MAX_JSON_BYTES) {
                free(buf);
                return ls_error_set(err, path, "a JSON result larger than %zu MiB is not read",
                                    MAX_JSON_BYTES >> 20);
            }
            cap = cap * 2 > MAX_JSON_BYTES + 2 ? MAX_JSON_BYTES + 2 : cap * 2;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                return ls_error_set(err, path, "out of memory");
            }
            buf = grown;
        }
        if (stream) {
            struct pollfd p = { .fd = fd, .events = POLLIN };
            if (poll(&p, 1, -1) < 0 && errno != EINTR) {
                int e = errno;
                free(buf);
                return ls_error_set(err, path, "cannot read: %s", strerror(e));
            }
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            return ls_error_set(err, path, "cannot read: %s", strerror(e));
        }
        if (n == 0)
            break;
        for (size_t i = len; !decided && i < len + (size_t)n; i++) {
            if (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' || buf[i] == '\r')
                continue;
            if (buf[i] != '{') {
                free(buf);
                return NOT_JSON;
            }
            decided = true;
        }
        len += (size_t)n;
    }
    if (!decided) {                         /* empty, or blanks only */
        free(buf);
        return NOT_JSON;
    }
    buf[len] = '\0';
    *text = buf;
    return IS_JSON;
}

/* What `leakscan run` knows of the file, for the views' header. */
static void mark_run(ls_snapshot *s, const ls_options *opt)
{
    if (opt) {
        s->run_program = opt->run_program;
        s->run_temporary = opt->run_temporary;
    }
}

int ls_input_open(const char *path, const ls_options *opt, int explain, ls_input *in, ls_error *err)
{
    memset(in, 0, sizeof *in);
    /* O_NONBLOCK: opening a FIFO must not wait for a writer here (read_json
     * does, once it knows it is one); a device must not block either. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return ls_error_set(err, path, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ls_error_set(err, path, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
        close(fd);
        return ls_error_set(err, path, "not a regular file (%s): give a snapshot, a core or a --json "
                            "result", ls_file_type_text(st.st_mode));
    }
    bool stream = S_ISFIFO(st.st_mode);
    char *text = NULL;
    int kind = read_json(path, fd, stream, &text, err);
    if (kind != IS_JSON && (kind < 0 || stream)) {
        close(fd);
        if (kind < 0)
            return -1;
        return ls_error_set(err, path, "a FIFO or pipe holds no JSON result, and a snapshot or core "
                            "cannot be read from one: it is mapped into memory, not read as a stream; "
                            "save it to a file first");
    }
    if (kind == IS_JSON) {
        close(fd);
        if (explain == LS_EXPLAIN) {
            free(text);
            return ls_error_set(err, path, "a JSON result keeps no heap to explain: give the snapshot");
        }
        if (ls_saved_load_text(path, text, &in->saved, &in->s, &in->a, &in->u, err) != 0)
            return -1;
        mark_run(in->s, opt);
        if (ls_apply_suppressions(in->s, in->a, in->u, opt ? opt->suppressions : NULL, !(opt && opt->quiet)) != 0)
            return ls_error_set(err, path, "out of memory");
        return 0;
    }
    ls_timing_start(path);
    if (ls_snapshot_open_fd(path, fd, opt, &in->s, err) != 0)   /* owns fd now */
        return -1;
    mark_run(in->s, opt);
    ls_timing("load");
    if (ls_analyze_explained(in->s, explain != LS_EXPLAIN_NO, &in->a, err) != 0)
        return -1;
    ls_timing("mark");
    if (ls_unwinder_create(in->s, opt, &in->u, err) != 0)
        return -1;
    if (ls_apply_suppressions(in->s, in->a, in->u, opt ? opt->suppressions : NULL, !(opt && opt->quiet)) != 0)
        return ls_error_set(err, path, "out of memory");
    ls_timing("unwind");                    /* with ls_group_leaks' */
    return 0;
}

void ls_input_close(ls_input *in)
{
    if (in->saved) {
        ls_saved_free(in->saved);           /* owns s, a and u */
    } else {
        ls_unwinder_destroy(in->u);
        ls_analysis_free(in->a);
        ls_snapshot_close(in->s);
    }
    free(in->owned_path);
    memset(in, 0, sizeof *in);
}
