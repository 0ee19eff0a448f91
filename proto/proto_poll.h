/* A wait over ZeroMQ sockets and plain descriptors that asks a ZeroMQ
 * socket for its events only when they may have changed.
 *
 * zmq_poll asks every socket it is given for ZMQ_EVENTS twice per wait
 * (before and after sleeping), and each ask of a socket with no pending
 * commands costs two system calls (libzmq's fork check, getpid, and a poll
 * of the socket's mailbox). With six sockets that is some twenty-five
 * system calls per loop turn, about half of the coordinator's CPU time for
 * a one-job request on a virtual machine where a system call is dear.
 *
 * ZeroMQ's rule (zmq_getsockopt(3), ZMQ_FD): a socket's events can change
 * only when its ZMQ_FD becomes readable, or when the application sent or
 * received on it (which may consume that signal). So a socket is asked
 * here only after its descriptor fired or after the caller marked it used
 * (proto_poll_touch); every other socket keeps the answer it gave last. */
#ifndef PROTO_POLL_H
#define PROTO_POLL_H

#include <poll.h>
#include <stdbool.h>

#define PROTO_POLL_MAX 8

typedef struct {
    void *sock[PROTO_POLL_MAX];
    int zfd[PROTO_POLL_MAX]; /* the sockets' ZMQ_FD */
    int n;
    unsigned dirty;          /* sockets to ask before the next wait */
    unsigned readable;       /* what the last ask of each socket said */
} proto_poll_t;

void proto_poll_init(proto_poll_t *p);

/* Adds a ZeroMQ socket (borrowed until the poller is no longer used);
 * returns its index, whose bit (1u << index) names it in the masks below,
 * or -1 when the poller is full or the socket has no ZMQ_FD. */
int proto_poll_add(proto_poll_t *p, void *sock);

/* The caller sent or received on socket i: ask it again before waiting. */
static inline void proto_poll_touch(proto_poll_t *p, int i)
{
    if (i >= 0)
        p->dirty |= 1u << i;
}

/* Marks every socket used (a safety net a caller may run now and then). */
static inline void proto_poll_touch_all(proto_poll_t *p)
{
    p->dirty = (1u << p->n) - 1;
}

/* Waits up to timeout_ms (-1: no limit) until one of the sockets in want
 * has a message to read or one of the nfds plain descriptors in fds (at
 * most PROTO_POLL_MAX; fd -1 is left out) has one of its events; returns
 * the mask of the sockets in want that have one, and the descriptors'
 * events in their revents. Sockets outside want are neither asked nor
 * waited on.
 * errno is 0 after a wait that worked (EINTR when a signal cut it
 * short: the mask is then what was known before). */
unsigned proto_poll_wait(proto_poll_t *p, unsigned want, struct pollfd *fds, int nfds,
                         long timeout_ms);

#endif
