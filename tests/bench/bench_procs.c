#include "bench_procs.h"
#include "clock.h"
#include "xalloc.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct bench_procs {
    int n;
    pid_t pids[BENCH_MAX_WORKER_CONNS];
    bool reaped[BENCH_MAX_WORKER_CONNS];
};

static void s_child(const bench_opts_t *o, const char *queue, int slots)
{
    char slots_s[16];
    snprintf(slots_s, sizeof slots_s, "%d", slots);
    size_t extra = 0;
    while (o->worker_args && o->worker_args[extra])
        extra++;
    const char **argv = xcalloc(11 + extra + 1, sizeof *argv);
    size_t k = 0;
    argv[k++] = o->worker_bin;
    argv[k++] = "--slots";
    argv[k++] = slots_s;
    argv[k++] = "--queues";
    argv[k++] = queue;
    argv[k++] = "--types";
    argv[k++] = "noop";
    argv[k++] = "--endpoint";
    argv[k++] = o->worker_ep;
    argv[k++] = "--log-level";
    argv[k++] = "warn";
    for (size_t i = 0; i < extra; i++)
        argv[k++] = o->worker_args[i]; /* later flags override earlier ones */
    execv(o->worker_bin, (char *const *)argv);
    fprintf(stderr, "orch-bench: could not run \"%s\": %s\n", o->worker_bin, strerror(errno));
    _exit(127);
}

bench_procs_t *bench_procs_spawn(const bench_opts_t *o, const char *queue, int slots)
{
    if (access(o->worker_bin, X_OK) != 0) {
        fprintf(stderr, "orch-bench: cannot run worker binary \"%s\": %s\n", o->worker_bin,
                strerror(errno));
        return NULL;
    }
    bench_procs_t *p = xcalloc(1, sizeof *p);
    int nconns = slots < BENCH_MAX_WORKER_CONNS ? slots : BENCH_MAX_WORKER_CONNS;
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < nconns; i++) {
        int k = slots / nconns + (i < slots % nconns ? 1 : 0);
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "orch-bench: could not fork: %s\n", strerror(errno));
            bench_procs_stop(&p);
            return NULL;
        }
        if (pid == 0)
            s_child(o, queue, k);
        p->pids[p->n++] = pid;
    }
    return p;
}

int bench_procs_count(const bench_procs_t *p)
{
    return p->n;
}

int bench_procs_exited(bench_procs_t *p)
{
    int exited = 0;
    for (int i = 0; i < p->n; i++) {
        if (!p->reaped[i] && waitpid(p->pids[i], NULL, WNOHANG) == p->pids[i])
            p->reaped[i] = true;
        exited += p->reaped[i];
    }
    return exited;
}

static bool s_wait_exit(pid_t pid, int64_t deadline_ns)
{
    while (clock_mono_ns() < deadline_ns) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return true;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

void bench_procs_stop(bench_procs_t **pp)
{
    if (!pp || !*pp)
        return;
    bench_procs_t *p = *pp;
    for (int i = 0; i < p->n; i++)
        if (!p->reaped[i])
            kill(p->pids[i], SIGTERM);
    for (int i = 0; i < p->n; i++) {
        if (p->reaped[i])
            continue;
        if (!s_wait_exit(p->pids[i], clock_mono_ns() + 10000000000LL)) {
            fprintf(stderr, "orch-bench: orch-worker pid %d ignored SIGTERM; killing it\n",
                    (int)p->pids[i]);
            kill(p->pids[i], SIGKILL);
            waitpid(p->pids[i], NULL, 0);
        }
    }
    free(p);
    *pp = NULL;
}
