/* orch-bench: command line, the standard matrix ("all"), per-run memory
 * accounting. See README.md, "Benchmark". */
#include "bench.h"
#include "bench_report.h"
#include "clock.h"
#include "orch_error.h"
#include "strbuf.h"
#include "xalloc.h"
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static void *s_zctx;
static proto_curve_t s_curve_client, s_curve_worker; /* --curve; "" = off */

void *bench_zctx(void)
{
    return s_zctx;
}

const proto_curve_t *bench_curve(bool worker)
{
    const proto_curve_t *k = worker ? &s_curve_worker : &s_curve_client;
    return proto_curve_on(k) ? k : NULL;
}

void bench_queue_name(char *buf, size_t len, const char *mode, int64_t n)
{
    static atomic_int seq;
    snprintf(buf, len, "bench-%s-%lld-%lld-%d", mode, (long long)n,
             (long long)(clock_real_us() / 1000), atomic_fetch_add(&seq, 1));
}

static void s_usage(FILE *f)
{
    fprintf(f,
        "usage: orch-bench MODE [options]\n"
        "modes:\n"
        "  enqueue --producers P --n N [--batch B] [--pipeline D]\n"
        "                                            P producers, D requests in flight each (1)\n"
        "  drain --n N --slots S [--real-workers]    prefilled backlog, consumers timed\n"
        "  e2e --n N --slots S [--real-workers] [--pipeline D]\n"
        "                                            one producer and the consumers at once\n"
        "  latency --rate R --seconds T --slots S    open-loop submit -> JOB arrival latency\n"
        "  rss-backlog --n N                         N queued jobs, nobody consuming: coordinator RSS\n"
        "  fleet [--workers W] --n N [--idle-seconds S]\n"
        "                                            W one-slot workers (1000) with heartbeats: the\n"
        "                                            coordinator's CPU over S idle seconds (10), then\n"
        "                                            N prefilled jobs drained, jobs per worker\n"
        "  all [--reps K] [--n N] [--seconds T]      the standard matrix, then a markdown table\n"
        "options:\n"
        "  --client EP        client endpoint (env ORCH_ENDPOINT, default tcp://127.0.0.1:5556)\n"
        "  --worker EP        worker endpoint (default tcp://127.0.0.1:5555)\n"
        "  --worker-bin PATH  orch-worker for --real-workers (default: next to orch-bench)\n"
        "  --worker-arg ARG   extra argument for orch-worker (repeatable)\n"
        "  --coord-pid PID    coordinator pid for RSS (default: pidof orchestratord)\n"
        "  --no-reset-hwm     do not reset the coordinator's VmHWM before each run\n"
        "  --warmup S         latency: drop samples of the first S seconds (default 1)\n"
        "  --max-seconds S    bound on every wait of a run (default 300)\n"
        "  --stats-interval-ms MS  STATS polling period (default 10)\n"
        "  --label TEXT       durability label recorded with each run\n"
        "  --out FILE         also append the JSON lines to FILE\n"
        "  --curve DIR        CURVE on: DIR/server.pub (the coordinator's public key),\n"
        "                     DIR/client.key (a key with role submit or above) and\n"
        "                     DIR/worker.key (role admin: each run has its own queue),\n"
        "                     also handed to --real-workers (docs/security.md)\n");
}

enum { O_CLIENT = 256, O_WORKER, O_PRODUCERS, O_BATCH, O_PIPELINE, O_N, O_SLOTS, O_RATE, O_SECONDS,
       O_WARMUP, O_REAL, O_WBIN, O_WARG, O_PID, O_NORESET, O_MAXS, O_STATSI, O_REPS, O_LABEL,
       O_OUT, O_CURVE, O_WORKERS, O_IDLE, O_HELP };

static const struct option s_longopts[] = {
    {"client", required_argument, NULL, O_CLIENT}, {"worker", required_argument, NULL, O_WORKER},
    {"producers", required_argument, NULL, O_PRODUCERS}, {"batch", required_argument, NULL, O_BATCH},
    {"pipeline", required_argument, NULL, O_PIPELINE},
    {"n", required_argument, NULL, O_N}, {"slots", required_argument, NULL, O_SLOTS},
    {"rate", required_argument, NULL, O_RATE}, {"seconds", required_argument, NULL, O_SECONDS},
    {"warmup", required_argument, NULL, O_WARMUP}, {"real-workers", no_argument, NULL, O_REAL},
    {"worker-bin", required_argument, NULL, O_WBIN}, {"worker-arg", required_argument, NULL, O_WARG},
    {"coord-pid", required_argument, NULL, O_PID}, {"no-reset-hwm", no_argument, NULL, O_NORESET},
    {"max-seconds", required_argument, NULL, O_MAXS},
    {"stats-interval-ms", required_argument, NULL, O_STATSI}, {"reps", required_argument, NULL, O_REPS},
    {"label", required_argument, NULL, O_LABEL}, {"out", required_argument, NULL, O_OUT},
    {"curve", required_argument, NULL, O_CURVE},
    {"workers", required_argument, NULL, O_WORKERS}, {"idle-seconds", required_argument, NULL, O_IDLE},
    {"help", no_argument, NULL, O_HELP}, {NULL, 0, NULL, 0}};

/* Parses a number in [lo, hi] or exits with a usage error. */
static double s_num(const char *opt, const char *text, double lo, double hi)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (!end || *end || end == text || v < lo || v > hi) {
        fprintf(stderr, "orch-bench: --%s: \"%s\" is not a number in %g..%g\n", opt, text, lo, hi);
        exit(2);
    }
    return v;
}

typedef struct {
    bench_opts_t o;
    const char *mode;
    const char *wargs[64];
    int nwargs;
    bool n_set, slots_set, seconds_set;
    char worker_bin[4096];
    char server_pub[4096], worker_key[4096]; /* --curve: for --real-workers */
} s_cli_t;

static void s_defaults(s_cli_t *cli)
{
    bench_opts_t *o = &cli->o;
    const char *env = getenv("ORCH_ENDPOINT");
    o->client_ep = env && *env ? env : "tcp://127.0.0.1:5556";
    o->worker_ep = "tcp://127.0.0.1:5555";
    o->producers = 1;
    o->batch = 1;
    o->pipeline = 1;
    o->slots = 4;
    o->workers = 1000;
    o->idle_seconds = 10;
    o->n = 50000;
    o->rate = 1000;
    o->seconds = 10;
    o->warmup_s = 1;
    o->reset_hwm = true;
    o->max_seconds = 300;
    o->stats_interval_ms = 10;
    o->reps = 1;
    o->label = "unlabelled";
    /* orch-worker next to this binary */
    char self[4096];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k > 0) {
        self[k] = '\0';
        snprintf(cli->worker_bin, sizeof cli->worker_bin, "%s/orch-worker", dirname(self));
    } else {
        snprintf(cli->worker_bin, sizeof cli->worker_bin, "orch-worker");
    }
    o->worker_bin = cli->worker_bin;
}

/* --curve DIR: both key sets read now (a bad file is a usage error), and
 * the worker's files passed on to orch-worker for --real-workers. */
static void s_curve_dir(s_cli_t *cli, const char *dir)
{
    char client_key[4096], why[600];
    snprintf(cli->server_pub, sizeof cli->server_pub, "%s/server.pub", dir);
    snprintf(client_key, sizeof client_key, "%s/client.key", dir);
    snprintf(cli->worker_key, sizeof cli->worker_key, "%s/worker.key", dir);
    if (proto_curve_load(&s_curve_client, cli->server_pub, client_key, why, sizeof why) != 0 ||
        proto_curve_load(&s_curve_worker, cli->server_pub, cli->worker_key, why, sizeof why) != 0) {
        fprintf(stderr, "orch-bench: --curve: %s\n", why);
        exit(2);
    }
    if (cli->nwargs + 4 > 63) {
        fprintf(stderr, "orch-bench: too many --worker-arg\n");
        exit(2);
    }
    cli->wargs[cli->nwargs++] = "--server-key";
    cli->wargs[cli->nwargs++] = cli->server_pub;
    cli->wargs[cli->nwargs++] = "--key";
    cli->wargs[cli->nwargs++] = cli->worker_key;
}

static void s_option(s_cli_t *cli, int c, const char *name)
{
    bench_opts_t *o = &cli->o;
    switch (c) {
    case O_CLIENT: o->client_ep = optarg; break;
    case O_WORKER: o->worker_ep = optarg; break;
    case O_PRODUCERS: o->producers = (int)s_num(name, optarg, 1, 256); break;
    case O_BATCH: o->batch = (int)s_num(name, optarg, 1, 10000); break;
    case O_PIPELINE: o->pipeline = (int)s_num(name, optarg, 1, 100000); break;
    case O_N: o->n = (int64_t)s_num(name, optarg, 1, 1e9); cli->n_set = true; break;
    case O_SLOTS: o->slots = (int)s_num(name, optarg, 1, 4096); cli->slots_set = true; break;
    case O_RATE: o->rate = s_num(name, optarg, 1, 1e6); break;
    case O_SECONDS: o->seconds = s_num(name, optarg, 0.1, 3600); cli->seconds_set = true; break;
    case O_WARMUP: o->warmup_s = s_num(name, optarg, 0, 3600); break;
    case O_REAL: o->real_workers = true; break;
    case O_WBIN: o->worker_bin = optarg; break;
    case O_WARG:
        if (cli->nwargs == 63) {
            fprintf(stderr, "orch-bench: too many --worker-arg\n");
            exit(2);
        }
        cli->wargs[cli->nwargs++] = optarg;
        break;
    case O_PID: o->coord_pid = (int)s_num(name, optarg, 1, 1e9); break;
    case O_NORESET: o->reset_hwm = false; break;
    case O_MAXS: o->max_seconds = s_num(name, optarg, 1, 86400); break;
    case O_STATSI: o->stats_interval_ms = (int)s_num(name, optarg, 1, 10000); break;
    case O_REPS: o->reps = (int)s_num(name, optarg, 1, 100); break;
    case O_LABEL: o->label = optarg; break;
    case O_OUT: o->out_path = optarg; break;
    case O_CURVE: s_curve_dir(cli, optarg); break;
    case O_WORKERS: o->workers = (int)s_num(name, optarg, 1, 100000); break;
    case O_IDLE: o->idle_seconds = s_num(name, optarg, 0, 3600); break;
    case O_HELP: s_usage(stdout); exit(0);
    default: s_usage(stderr); exit(2);
    }
}

/* The mode is the one non-option argument; options may come before or
 * after it (getopt_long permutes). */
static void s_parse(s_cli_t *cli, int argc, char **argv)
{
    s_defaults(cli);
    int c, idx = 0;
    while ((c = getopt_long(argc, argv, "h", s_longopts, &idx)) != -1)
        s_option(cli, c == 'h' ? O_HELP : c, c >= O_CLIENT ? s_longopts[idx].name : "?");
    if (optind != argc - 1) {
        fprintf(stderr, optind == argc ? "orch-bench: no mode given\n"
                                       : "orch-bench: more than one mode given\n");
        s_usage(stderr);
        exit(2);
    }
    cli->mode = argv[optind];
    cli->wargs[cli->nwargs] = NULL;
    cli->o.worker_args = cli->wargs;
}

/* ---------------------------------------------------------------- runs */

typedef int (*s_mode_fn)(const bench_opts_t *, bench_result_t *);

static s_mode_fn s_mode_by_name(const char *mode)
{
    static const struct {
        const char *name;
        s_mode_fn fn;
    } modes[] = {{"enqueue", bench_enqueue}, {"drain", bench_drain}, {"e2e", bench_e2e},
                 {"latency", bench_latency}, {"rss-backlog", bench_rss_backlog},
                 {"fleet", bench_fleet}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(modes[i].name, mode) == 0)
            return modes[i].fn;
    return NULL;
}

/* One run with the coordinator's peak RSS reset before it, reported after. */
static int s_run(const bench_opts_t *o, const char *mode, bench_result_t *res)
{
    bench_result_init(res, mode);
    if (o->coord_pid > 0 && o->reset_hwm && bench_rss_reset_peak(o->coord_pid) != ORCH_OK)
        fprintf(stderr, "orch-bench: could not reset VmHWM of pid %d; the peak covers the "
                        "coordinator's whole life\n", o->coord_pid);
    json_object_set_new(res->params, "reset_hwm", json_boolean(o->reset_hwm && o->coord_pid > 0));
    int rc = s_mode_by_name(mode)(o, res);
    bench_report_run(o, res);
    return rc;
}

typedef struct {
    const char *mode;
    int producers, batch, pipeline, slots;
    double rate;
} s_point_t;

/* The standard matrix: the peers' points (../shared/peers/run_*.sh), plus
 * two pipelined points (a DEALER client may keep requests in flight; the
 * peers' clients never do) that show what the group commit does with
 * concurrent requests. */
static const s_point_t s_matrix[] = {
    {"enqueue", 1, 1, 1, 0, 0},   {"enqueue", 4, 1, 1, 0, 0}, {"enqueue", 1, 1000, 1, 0, 0},
    {"enqueue", 1, 1, 100, 0, 0}, {"drain", 0, 0, 1, 4, 0},   {"drain", 0, 0, 1, 8, 0},
    {"drain", 0, 0, 1, 16, 0},    {"e2e", 0, 0, 1, 4, 0},     {"e2e", 0, 0, 1, 8, 0},
    {"e2e", 0, 0, 100, 8, 0},     {"latency", 0, 0, 1, 4, 200},
    {"latency", 0, 0, 1, 4, 1000}, {"latency", 0, 0, 1, 4, 10000},
};

static int s_all(const s_cli_t *cli)
{
    size_t npoints = sizeof s_matrix / sizeof s_matrix[0];
    bench_result_t *runs = xcalloc(npoints * (size_t)cli->o.reps, sizeof *runs);
    size_t nruns = 0;
    int failed = 0;
    for (size_t i = 0; i < npoints; i++) {
        const s_point_t *p = &s_matrix[i];
        bench_opts_t o = cli->o;
        o.producers = p->producers ? p->producers : 1;
        o.batch = p->batch ? p->batch : 1;
        o.pipeline = p->pipeline;
        o.slots = p->slots ? p->slots : o.slots;
        o.rate = p->rate;
        o.n = cli->n_set ? cli->o.n : 50000;
        for (int r = 0; r < cli->o.reps; r++) {
            fprintf(stderr, "# run %zu/%zu rep %d: %s\n", i + 1, npoints, r + 1, p->mode);
            if (s_run(&o, p->mode, &runs[nruns++]) != ORCH_OK)
                failed++;
        }
    }
    bench_report_table(&cli->o, runs, nruns);
    for (size_t i = 0; i < nruns; i++)
        bench_result_fini(&runs[i]);
    free(runs);
    if (failed)
        fprintf(stderr, "orch-bench: %d run(s) did not complete\n", failed);
    return failed ? 1 : 0;
}

static char *s_cmdline(int argc, char **argv)
{
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, "orch-bench");
    for (int i = 1; i < argc; i++) {
        strbuf_putc(&sb, ' ');
        strbuf_puts(&sb, argv[i]);
    }
    return strbuf_detach(&sb);
}

int main(int argc, char **argv)
{
    s_cli_t cli;
    memset(&cli, 0, sizeof cli);
    s_parse(&cli, argc, argv);
    bool all = strcmp(cli.mode, "all") == 0;
    if (!all && !s_mode_by_name(cli.mode)) {
        fprintf(stderr, "orch-bench: unknown mode \"%s\"\n", cli.mode);
        s_usage(stderr);
        return 2;
    }
    if (strcmp(cli.mode, "rss-backlog") == 0 && !cli.n_set)
        cli.o.n = 1000000;
    if (!cli.o.coord_pid)
        cli.o.coord_pid = bench_find_coord_pid();
    char *cmd = s_cmdline(argc, argv);
    cli.o.cmdline = cmd;
    signal(SIGPIPE, SIG_IGN);
    s_zctx = zmq_ctx_new();
    if (strcmp(cli.mode, "fleet") == 0)
        bench_fleet_limits(s_zctx, cli.o.workers);
    int rc;
    if (all) {
        rc = s_all(&cli);
    } else {
        bench_result_t res;
        rc = s_run(&cli.o, cli.mode, &res) == ORCH_OK ? 0 : 1;
        bench_result_fini(&res);
    }
    zmq_ctx_term(s_zctx);
    free(cmd);
    return rc;
}
