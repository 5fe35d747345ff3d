/*
 * doorman: dropping privileges in workers and the helper.
 */
#ifndef DM_USER_H
#define DM_USER_H

/*
 * As root: becomes `user` (setgid, initgroups, setuid, in that order, so
 * no group of root survives), keeps the process able to dump core, and
 * changes to working_directory when set. As another user: nothing to drop
 * (a warning was given at start if `user` was set). Returns DM_OK or
 * DM_ERROR (logged): a child that cannot drop must not serve.
 */
dm_int_t dm_user_drop(dm_cycle_t *cycle);

#endif /* DM_USER_H */
