/* The ZeroMQ-aware wait of proto_poll.h. */
#include "proto_poll.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <zmq.h>

void proto_poll_init(proto_poll_t *p)
{
    memset(p, 0, sizeof *p);
}

int proto_poll_add(proto_poll_t *p, void *sock)
{
    int fd;
    size_t len = sizeof fd;
    if (p->n == PROTO_POLL_MAX || zmq_getsockopt(sock, ZMQ_FD, &fd, &len) != 0)
        return -1;
    p->sock[p->n] = sock;
    p->zfd[p->n] = fd;
    p->dirty |= 1u << p->n;
    return p->n++;
}

/* Asks socket i for its events and remembers the answer. */
static void s_ask(proto_poll_t *p, int i)
{
    uint32_t ev = 0;
    size_t len = sizeof ev;
    unsigned bit = 1u << i;
    if (zmq_getsockopt(p->sock[i], ZMQ_EVENTS, &ev, &len) != 0)
        ev = ZMQ_POLLIN; /* a closed or broken socket: let its reader see the error */
    p->dirty &= ~bit;
    if (ev & ZMQ_POLLIN)
        p->readable |= bit;
    else
        p->readable &= ~bit;
}

unsigned proto_poll_wait(proto_poll_t *p, unsigned want, struct pollfd *fds, int nfds,
                         long timeout_ms)
{
    struct pollfd pfd[2 * PROTO_POLL_MAX];
    int idx[PROTO_POLL_MAX];
    int n = 0;

    for (int i = 0; i < p->n; i++) {
        if (!(want & 1u << i))
            continue;
        if (p->dirty & 1u << i)
            s_ask(p, i);
        pfd[n].fd = p->zfd[i];
        pfd[n].events = POLLIN;
        pfd[n].revents = 0;
        idx[n++] = i;
    }
    int nz = n;
    for (int k = 0; k < nfds && k < PROTO_POLL_MAX; k++) {
        fds[k].revents = 0;
        pfd[n] = fds[k]; /* poll leaves a negative fd out */
        n++;
    }
    /* a socket that already has a message must not wait for its signal */
    int wait = (p->readable & want) ? 0
               : timeout_ms > INT_MAX ? INT_MAX
                                      : (int)(timeout_ms < -1 ? -1 : timeout_ms);
    int rc = poll(pfd, (nfds_t)n, wait);
    int saved = errno;
    for (int k = 0; rc > 0 && k < nz; k++)
        if (pfd[k].revents)
            s_ask(p, idx[k]);
    for (int k = 0; rc > 0 && k < nfds && k < PROTO_POLL_MAX; k++)
        fds[k].revents = pfd[nz + k].revents;
    errno = rc < 0 ? saved : 0;
    return p->readable & want;
}
