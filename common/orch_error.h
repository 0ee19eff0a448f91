/* One error enum for every module: 0 is success, negative values are
 * failures printable with orch_strerror(). */
#ifndef ORCH_ERROR_H
#define ORCH_ERROR_H

enum {
    ORCH_OK = 0,
    ORCH_ENOMEM = -1,    /* out of memory (normally aborts in xalloc) */
    ORCH_EINVAL = -2,    /* bad argument or bad input value */
    ORCH_EPROTO = -3,    /* malformed protocol message */
    ORCH_ETOOBIG = -4,   /* size limit exceeded */
    ORCH_ENOTFOUND = -5, /* no such object */
    ORCH_EDB = -6,       /* database error */
    ORCH_EIO = -7,       /* socket / file error */
    ORCH_ETIMEOUT = -8,  /* deadline passed */
    ORCH_ECONFIG = -9,   /* invalid configuration */
    ORCH_EUNAVAIL = -10, /* service temporarily unavailable */
    ORCH_ESTATE = -11,   /* operation not valid in the object's state */
    ORCH_ECONFLICT = -12,/* conflicting request */
    ORCH_EPERM = -13,    /* permanent failure, do not retry */
    ORCH_ECANCELLED = -14,
    ORCH_EAGAIN = -15,   /* not finished yet: ask again later */
};

const char *orch_strerror(int err);

#endif
