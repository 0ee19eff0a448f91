#include "orch_error.h"

const char *orch_strerror(int err)
{
    switch (err) {
    case ORCH_OK: return "success";
    case ORCH_ENOMEM: return "out of memory";
    case ORCH_EINVAL: return "invalid argument";
    case ORCH_EPROTO: return "malformed message";
    case ORCH_ETOOBIG: return "size limit exceeded";
    case ORCH_ENOTFOUND: return "not found";
    case ORCH_EDB: return "database error";
    case ORCH_EIO: return "i/o error";
    case ORCH_ETIMEOUT: return "timed out";
    case ORCH_ECONFIG: return "invalid configuration";
    case ORCH_EUNAVAIL: return "service unavailable";
    case ORCH_ESTATE: return "invalid state for operation";
    case ORCH_ECONFLICT: return "conflict";
    case ORCH_EPERM: return "permanent failure";
    case ORCH_ECANCELLED: return "cancelled";
    case ORCH_EAGAIN: return "not finished yet";
    default: return "unknown error";
    }
}
