/*
 * timings.c — LEAKSCAN_TIMINGS=1: the wall time of each phase (load, mark
 * + fixpoint, unwind + symbolise, report) and the peak anonymous memory,
 * printed to stderr as one line at exit, for scripts/bench:
 *
 *   leakscan-timings load_ms=.. mark_ms=.. unwind_ms=.. report_ms=..
 *                    total_ms=.. peak_anon_mib=.. file_mib=..
 *
 * Peak anonymous memory is sampled, not traced: the largest RssAnon seen
 * at each phase end and where a phase frees its scratch memory (touched
 * pages stay resident until freed, so a scratch array's high-water mark is
 * seen). The snapshot is mapped from its file: its pages are RssFile, not
 * anonymous. Off (one getenv) unless the variable is set.
 */
#include "leakscan.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_PHASES 8

static struct {
    int         enabled;        /* -1: not yet asked */
    double      start, last;    /* ms, monotonic */
    const char *names[MAX_PHASES];
    double      ms[MAX_PHASES];
    size_t      nphases;
    uint64_t    peak_anon;      /* bytes */
    uint64_t    file_size;
} timings = { .enabled = -1 };

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void ls_timing_sample(void)
{
    if (timings.enabled <= 0)
        return;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return;
    char line[256];
    uint64_t anon = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "RssAnon: %llu", &kb) == 1)
            anon = kb * 1024;
    }
    fclose(f);
    if (anon > timings.peak_anon)
        timings.peak_anon = anon;
}

static void print_timings(void)
{
    ls_timing("report");
    fprintf(stderr, "leakscan-timings");
    for (size_t i = 0; i < timings.nphases; i++)
        fprintf(stderr, " %s_ms=%.1f", timings.names[i], timings.ms[i]);
    fprintf(stderr, " total_ms=%.1f peak_anon_mib=%.1f file_mib=%.1f\n", timings.last - timings.start,
            (double)timings.peak_anon / 1048576, (double)timings.file_size / 1048576);
}

void ls_timing_start(const char *path)
{
    if (timings.enabled < 0) {
        const char *v = getenv("LEAKSCAN_TIMINGS");
        timings.enabled = v && *v && strcmp(v, "0") != 0;
        if (timings.enabled)
            atexit(print_timings);
    }
    if (!timings.enabled)
        return;
    struct stat st;
    if (path && stat(path, &st) == 0)
        timings.file_size = (uint64_t)st.st_size;
    timings.start = timings.last = now_ms();
    timings.nphases = 0;
    timings.peak_anon = 0;
    ls_timing_sample();
}

void ls_timing(const char *phase)
{
    if (timings.enabled <= 0)
        return;
    double t = now_ms();
    ls_timing_sample();
    size_t i = 0;
    while (i < timings.nphases && strcmp(timings.names[i], phase) != 0)
        i++;
    if (i == timings.nphases) {
        if (i == MAX_PHASES)
            return;
        timings.names[timings.nphases++] = phase;
        timings.ms[i] = 0;
    }
    timings.ms[i] += t - timings.last;
    timings.last = t;
}
