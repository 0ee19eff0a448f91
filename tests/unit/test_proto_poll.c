/* proto_poll: the wait that asks a ZeroMQ socket for its events only after
 * its descriptor fired or the caller used it. Real inproc PAIR sockets and
 * a pipe. A wait that should return at once is given no time limit: if it
 * slept instead, the test would hang and CTest's timeout would fail it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto_poll.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

typedef struct {
    void *ctx;
    void *a, *a_peer, *b, *b_peer;
    int pipefd[2];
    proto_poll_t p;
    int ia, ib;
} s_fix_t;

static void *s_pair(void *ctx, const char *ep, bool bind)
{
    void *s = zmq_socket(ctx, ZMQ_PAIR);
    assert_non_null(s);
    assert_int_equal(bind ? zmq_bind(s, ep) : zmq_connect(s, ep), 0);
    return s;
}

static int s_setup(void **state)
{
    s_fix_t *f = calloc(1, sizeof *f);
    f->ctx = zmq_ctx_new();
    f->a = s_pair(f->ctx, "inproc://poll-a", true);
    f->a_peer = s_pair(f->ctx, "inproc://poll-a", false);
    f->b = s_pair(f->ctx, "inproc://poll-b", true);
    f->b_peer = s_pair(f->ctx, "inproc://poll-b", false);
    assert_int_equal(pipe(f->pipefd), 0);
    proto_poll_init(&f->p);
    f->ia = proto_poll_add(&f->p, f->a);
    f->ib = proto_poll_add(&f->p, f->b);
    assert_int_equal(f->ia, 0);
    assert_int_equal(f->ib, 1);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    s_fix_t *f = *state;
    zmq_close(f->a);
    zmq_close(f->a_peer);
    zmq_close(f->b);
    zmq_close(f->b_peer);
    zmq_ctx_term(f->ctx);
    close(f->pipefd[0]);
    close(f->pipefd[1]);
    free(f);
    return 0;
}

static unsigned s_wait(s_fix_t *f, unsigned want, long timeout)
{
    unsigned r = proto_poll_wait(&f->p, want, NULL, 0, timeout);
    assert_int_equal(errno, 0);
    return r;
}

static void s_read_one(void *sock)
{
    char buf[16];
    assert_true(zmq_recv(sock, buf, sizeof buf, ZMQ_DONTWAIT) >= 0);
}

static void test_reports_the_socket_with_a_message(void **state)
{
    s_fix_t *f = *state;
    unsigned both = 1u << f->ia | 1u << f->ib;
    assert_int_equal(s_wait(f, both, 0), 0);
    assert_int_equal(zmq_send(f->a_peer, "x", 1, 0), 1);
    assert_int_equal(s_wait(f, both, -1), 1u << f->ia);
    /* not read yet: still reported, without sleeping for a new signal */
    assert_int_equal(s_wait(f, both, -1), 1u << f->ia);
    s_read_one(f->a);
    proto_poll_touch(&f->p, f->ia);
    assert_int_equal(s_wait(f, both, 0), 0);
}

/* A send on a socket may take in the signal of a message that arrived
 * meanwhile; the touch makes the wait ask, so the message is not missed. */
static void test_a_touched_socket_is_asked(void **state)
{
    s_fix_t *f = *state;
    unsigned want = 1u << f->ia;
    assert_int_equal(s_wait(f, want, 0), 0);
    assert_int_equal(zmq_send(f->a_peer, "in", 2, 0), 2);
    /* consume the pending signal ourselves, as a send or receive may */
    uint32_t ev = 0;
    size_t len = sizeof ev;
    assert_int_equal(zmq_getsockopt(f->a, ZMQ_EVENTS, &ev, &len), 0);
    assert_true(ev & ZMQ_POLLIN);
    assert_int_equal(zmq_send(f->a, "out", 3, 0), 3);
    proto_poll_touch(&f->p, f->ia);
    assert_int_equal(s_wait(f, want, -1), want);
    s_read_one(f->a);
    s_read_one(f->a_peer);
}

static void test_sockets_outside_want_wait(void **state)
{
    s_fix_t *f = *state;
    assert_int_equal(zmq_send(f->b_peer, "b", 1, 0), 1);
    /* b is not wanted (say, clients held back): neither asked nor reported */
    assert_int_equal(s_wait(f, 1u << f->ia, 0), 0);
    assert_int_equal(s_wait(f, 1u << f->ia | 1u << f->ib, -1), 1u << f->ib);
    s_read_one(f->b);
    proto_poll_touch_all(&f->p);
    assert_int_equal(s_wait(f, 3, 0), 0);
}

static void test_plain_descriptors(void **state)
{
    s_fix_t *f = *state;
    int other[2];
    assert_int_equal(pipe(other), 0);
    struct pollfd fds[3] = {{.fd = f->pipefd[0], .events = POLLIN},
                            {.fd = -1, .events = POLLIN},
                            {.fd = other[0], .events = POLLIN}};
    assert_int_equal(proto_poll_wait(&f->p, 3, fds, 3, 0), 0);
    assert_int_equal(fds[0].revents | fds[1].revents | fds[2].revents, 0);
    assert_int_equal(write(other[1], "z", 1), 1);
    assert_int_equal(proto_poll_wait(&f->p, 3, fds, 3, -1), 0);
    assert_int_equal(fds[0].revents, 0);
    assert_int_equal(fds[1].revents, 0); /* fd -1: left out */
    assert_true(fds[2].revents & POLLIN);
    /* a socket with a message and a descriptor: both at once */
    assert_int_equal(zmq_send(f->a_peer, "x", 1, 0), 1);
    unsigned r = 0;
    while (r == 0)
        r = proto_poll_wait(&f->p, 3, fds, 3, -1);
    assert_int_equal(r, 1u << f->ia);
    assert_true(fds[2].revents & POLLIN);
    close(other[0]);
    close(other[1]);
}

static void test_full_poller(void **state)
{
    s_fix_t *f = *state;
    for (int i = f->p.n; i < PROTO_POLL_MAX; i++)
        assert_int_equal(proto_poll_add(&f->p, f->b), i);
    assert_int_equal(proto_poll_add(&f->p, f->b), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reports_the_socket_with_a_message, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_a_touched_socket_is_asked, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sockets_outside_want_wait, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_plain_descriptors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_full_poller, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
