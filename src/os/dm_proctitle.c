/*
 * doorman: process titles.
 *
 * Linux shows a process's argv memory as its command line. The strings of
 * argv and of the environment lie end to end; once the environment is
 * copied elsewhere, that whole area can be overwritten with a title.
 */
#include <dm_core.h>
#include <dm_proctitle.h>
#include <sys/prctl.h>

extern char **environ;

char **dm_argv;
int dm_argc;
char **dm_environ;

static char *dm_proctitle_start;
static char *dm_proctitle_end;

dm_int_t
dm_proctitle_init(int argc, char **argv)
{
    char *end;
    int i, n;

    dm_argc = argc;
    dm_argv = calloc((size_t) argc + 1, sizeof(char *));
    if (dm_argv == NULL) {
        return DM_ERROR;
    }
    for (i = 0; i < argc; i++) {
        dm_argv[i] = strdup(argv[i]);
        if (dm_argv[i] == NULL) {
            return DM_ERROR;
        }
    }

    end = argv[0] + strlen(argv[0]) + 1;
    for (i = 1; i < argc && argv[i] == end; i++) {
        end = argv[i] + strlen(argv[i]) + 1;
    }
    for (n = 0; environ[n]; n++) {
    }
    /* the environment strings follow argv: take them too, after copying */
    if (n && environ[0] == end) {
        char **env = calloc((size_t) n + 1, sizeof(char *));

        if (env == NULL) {
            return DM_ERROR;
        }
        for (i = 0; i < n; i++) {
            if (environ[i] == end) {
                end = environ[i] + strlen(environ[i]) + 1;
            }
            env[i] = strdup(environ[i]);
            if (env[i] == NULL) {
                return DM_ERROR;
            }
        }
        environ = env;
        dm_environ = env;
    }
    dm_proctitle_start = argv[0];
    dm_proctitle_end = end;
    return DM_OK;
}

void
dm_proctitle_set(const char *title)
{
    size_t room;
    char comm[16];

    snprintf(comm, sizeof(comm), "doorman: %s", title);
    (void) prctl(PR_SET_NAME, comm, 0, 0, 0);

    if (dm_proctitle_start == NULL) {
        return;
    }
    room = (size_t) (dm_proctitle_end - dm_proctitle_start);
    snprintf(dm_proctitle_start, room, DM_NAME ": %s", title);
    /* NUL-pad so no old argument shows after the title */
    memset(dm_proctitle_start + strlen(dm_proctitle_start), 0,
           room - strlen(dm_proctitle_start));
}
