/*
 * doorman: process titles ("doorman: worker process") in ps and
 * /proc/PID/cmdline, as nginx shows them.
 */
#ifndef DM_PROCTITLE_H
#define DM_PROCTITLE_H

/* A copy of the original argv, for re-executing the binary. */
extern char **dm_argv;
extern int dm_argc;
/*
 * The copy of the environment when dm_proctitle_init() moved it (else
 * NULL). It lives as long as the process: glibc's clearenv() at exit
 * (which valgrind runs) drops environ, and this keeps the copy reachable.
 */
extern char **dm_environ;

/*
 * Saves argv and moves the environment out of the way, so that the
 * memory after argv[0] can hold a longer title. Call once, early in
 * main(). Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_proctitle_init(int argc, char **argv);

/* Sets the title to "doorman: TITLE". */
void dm_proctitle_set(const char *title);

#endif /* DM_PROCTITLE_H */
