/* orch-worker: parses the command line and the config, then runs the
 * worker loop (worker.c) until SIGTERM/SIGINT. Exit codes: 0 after a stop,
 * 1 when the worker cannot start, 2 for a usage or config error. */
#include "config.h"
#include "handler.h"
#include "log.h"
#include "orch_error.h"
#include "worker.h"
#include "worker_args.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static worker_t *volatile s_worker;

/* Async-signal-safe: worker_stop only write()s to the loop's pipe. */
static void s_on_signal(int sig)
{
    (void)sig;
    worker_stop(s_worker);
}

static void s_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int s_usage_error(const char *msg)
{
    fprintf(stderr, "orch-worker: %s\n", msg);
    return 2;
}

int main(int argc, char **argv)
{
    char err[1024] = "";
    worker_args_t args;
    if (worker_args_parse(argc, argv, &args, err, sizeof err) != 0) {
        worker_args_fini(&args);
        return s_usage_error(err);
    }
    if (args.help) {
        fputs(worker_args_usage(), stdout);
        worker_args_fini(&args);
        return 0;
    }
    worker_config_t *cfg = NULL;
    if (worker_config_load(args.config_path, handler_types, &cfg, err, sizeof err) != 0) {
        worker_args_fini(&args);
        return s_usage_error(err);
    }
    worker_args_apply(&args, cfg);
    if (!cfg->server_key != !cfg->secret_key) {
        /* one from a flag, the other missing: CURVE needs both */
        worker_args_fini(&args);
        worker_config_destroy(&cfg);
        return s_usage_error("CURVE needs both keys: --server-key (the coordinator's public key) "
                             "and --key (this worker's secret key), or worker.server_key_file "
                             "and worker.secret_key_file");
    }
    for (size_t i = 0; i < args.ntypes; i++) {
        if (!handler_enabled(cfg, args.types[i])) {
            /* --types narrows what the config enables; it does not enable */
            snprintf(err, sizeof err,
                     "--types: job type \"%s\" is not enabled in the config (handlers.%s)",
                     args.types[i], args.types[i]);
            worker_args_fini(&args);
            worker_config_destroy(&cfg);
            return s_usage_error(err);
        }
    }
    log_init("orch-worker", (log_level_t)cfg->log_level);
    log_set_format((log_format_t)cfg->log_format);

    worker_t *w = worker_new(cfg, (const char *const *)args.types, args.ntypes, err, sizeof err);
    worker_args_fini(&args);
    if (!w) {
        LOG_ERROR("cannot start: %s", err);
        worker_config_destroy(&cfg);
        return 1;
    }
    s_worker = w;
    s_install_signals();
    int rc = worker_run(w);
    if (rc == ORCH_ETIMEOUT) {
        /* Stopped with handlers still running: do not wait for them. BYE
         * is already delivered (worker_run flushed the coordinator socket)
         * and the coordinator retries what was left. */
        _exit(0);
    }
    s_worker = NULL;
    worker_destroy(&w);
    worker_config_destroy(&cfg);
    return rc == 0 ? 0 : 1;
}
