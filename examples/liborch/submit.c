/* liborch example: submit jobs, pipeline more, wait for one to finish.
 *
 *   liborch-submit [ENDPOINT [QUEUE [TYPE]]]
 *
 * ENDPOINT defaults to $ORCH_ENDPOINT, else tcp://127.0.0.1:5556; QUEUE to
 * "default", TYPE to "noop". Build against the installed library:
 *   cc submit.c $(pkg-config --cflags --libs orch) -o liborch-submit
 * Prints "submitted ID", "pipelined N jobs", the first job's events, then
 * "job ID STATE" once it is finished (30 s at most). Exit 0 on success. */
#include <orch_client.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIPELINED 10

typedef struct {
    int answered;
    int failed;
} counts_t;

/* Runs from orch_client_poll, once per asynchronous SUBMIT. */
static void on_submitted(orch_client_t *cl, const orch_result_t *res, void *userdata)
{
    (void)cl;
    counts_t *c = userdata;
    c->answered++;
    if (res->rc != 0) {
        fprintf(stderr, "submit failed: %s (status %d)\n", res->error, res->status);
        c->failed++;
    }
}

static bool finished(const char *state)
{
    return strcmp(state, "succeeded") == 0 || strcmp(state, "dead") == 0
           || strcmp(state, "cancelled") == 0;
}

/* Waits (at most 30 s) until job id is finished: from its events, and
 * from a GET every second in case an event was missed (a subscription
 * takes a moment to reach the coordinator). Prints "job ID STATE". */
static int wait_finished(orch_client_t *cl, orch_watch_t *w, int64_t id)
{
    for (int tick = 0; tick < 300; tick++) {
        orch_event_t ev;
        int r = orch_watch_next(w, &ev, 100);
        if (r == 0 && ev.id == id) {
            printf("event %s (%s)\n", ev.event, ev.state);
            if (finished(ev.state)) {
                printf("job %" PRId64 " %s\n", id, ev.state);
                return 0;
            }
        }
        json_t *job = NULL;
        if (tick % 10 == 9 && orch_client_get(cl, id, false, &job, NULL) == 0) {
            const char *state = json_string_value(json_object_get(job, "state"));
            bool done = state && finished(state);
            if (done)
                printf("job %" PRId64 " %s\n", id, state);
            json_decref(job);
            if (done)
                return 0;
        }
    }
    fprintf(stderr, "job %" PRId64 " did not finish within 30 s\n", id);
    return 1;
}

int main(int argc, char **argv)
{
    const char *env = getenv("ORCH_ENDPOINT");
    const char *endpoint = argc > 1 ? argv[1] : env && *env ? env : "tcp://127.0.0.1:5556";
    const char *queue = argc > 2 ? argv[2] : "default";
    const char *type = argc > 3 ? argv[3] : "noop";

    orch_client_opts_t opts;
    orch_client_opts_init(&opts);
    opts.endpoints = &endpoint;
    opts.nendpoints = 1;
    opts.timeout_ms = 5000;
    orch_client_t *cl = NULL;
    char err[512];
    if (orch_client_new(&cl, &opts, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    /* Subscribe before submitting, so that the job's events can be seen. */
    orch_watch_opts_t wo;
    orch_watch_opts_init(&wo);
    wo.client_endpoint = endpoint; /* the events endpoint is derived: port + 1 */
    wo.queues = &queue;
    wo.nqueues = 1;
    orch_watch_t *w = NULL;
    if (orch_watch_new(&w, &wo, err, sizeof err) != 0) {
        fprintf(stderr, "watch: %s\n", err);
        orch_client_destroy(&cl);
        return 1;
    }

    orch_job_t job;
    orch_job_init(&job);
    job.queue = queue;
    job.type = type;
    job.payload = "{\"hello\":\"world\"}";
    job.priority = 3;
    orch_ids_t ids;
    if (orch_client_submit(cl, &job, 1, &ids) != 0) {
        fprintf(stderr, "submit: %s (status %d)\n", orch_client_error(cl), orch_client_status(cl));
        orch_watch_destroy(&w);
        orch_client_destroy(&cl);
        return 1;
    }
    int64_t first = ids.ids[0];
    printf("submitted %" PRId64 "\n", first);
    orch_ids_fini(&ids);

    /* Pipelining: many SUBMITs in flight on one connection. */
    counts_t counts = {0, 0};
    for (int i = 0; i < PIPELINED; i++) {
        if (orch_client_submit_async(cl, &job, 1, on_submitted, &counts) != 0)
            fprintf(stderr, "queue: %s\n", orch_client_error(cl));
    }
    while (orch_client_inflight(cl) > 0)
        if (orch_client_poll(cl, -1) < 0)
            break;
    printf("pipelined %d jobs\n", counts.answered - counts.failed);

    json_t *got = NULL;
    if (orch_client_get(cl, first, false, &got, NULL) == 0) {
        printf("job %" PRId64 " is in queue %s\n", first,
               json_string_value(json_object_get(got, "queue")));
        json_decref(got);
    }
    int rc = counts.failed ? 1 : wait_finished(cl, w, first);
    orch_watch_destroy(&w);
    orch_client_destroy(&cl);
    return rc;
}
