/*
 * doorman: hello, the out-of-tree test module.
 *
 * Built only by `./configure --add-module=t/modules/hello`; it proves that
 * an external module's fragment, sources, DM_MOD_HELLO define and table
 * entry all work. It is a core module with one top-level directive:
 *
 *     hello_greeting "TEXT";
 *
 * which it keeps in its main configuration (default "hello").
 */
#include <dm_core.h>

typedef struct {
    dm_str_t greeting; /* hello_greeting's argument, or the default */
} dm_hello_conf_t;

static void *dm_hello_create_conf(dm_conf_t *cf);
static char *dm_hello_init_conf(dm_conf_t *cf, void *conf);

static const dm_command_t dm_hello_commands[] = {
    {.name = dm_string("hello_greeting"),
     .contexts = DM_MAIN_CONF,
     .args = DM_CONF_TAKE1,
     .set = dm_conf_set_str_slot,
     .level = DM_CONF_LEVEL_MAIN,
     .offset = offsetof(dm_hello_conf_t, greeting)},
    dm_null_command};

dm_module_t dm_hello_module = {
    .name = "hello",
    .type = DM_MODULE_CORE,
    .commands = dm_hello_commands,
    .create_main_conf = dm_hello_create_conf,
    .init_main_conf = dm_hello_init_conf,
};

/* The main configuration, zeroed: an empty greeting means "not set". */
static void *
dm_hello_create_conf(dm_conf_t *cf)
{
    return dm_pcalloc(cf->pool, sizeof(dm_hello_conf_t));
}

/* Gives the greeting its default when the file did not set one. */
static char *
dm_hello_init_conf(dm_conf_t *cf, void *conf)
{
    dm_hello_conf_t *hcf = conf;

    if (hcf->greeting.data == NULL) {
        dm_str_set(&hcf->greeting, "hello");
    }
    return DM_CONF_OK;
}
