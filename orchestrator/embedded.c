/* The embedded tier: a private PostgreSQL under database.data_dir, started
 * and stopped by orchestratord (embedded.h). */
#include "embedded.h"
#include "store_tools.h"
#include "log.h"
#include "orch_error.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define EMBEDDED_PORT "5432"
#define EMBEDDED_DB "orch"
#define EMBEDDED_USER "postgres"
/* The socket file is DIR/run/.s.PGSQL.5432 and unix socket paths hold 107
 * bytes; pgdev.sh uses DIR/run up to this length too. */
#define EMBEDDED_DIR_MAX 80
/* Marks a postgresql.conf we (or pgdev.sh) already configured. */
#define EMBEDDED_MARK "# --- orchestratord: embedded cluster ---"
#define PGDEV_MARK "# --- pgdev.sh: private development cluster ---"

struct embedded {
    char dir[EMBEDDED_DIR_MAX + 1];  /* absolute */
    char data[EMBEDDED_DIR_MAX + 8]; /* DIR/data */
    char sock[EMBEDDED_DIR_MAX + 8]; /* DIR/run */
    char bindir[PATH_MAX];           /* .../bin with initdb and pg_ctl */
    char url[PATH_MAX + 64];
    bool as_pg; /* we are root: the tools run as the postgres user */
    uid_t uid;
    gid_t gid;
    bool started; /* a server is running that embedded_stop must stop */
};

/* Same settings as deploy/pgdev.sh (durable, no TCP, the socket in DIR/run). */
static const char s_conf_fmt[] = "\n" EMBEDDED_MARK "\n"
                                 "listen_addresses = ''\n"
                                 "port = " EMBEDDED_PORT "\n"
                                 "unix_socket_directories = '%s'\n"
                                 "unix_socket_permissions = 0777\n"
                                 "max_connections = 100\n"
                                 "shared_buffers = 128MB\n"
                                 "# durable, like production: never turn these off\n"
                                 "fsync = on\n"
                                 "synchronous_commit = on\n"
                                 "full_page_writes = on\n"
                                 "wal_level = replica\n"
                                 "max_wal_senders = 4\n"
                                 "max_wal_size = 1GB\n"
                                 "log_line_prefix = '%%m [%%p] %%q%%u@%%d '\n"
                                 "log_min_messages = warning\n"
                                 "log_timezone = 'UTC'\n"
                                 "timezone = 'UTC'\n";

static const char s_hba[] =
    "# orchestratord: unix socket only, trusted (the socket directory is "
    "private)\n"
    "local   all             all                                     trust\n"
    "local   replication     all                                     trust\n";

/* The newest /usr/lib/postgresql/N/bin holding initdb and pg_ctl, or
 * ORCH_PG_BINDIR. */
static int s_find_bindir(embedded_t *e, char *err, size_t errlen)
{
    const char *env = getenv("ORCH_PG_BINDIR");
    if (env && *env) {
        snprintf(e->bindir, sizeof e->bindir, "%s", env);
    } else {
        glob_t g;
        long best = -1;
        if (glob("/usr/lib/postgresql/*/bin", GLOB_ONLYDIR, NULL, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc; i++) {
                long v = strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
                if (v > best) {
                    best = v;
                    snprintf(e->bindir, sizeof e->bindir, "%s", g.gl_pathv[i]);
                }
            }
            globfree(&g);
        }
    }
    char initdb[PATH_MAX + 16], pg_ctl[PATH_MAX + 16];
    snprintf(initdb, sizeof initdb, "%s/initdb", e->bindir);
    snprintf(pg_ctl, sizeof pg_ctl, "%s/pg_ctl", e->bindir);
    if (e->bindir[0] && access(initdb, X_OK) == 0 && access(pg_ctl, X_OK) == 0)
        return 0;
    snprintf(err, errlen,
             "cannot run an embedded PostgreSQL: no server binaries (initdb, pg_ctl) %s%s%s; "
             "install the PostgreSQL server package or set database.url",
             env && *env ? "in \"" : "under /usr/lib/postgresql/*/bin", env && *env ? env : "",
             env && *env ? "\" (ORCH_PG_BINDIR)" : "");
    return ORCH_ECONFIG;
}

/* Paths, binaries and the user the server runs as. */
static int s_setup(embedded_t *e, const char *dir, char *err, size_t errlen)
{
    char cwd[PATH_MAX] = "";
    if (dir[0] != '/' && !getcwd(cwd, sizeof cwd)) {
        snprintf(err, errlen, "could not resolve database.data_dir \"%s\": %s", dir,
                 strerror(errno));
        return ORCH_EIO;
    }
    char abs[2 * PATH_MAX];
    snprintf(abs, sizeof abs, "%s%s%s", cwd, cwd[0] ? "/" : "", dir);
    size_t n = strlen(abs);
    while (n > 1 && abs[n - 1] == '/')
        abs[--n] = '\0';
    if (n > EMBEDDED_DIR_MAX) {
        snprintf(err, errlen,
                 "database.data_dir \"%s\" is too long for its unix socket (%zu bytes, at most "
                 "%d): choose a shorter path",
                 abs, n, EMBEDDED_DIR_MAX);
        return ORCH_ECONFIG;
    }
    memcpy(e->dir, abs, n + 1);
    snprintf(e->data, sizeof e->data, "%s/data", e->dir);
    snprintf(e->sock, sizeof e->sock, "%s/run", e->dir);
    snprintf(e->url, sizeof e->url,
             "host=%s port=" EMBEDDED_PORT " dbname=" EMBEDDED_DB " user=" EMBEDDED_USER, e->sock);
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam(EMBEDDED_USER);
        if (!pw) {
            snprintf(err, errlen,
                     "cannot run an embedded PostgreSQL as root without a \"postgres\" system "
                     "user: install the PostgreSQL server package, or run orchestratord as "
                     "another user");
            return ORCH_ECONFIG;
        }
        e->as_pg = true;
        e->uid = pw->pw_uid;
        e->gid = pw->pw_gid;
    }
    return s_find_bindir(e, err, errlen);
}

/* In a forked child: become the postgres user when we are root. Only
 * async-signal-safe calls. */
static void s_child_drop(const embedded_t *e)
{
    if (e->as_pg && (setgroups(1, &e->gid) != 0 || setgid(e->gid) != 0 || setuid(e->uid) != 0)) {
        static const char msg[] = "orchestratord: could not become the postgres user\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(126);
    }
}

static int s_wait(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return st;
}

/* Runs argv (absolute path, no shell) in DIR with its output in log.
 * Returns the wait status, or -1 with errno. */
static int s_run(const embedded_t *e, char *const argv[], const char *log)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return -1;
    }
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &dfl, NULL);
        s_child_drop(e);
        /* the postgres user may not be able to read our working directory */
        if (chdir(e->dir) != 0)
            _exit(126);
        execv(argv[0], argv);
        static const char msg[] = "orchestratord: exec failed\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    close(fd);
    return s_wait(pid);
}

/* Whether the server's user may access path with mode (access(2)). */
static bool s_pg_can(const embedded_t *e, const char *path, int mode)
{
    if (!e->as_pg)
        return access(path, mode) == 0;
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        s_child_drop(e);
        _exit(access(path, mode) == 0 ? 0 : 1);
    }
    int st = s_wait(pid);
    return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* "exited 1" / "was killed by signal 9" / the errno of a failed spawn. */
static void s_status_text(int st, char *buf, size_t len)
{
    if (st < 0)
        snprintf(buf, len, "could not be run: %s", strerror(errno));
    else if (WIFEXITED(st))
        snprintf(buf, len, "exited %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "was killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, len, "ended with status %d", st);
}

/* The last few non-empty lines of a log, on one line ("" if none). */
static void s_tail(const char *path, char *buf, size_t len)
{
    char text[1024];
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
    long from = size > (long)sizeof text - 1 ? size - (long)sizeof text + 1 : 0;
    size_t n = fseek(f, from, SEEK_SET) == 0 ? fread(text, 1, sizeof text - 1, f) : 0;
    fclose(f);
    text[n] = '\0';
    const char *lines[3] = {NULL, NULL, NULL};
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        lines[0] = lines[1];
        lines[1] = lines[2];
        lines[2] = l;
    }
    for (int i = 0; i < 3; i++)
        if (lines[i]) {
            size_t used = strlen(buf);
            snprintf(buf + used, len - used, "%s%s", used ? " / " : "", lines[i]);
        }
}

/* "could not WHAT PostgreSQL in "DIR": TOOL exited 1: <tail of log>" */
static int s_tool_error(const embedded_t *e, const char *what, const char *tool, int st,
                        const char *log, char *err, size_t errlen)
{
    char status[128], tail[600];
    s_status_text(st, status, sizeof status);
    s_tail(log, tail, sizeof tail);
    snprintf(err, errlen, "could not %s PostgreSQL in \"%s\": %s %s%s%s", what, e->dir, tool,
             status, tail[0] ? ": " : "", tail);
    return ORCH_EIO;
}

/* mkdir (one level), owned by the server's user, mode 0700. */
static int s_owned_dir(const embedded_t *e, const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "could not create directory \"%s\": %s", path, strerror(errno));
        return ORCH_EIO;
    }
    if ((e->as_pg && chown(path, e->uid, e->gid) != 0) || chmod(path, 0700) != 0) {
        snprintf(err, errlen, "could not give directory \"%s\" to the postgres user: %s", path,
                 strerror(errno));
        return ORCH_EIO;
    }
    if (!s_pg_can(e, path, W_OK | X_OK)) {
        snprintf(err, errlen,
                 "the postgres system user cannot reach \"%s\": a parent directory is not "
                 "traversable (e.g. /root is 0700); choose a directory under /var/lib or /tmp",
                 path);
        return ORCH_ECONFIG;
    }
    return 0;
}

static bool s_file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strncmp(line, needle, strlen(needle)) == 0;
    fclose(f);
    return found;
}

/* Our settings in postgresql.conf and pg_hba.conf, once. Appending keeps
 * the files' owner (postgres), so root may write them directly. */
static int s_configure(const embedded_t *e, char *err, size_t errlen)
{
    char conf[PATH_MAX + 32], hba[PATH_MAX + 32];
    snprintf(conf, sizeof conf, "%s/postgresql.conf", e->data);
    snprintf(hba, sizeof hba, "%s/pg_hba.conf", e->data);
    if (s_file_has(conf, EMBEDDED_MARK) || s_file_has(conf, PGDEV_MARK))
        return 0;
    FILE *h = fopen(hba, "w");
    bool ok = h && fputs(s_hba, h) >= 0;
    ok = (h && fclose(h) == 0) && ok;
    FILE *c = ok ? fopen(conf, "a") : NULL;
    ok = c && fprintf(c, s_conf_fmt, e->sock) > 0;
    ok = (c && fclose(c) == 0) && ok;
    if (!ok) {
        snprintf(err, errlen, "could not configure PostgreSQL in \"%s\": writing %s: %s", e->dir,
                 c ? conf : hba, strerror(errno));
        return ORCH_EIO;
    }
    return 0;
}

/* initdb on first use (DIR/data/PG_VERSION missing), then our settings. */
static int s_initdb(embedded_t *e, char *err, size_t errlen)
{
    char version[PATH_MAX + 16], tool[PATH_MAX + 16], log[PATH_MAX + 16];
    snprintf(version, sizeof version, "%s/PG_VERSION", e->data);
    if (access(version, F_OK) != 0) {
        snprintf(tool, sizeof tool, "%s/initdb", e->bindir);
        snprintf(log, sizeof log, "%s/initdb.log", e->dir);
        char *argv[] = {tool, "-D",    e->data, "-U",   EMBEDDED_USER,
                        "-A", "trust", "-E",    "UTF8", "--locale=C.UTF-8",
                        NULL};
        LOG_INFO("initialising embedded PostgreSQL data_dir=%s bindir=%s", e->dir, e->bindir);
        int st = s_run(e, argv, log);
        if (st != 0)
            return s_tool_error(e, "initialise", "initdb", st, log, err, errlen);
    }
    return s_configure(e, err, errlen);
}

/* pg_ctl ACTION with its output in DIR/pg_ctl.log. */
static int s_pg_ctl(const embedded_t *e, const char *action, char *log, size_t loglen)
{
    char tool[PATH_MAX + 16], pglog[PATH_MAX + 32];
    snprintf(tool, sizeof tool, "%s/pg_ctl", e->bindir);
    snprintf(pglog, sizeof pglog, "%s/postgresql.log", e->dir);
    snprintf(log, loglen, "%s/pg_ctl.log", e->dir);
    char *argv[12] = {tool, "-D", (char *)e->data};
    int n = 3;
    if (strcmp(action, "start") == 0) {
        argv[n++] = "-l";
        argv[n++] = pglog;
    } else if (strcmp(action, "stop") == 0) {
        argv[n++] = "-m";
        argv[n++] = "fast";
    }
    if (strcmp(action, "status") != 0) {
        argv[n++] = "-w";
        argv[n++] = "-t";
        argv[n++] = "60";
    }
    argv[n++] = "-s";
    argv[n++] = (char *)action;
    argv[n] = NULL;
    return s_run(e, argv, log);
}

static int s_start_server(embedded_t *e, char *err, size_t errlen)
{
    char log[PATH_MAX + 16];
    int st = s_pg_ctl(e, "status", log, sizeof log);
    if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        /* left by a run that was killed: take it over, and stop it on exit */
        LOG_WARN("embedded PostgreSQL was already running, using it data_dir=%s", e->dir);
        e->started = true;
        return 0;
    }
    st = s_pg_ctl(e, "start", log, sizeof log);
    if (st != 0) {
        char pglog[PATH_MAX + 32];
        snprintf(pglog, sizeof pglog, "%s/postgresql.log", e->dir);
        return s_tool_error(e, "start", "pg_ctl", st, access(pglog, R_OK) == 0 ? pglog : log, err,
                            errlen);
    }
    e->started = true;
    return 0;
}

/* Database "orch", created on first use (a server-side object, so the
 * check runs on every start: an earlier run may have died before it). */
static int s_create_db(const embedded_t *e, char *err, size_t errlen)
{
    char conninfo[PATH_MAX + 64], why[600];
    snprintf(conninfo, sizeof conninfo,
             "host=%s port=" EMBEDDED_PORT " dbname=postgres user=" EMBEDDED_USER, e->sock);
    if (store_ensure_database(conninfo, EMBEDDED_DB, why, sizeof why) == ORCH_OK)
        return 0;
    snprintf(err, errlen, "could not create database \"" EMBEDDED_DB "\" in \"%s\": %s", e->dir,
             why);
    return ORCH_EDB;
}

static const char *s_dir(const orch_config_t *cfg, const char *data_dir)
{
    return data_dir ? data_dir : cfg->db_data_dir;
}

static int s_no_database(char *err, size_t errlen)
{
    snprintf(err, errlen,
             "no database configured: set database.url (or ORCH_DATABASE_URL) to use a "
             "PostgreSQL server, or database.data_dir (--data-dir, ORCH_DATA_DIR) for a private "
             "one that orchestratord runs itself");
    return ORCH_ECONFIG;
}

/* The directory we would create: DIR itself if it exists, else its parent. */
static int s_check_writable(const embedded_t *e, char *err, size_t errlen)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", e->dir);
    char *slash = strrchr(parent, '/');
    if (slash == parent)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    bool exists = access(e->dir, F_OK) == 0;
    const char *target = exists ? e->dir : parent;
    if (access(target, W_OK | X_OK) != 0) {
        snprintf(err, errlen,
                 "cannot provision PostgreSQL in database.data_dir \"%s\": %s \"%s\" is not "
                 "writable (%s); choose another directory or set database.url",
                 e->dir, exists ? "directory" : "its parent directory", target, strerror(errno));
        return ORCH_ECONFIG;
    }
    if (!s_pg_can(e, parent, X_OK)) {
        snprintf(err, errlen,
                 "cannot provision PostgreSQL in database.data_dir \"%s\": the postgres system "
                 "user cannot traverse \"%s\"; choose a directory under /var/lib or /tmp",
                 e->dir, parent);
        return ORCH_ECONFIG;
    }
    return 0;
}

int embedded_check(const orch_config_t *cfg, const char *data_dir, char *err, size_t errlen)
{
    const char *dir = s_dir(cfg, data_dir);
    if (cfg->db_url)
        return 0;
    if (!dir || !*dir)
        return s_no_database(err, errlen);
    embedded_t *e = xcalloc(1, sizeof *e);
    int rc = s_setup(e, dir, err, errlen);
    if (rc == 0)
        rc = s_check_writable(e, err, errlen);
    free(e);
    return rc;
}

int embedded_start(orch_config_t *cfg, const char *data_dir, embedded_t **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    const char *dir = s_dir(cfg, data_dir);
    if (cfg->db_url) {
        if (dir && *dir)
            LOG_INFO("database.url is set: using that server, database.data_dir ignored "
                     "data_dir=%s",
                     dir);
        return 0;
    }
    if (!dir || !*dir)
        return s_no_database(err, errlen);
    embedded_t *e = xcalloc(1, sizeof *e);
    int rc = s_setup(e, dir, err, errlen);
    if (rc == 0)
        rc = s_owned_dir(e, e->dir, err, errlen);
    if (rc == 0)
        rc = s_owned_dir(e, e->sock, err, errlen);
    if (rc == 0)
        rc = s_initdb(e, err, errlen);
    if (rc == 0)
        rc = s_start_server(e, err, errlen);
    if (rc == 0)
        rc = s_create_db(e, err, errlen);
    if (rc != 0) {
        embedded_stop(&e);
        return rc;
    }
    free(cfg->db_url);
    cfg->db_url = xstrdup(e->url);
    LOG_INFO("embedded PostgreSQL running data_dir=%s url=\"%s\"%s", e->dir, e->url,
             e->as_pg ? " user=postgres" : "");
    *out = e;
    return 0;
}

const char *embedded_url(const embedded_t *e)
{
    return e->url;
}

int embedded_stop(embedded_t **ep)
{
    if (!ep || !*ep)
        return 0;
    embedded_t *e = *ep;
    int rc = 0;
    if (e->started) {
        char log[PATH_MAX + 16], msg[1024];
        int st = s_pg_ctl(e, "stop", log, sizeof log);
        if (st != 0) {
            rc = s_tool_error(e, "stop", "pg_ctl", st, log, msg, sizeof msg);
            LOG_ERROR("%s", msg);
        } else {
            LOG_INFO("embedded PostgreSQL stopped data_dir=%s", e->dir);
        }
    }
    free(e);
    *ep = NULL;
    return rc;
}
