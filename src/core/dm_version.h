/*
 * doorman: the version, one place for `-v`, `-V` and the Server header.
 */
#ifndef DM_VERSION_H
#define DM_VERSION_H

#define DM_VERSION_NUM 1000
#define DM_VERSION     "0.1.0"
#define DM_VER         "doorman/" DM_VERSION

#endif /* DM_VERSION_H */
