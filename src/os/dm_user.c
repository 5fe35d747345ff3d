/*
 * doorman: dropping privileges.
 */
#include <dm_core.h>
#include <dm_core_module.h>
#include <dm_user.h>
#include <grp.h>
#include <sys/prctl.h>

dm_int_t
dm_user_drop(dm_cycle_t *cycle)
{
    dm_core_conf_t *ccf = dm_core_conf(cycle);

    if (geteuid() == 0 && ccf->user != (uid_t) -1) {
        if (setgid(ccf->group) == -1) {
            dm_log_error(DM_LOG_EMERG, cycle->log, errno, "setgid(%d) failed",
                         (int) ccf->group);
            return DM_ERROR;
        }
        /* the user's own supplementary groups, none of root's */
        if (initgroups((const char *) ccf->user_name.data, ccf->group) == -1) {
            dm_log_error(DM_LOG_EMERG, cycle->log, errno,
                         "initgroups(%s, %d) failed", ccf->user_name.data,
                         (int) ccf->group);
            return DM_ERROR;
        }
        if (setuid(ccf->user) == -1) {
            dm_log_error(DM_LOG_EMERG, cycle->log, errno, "setuid(%d) failed",
                         (int) ccf->user);
            return DM_ERROR;
        }
        /* setuid clears the dumpable flag; a crash should still leave a
           core for the operator */
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == -1) {
            dm_log_error(DM_LOG_ALERT, cycle->log, errno,
                         "prctl(PR_SET_DUMPABLE) failed");
        }
    }

    if (ccf->working_directory.len
        && chdir((const char *) ccf->working_directory.data) == -1) {
        dm_log_error(DM_LOG_EMERG, cycle->log, errno, "chdir(\"%s\") failed",
                     ccf->working_directory.data);
        return DM_ERROR;
    }
    return DM_OK;
}
