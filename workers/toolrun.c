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
#include <grp.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define TOOLRUN_POLL_MS 50 /* how often cancel, deadlines and the child's end are checked */

/* What the child reports on its report pipe when it cannot exec. */
enum { S_STAGE_EXEC = 0, S_STAGE_CHDIR = 1, S_STAGE_USER = 2 };

/* In the child, between fork and exec: async-signal-safe calls only. */
static void s_child(const toolrun_opts_t *o, int in, int out, int err, int report, int maxfd)
{
    setpgid(0, 0);
    if (in < 0)
        in = open("/dev/null", O_RDONLY);
    if (in >= 0)
        dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    /* The worker's other descriptors (ZeroMQ, PostgreSQL, curl) must not
     * leak into the tool: mark them all close-on-exec. report is already
     * close-on-exec, so it stays open until execve succeeds. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
        for (int fd = 3; fd < maxfd; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    /* the worker ignores SIGPIPE and blocks signals on its threads: ignored
     * dispositions and the mask survive execve, the tool must not inherit them */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int rep[2] = {S_STAGE_USER, 0};
    /* group first: after setuid the process may no longer change it */
    if (o->as_user && (setgroups(0, NULL) != 0 || setgid((gid_t)o->run_gid) != 0 ||
                       setuid((uid_t)o->run_uid) != 0))
        goto report;
    rep[0] = S_STAGE_CHDIR;
    if (!o->cwd || chdir(o->cwd) == 0) {
        execve(o->path, o->argv, o->envp);
        rep[0] = S_STAGE_EXEC;
    }
report:
    rep[1] = errno;
    ssize_t w = write(report, rep, sizeof rep);
    (void)w;
    _exit(127);
}

typedef struct {
    int fd;
    strbuf_t buf;
    size_t max, total;
    bool keep; /* keep the bytes in buf (not for line-reported stderr) */
    char line[TOOLRUN_LINE_MAX + 1];
    size_t line_len;
    const toolrun_opts_t *o; /* for on_err_line; NULL on stdout */
} s_stream_t;

static void s_line_flush(s_stream_t *s)
{
    s->line[s->line_len] = '\0';
    s->o->on_err_line(s->o->line_arg, s->line, s->line_len);
    s->line_len = 0;
}

static void s_lines(s_stream_t *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            s_line_flush(s);
            continue;
        }
        s->line[s->line_len++] = p[i];
        if (s->line_len == TOOLRUN_LINE_MAX)
            s_line_flush(s);
    }
}

static void s_close(s_stream_t *s)
{
    if (s->fd < 0)
        return;
    close(s->fd);
    s->fd = -1;
    if (s->o && s->o->on_err_line && s->line_len > 0)
        s_line_flush(s); /* a last line without '\n' */
}

/* Reads what is there; closes at EOF, on an error, or (final) when empty. */
static void s_drain(s_stream_t *s, bool final)
{
    char chunk[8192];
    ssize_t n = read(s->fd, chunk, sizeof chunk);
    if (n > 0) {
        size_t room = s->total < s->max ? s->max - s->total : 0;
        size_t take = (size_t)n < room ? (size_t)n : room;
        s->total += (size_t)n;
        if (s->keep)
            strbuf_append(&s->buf, chunk, take);
        if (s->o && s->o->on_err_line)
            s_lines(s, chunk, take);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN) || final) {
        s_close(s);
    }
}

typedef struct {
    int fd; /* stdin's write end, -1 when done */
    const char *data;
    size_t len, off;
} s_input_t;

static void s_feed(s_input_t *in)
{
    ssize_t n = write(in->fd, in->data + in->off, in->len - in->off);
    if (n > 0)
        in->off += (size_t)n;
    /* EPIPE: the child does not read its input; that is its business */
    if ((n < 0 && errno != EINTR && errno != EAGAIN) || in->off == in->len) {
        close(in->fd);
        in->fd = -1;
    }
}

/* One poll over the open pipes (at most TOOLRUN_POLL_MS). */
static void s_pump(s_stream_t st[2], s_input_t *in)
{
    struct pollfd p[3];
    void *who[3];
    int np = 0;
    for (int i = 0; i < 2; i++)
        if (st[i].fd >= 0) {
            who[np] = &st[i];
            p[np++] = (struct pollfd){.fd = st[i].fd, .events = POLLIN};
        }
    if (in->fd >= 0) {
        who[np] = in;
        p[np++] = (struct pollfd){.fd = in->fd, .events = POLLOUT};
    }
    if (np == 0) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
        return;
    }
    if (poll(p, (nfds_t)np, TOOLRUN_POLL_MS) <= 0)
        return;
    for (int k = 0; k < np; k++) {
        if (!p[k].revents)
            continue;
        if (who[k] == in)
            s_feed(in);
        else
            s_drain(who[k], false);
    }
}

/* Whether the group must be killed now; the reason is recorded in res. */
static bool s_must_kill(const toolrun_opts_t *o, s_stream_t st[2], int64_t start,
                        toolrun_result_t *res)
{
    if (o->cancelled && atomic_load(o->cancelled))
        res->cancelled = true;
    else if (o->timeout_ms > 0 && clock_mono_ms() - start >= o->timeout_ms)
        res->timed_out = true;
    else if (o->kill_on_overflow && st[0].total > st[0].max)
        res->overflow = TOOLRUN_OVERFLOW_STDOUT;
    else if (o->kill_on_overflow && st[1].total > st[1].max)
        res->overflow = TOOLRUN_OVERFLOW_STDERR;
    else
        return false;
    return true;
}

/* Waits for output and the child's end; kills the group on timeout,
 * cancel or overflow. */
static int s_supervise(const toolrun_opts_t *o, pid_t pid, s_stream_t st[2], s_input_t *in,
                       toolrun_result_t *res)
{
    int64_t start = clock_mono_ms(), kill_at = -1;
    int64_t grace = o->kill_grace_ms > 0 ? o->kill_grace_ms : TOOLRUN_KILL_GRACE_MS;
    for (;;) {
        s_pump(st, in);
        siginfo_t si;
        si.si_pid = 0;
        /* WNOWAIT: the zombie keeps the pid, so the group cannot be reused */
        int w = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if (w == 0 && si.si_pid == pid)
            break;
        if (w < 0 && errno != EINTR)
            return ORCH_EIO; /* ECHILD: SIGCHLD is ignored and the child reaped itself */
        if (kill_at < 0 && s_must_kill(o, st, start, res)) {
            kill(-pid, SIGTERM);
            kill_at = clock_mono_ms() + grace;
        } else if (kill_at >= 0 && clock_mono_ms() >= kill_at) {
            kill(-pid, SIGKILL);
            kill_at = INT64_MAX;
        }
    }
    kill(-pid, SIGKILL); /* whatever the child left running in its group */
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    /* the pipes may still hold output: take what is there, without waiting */
    for (int i = 0; i < 2; i++)
        if (st[i].fd >= 0) {
            fcntl(st[i].fd, F_SETFL, O_NONBLOCK);
            while (st[i].fd >= 0)
                s_drain(&st[i], true);
        }
    res->exited = WIFEXITED(status);
    res->exit_code = res->exited ? WEXITSTATUS(status) : -1;
    res->term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    res->duration_ms = clock_mono_ms() - start;
    return 0;
}

typedef struct {
    int out[2], err[2], report[2], in[2];
} s_pipes_t;

static void s_close_pair(int p[2])
{
    for (int i = 0; i < 2; i++)
        if (p[i] >= 0)
            close(p[i]);
    p[0] = p[1] = -1;
}

static int s_pipes(s_pipes_t *p, bool input)
{
    int *all[4] = {p->out, p->err, p->report, p->in};
    for (int i = 0; i < 4; i++)
        all[i][0] = all[i][1] = -1;
    for (int i = 0; i < (input ? 4 : 3); i++)
        if (pipe2(all[i], O_CLOEXEC) != 0) {
            int e = errno;
            for (int j = 0; j < i; j++)
                s_close_pair(all[j]);
            errno = e;
            return -1;
        }
    if (input)
        fcntl(p->in[1], F_SETFL, O_NONBLOCK);
    return 0;
}

/* The child's report: how exec failed, or 0 when it succeeded. */
static int s_read_report(int fd, const toolrun_opts_t *o, char *msg, size_t msglen)
{
    int rep[2] = {0, 0};
    ssize_t n;
    do
        n = read(fd, rep, sizeof rep);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n != (ssize_t)sizeof rep)
        return 0;
    if (rep[0] == S_STAGE_USER)
        snprintf(msg, msglen, "could not switch to uid %u gid %u to run %s: %s", o->run_uid,
                 o->run_gid, o->path, strerror(rep[1]));
    else if (rep[0] == S_STAGE_CHDIR)
        snprintf(msg, msglen, "could not change to directory %s: %s", o->cwd, strerror(rep[1]));
    else
        snprintf(msg, msglen, "could not execute %s: %s", o->path, strerror(rep[1]));
    return ORCH_EIO;
}

int toolrun_spawn(const toolrun_opts_t *o, toolrun_result_t *res, char *msg, size_t msglen)
{
    memset(res, 0, sizeof *res);
    s_pipes_t p;
    if (s_pipes(&p, o->input != NULL) != 0) {
        snprintf(msg, msglen, "could not create a pipe: %s", strerror(errno));
        return ORCH_EIO;
    }
    long maxfd = sysconf(_SC_OPEN_MAX);
    pid_t pid = fork();
    if (pid == 0)
        s_child(o, p.in[0], p.out[1], p.err[1], p.report[1],
                (int)(maxfd > 0 && maxfd < 65536 ? maxfd : 65536));
    int e = errno;
    close(p.out[1]), close(p.err[1]), close(p.report[1]);
    if (p.in[0] >= 0)
        close(p.in[0]);
    if (pid < 0) {
        snprintf(msg, msglen, "could not fork for %s: %s", o->path, strerror(e));
        close(p.out[0]), close(p.err[0]), close(p.report[0]);
        if (p.in[1] >= 0)
            close(p.in[1]);
        return ORCH_EIO;
    }
    setpgid(pid, pid); /* also in the child: whichever runs first */
    res->pid = (int)pid;
    int rc = s_read_report(p.report[0], o, msg, msglen);
    s_stream_t st[2] = {
        {.fd = p.out[0], .max = o->max_out ? o->max_out : TOOLRUN_MAX_CAPTURE, .keep = true},
        {.fd = p.err[0],
         .max = o->max_err ? o->max_err : TOOLRUN_MAX_CAPTURE,
         .keep = !o->on_err_line,
         .o = o},
    };
    strbuf_init(&st[0].buf);
    strbuf_init(&st[1].buf);
    s_input_t in = {.fd = p.in[1], .data = o->input, .len = o->input_len};
    if (in.fd >= 0 && rc != 0) {
        close(in.fd); /* nothing will read it */
        in.fd = -1;
    }
    int src = s_supervise(o, pid, st, &in, res);
    if (in.fd >= 0)
        close(in.fd);
    for (int i = 0; i < 2; i++)
        if (st[i].fd >= 0)
            close(st[i].fd);
    res->out_len = st[0].buf.len;
    res->out = strbuf_detach(&st[0].buf);
    res->err = strbuf_detach(&st[1].buf);
    if (rc != 0)
        return rc;
    if (src != 0) {
        snprintf(msg, msglen, "could not learn how %s ended (is SIGCHLD ignored?)", o->path);
        return ORCH_EIO;
    }
    return 0;
}

int toolrun_run(const char *path, char *const argv[], char *const envp[], int64_t timeout_ms,
                atomic_bool *cancelled, toolrun_result_t *res, char *msg, size_t msglen)
{
    toolrun_opts_t o = {.path = path,
                        .argv = argv,
                        .envp = envp,
                        .timeout_ms = timeout_ms > 0 ? timeout_ms : 1,
                        .cancelled = cancelled};
    return toolrun_spawn(&o, res, msg, msglen);
}

void toolrun_result_fini(toolrun_result_t *res)
{
    free(res->out);
    free(res->err);
    res->out = res->err = NULL;
}
