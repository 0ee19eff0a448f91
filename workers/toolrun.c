#include "toolrun.h"

#include "clock.h"
#include "orch_error.h"
#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define TOOLRUN_KILL_GRACE_MS 2000

/* In the child, between fork and exec: async-signal-safe calls only. */
static void s_child(const char *path, char *const argv[], char *const envp[], int out, int err,
                    int report, int maxfd)
{
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, 0);
    dup2(out, 1);
    dup2(err, 2);
    /* The worker's other descriptors (ZeroMQ, PostgreSQL, curl) must not
     * leak into the tool: mark them all close-on-exec. report is already
     * close-on-exec, so it stays open until execve succeeds. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
        for (int fd = 3; fd < maxfd; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    /* the worker may block signals on its threads; the tool must not inherit that */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(path, argv, envp);
    int e = errno;
    ssize_t w = write(report, &e, sizeof e);
    (void)w;
    _exit(127);
}

typedef struct {
    int fd;
    strbuf_t buf;
} s_stream_t;

static void s_drain(s_stream_t *s)
{
    char chunk[8192];
    ssize_t n = read(s->fd, chunk, sizeof chunk);
    if (n > 0) {
        size_t room = s->buf.len < TOOLRUN_MAX_CAPTURE ? TOOLRUN_MAX_CAPTURE - s->buf.len : 0;
        strbuf_append(&s->buf, chunk, (size_t)n < room ? (size_t)n : room);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(s->fd);
        s->fd = -1;
    }
}

/* Waits for output and the child's end; kills the group on timeout/cancel. */
static int s_supervise(pid_t pid, s_stream_t st[2], int64_t timeout_ms, atomic_bool *cancelled,
                       toolrun_result_t *res)
{
    bool reaped = false;
    int64_t start = clock_mono_ms(), kill_at = -1;
    int status = 0;
    for (;;) {
        struct pollfd p[2];
        s_stream_t *who[2];
        int np = 0;
        for (int i = 0; i < 2; i++)
            if (st[i].fd >= 0) {
                who[np] = &st[i];
                p[np++] = (struct pollfd){.fd = st[i].fd, .events = POLLIN};
            }
        if (np > 0 && poll(p, (nfds_t)np, 100) > 0) {
            for (int k = 0; k < np; k++)
                if (p[k].revents)
                    s_drain(who[k]);
        } else if (np == 0) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            reaped = true;
            break;
        }
        if (w < 0 && errno != EINTR)
            break; /* ECHILD: SIGCHLD is ignored and the child reaped itself */
        int64_t now = clock_mono_ms();
        bool cancel = cancelled && atomic_load(cancelled);
        if (kill_at < 0 && (cancel || now - start >= timeout_ms)) {
            res->cancelled = cancel;
            res->timed_out = !cancel;
            kill(-pid, SIGTERM);
            kill_at = now + TOOLRUN_KILL_GRACE_MS;
        } else if (kill_at >= 0 && now >= kill_at) {
            kill(-pid, SIGKILL);
            kill_at = INT64_MAX;
        }
    }
    /* the group may hold the pipes open a little longer: take what is there */
    for (int i = 0; i < 2; i++)
        if (st[i].fd >= 0) {
            fcntl(st[i].fd, F_SETFL, O_NONBLOCK);
            while (st[i].fd >= 0)
                s_drain(&st[i]);
        }
    res->exited = WIFEXITED(status);
    res->exit_code = res->exited ? WEXITSTATUS(status) : -1;
    res->term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    res->duration_ms = clock_mono_ms() - start;
    return reaped ? 0 : ORCH_EIO;
}

int toolrun_run(const char *path, char *const argv[], char *const envp[], int64_t timeout_ms,
                atomic_bool *cancelled, toolrun_result_t *res, char *msg, size_t msglen)
{
    memset(res, 0, sizeof *res);
    int out[2], err[2], report[2];
    if (pipe2(out, O_CLOEXEC) != 0)
        goto fail_out;
    if (pipe2(err, O_CLOEXEC) != 0)
        goto fail_err;
    if (pipe2(report, O_CLOEXEC) != 0)
        goto fail_report;
    long maxfd = sysconf(_SC_OPEN_MAX);
    pid_t pid = fork();
    if (pid == 0)
        s_child(path, argv, envp, out[1], err[1], report[1],
                (int)(maxfd > 0 && maxfd < 65536 ? maxfd : 65536));
    close(out[1]);
    close(err[1]);
    close(report[1]);
    if (pid < 0) {
        snprintf(msg, msglen, "could not fork for %s: %s", path, strerror(errno));
        close(out[0]), close(err[0]), close(report[0]);
        return ORCH_EIO;
    }
    setpgid(pid, pid); /* also in the child: whichever runs first */
    int child_errno = 0;
    ssize_t n;
    do
        n = read(report[0], &child_errno, sizeof child_errno);
    while (n < 0 && errno == EINTR);
    close(report[0]);
    s_stream_t st[2] = {{.fd = out[0]}, {.fd = err[0]}};
    strbuf_init(&st[0].buf);
    strbuf_init(&st[1].buf);
    int rc = s_supervise(pid, st, timeout_ms, cancelled, res);
    res->out = strbuf_detach(&st[0].buf);
    res->err = strbuf_detach(&st[1].buf);
    if (n == (ssize_t)sizeof child_errno) {
        snprintf(msg, msglen, "could not execute %s: %s", path, strerror(child_errno));
        return ORCH_EIO;
    }
    if (rc != 0) {
        snprintf(msg, msglen, "could not learn how %s ended (is SIGCHLD ignored?)", path);
        return ORCH_EIO;
    }
    return 0;

fail_report:
    close(err[0]), close(err[1]);
fail_err:
    close(out[0]), close(out[1]);
fail_out:
    snprintf(msg, msglen, "could not create a pipe: %s", strerror(errno));
    return ORCH_EIO;
}

void toolrun_result_fini(toolrun_result_t *res)
{
    free(res->out);
    free(res->err);
    res->out = res->err = NULL;
}
