/* orchctl: the operator's command line client of orchestratord, speaking
 * the client protocol (ORCHC1, proto/PROTOCOL.md). Usage: README.md, "orchctl". */
#ifndef CTL_H
#define CTL_H

#include <stdio.h>

enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_ERROR = 1, /* the coordinator said no, or could not be reached */
    CTL_EXIT_USAGE = 2, /* the command line or its input is wrong; nothing was sent */
};

#define CTL_DEFAULT_ENDPOINT "tcp://127.0.0.1:5556"
#define CTL_DEFAULT_TIMEOUT_MS 10000
#define CTL_ENDPOINT_ENV "ORCH_ENDPOINT"
#define CTL_SERVER_KEY_ENV "ORCH_SERVER_KEY_FILE" /* CURVE: the coordinator's public key file */
#define CTL_KEY_ENV "ORCH_SECRET_KEY_FILE"        /* CURVE: this client's secret key file */

/* Runs one orchctl command line. in is read by `submit --batch -`; results
 * go to out, errors to err (all borrowed). Reads ORCH_ENDPOINT from the
 * environment when --endpoint is absent. Returns the process exit code. */
int ctl_run(int argc, char **argv, FILE *in, FILE *out, FILE *err);

/* The --help text. */
void ctl_usage(FILE *out);

#endif
