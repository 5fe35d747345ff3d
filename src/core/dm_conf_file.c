/*
 * doorman: the configuration tokenizer, the directive dispatcher and the
 * include directive.
 *
 * A file is read whole (configuration files are small and bounded), then
 * tokenized in place of a stream; every token is copied into the
 * configuration pool NUL-terminated, so setters can hand tokens to system
 * calls and the file buffer stays intact for `-T`. The tokenizer follows
 * nginx's rules (a `{` right after `$` belongs to a `${var}` token, a
 * backslash protects the next byte, a closing quote must be followed by a
 * separator) and is strict where nginx is silent: a NUL byte anywhere is an
 * error, so a token never hides a truncated path.
 */
#include <dm_core.h>
#include <glob.h>

/* What dm_conf_read_token found at the end of a directive. */
#define DM_CONF_TOK_DIRECTIVE   0 /* tokens ended by ';' */
#define DM_CONF_TOK_BLOCK_START 1 /* tokens ended by '{' */
#define DM_CONF_TOK_BLOCK_DONE  2 /* a lone '}' */
#define DM_CONF_TOK_FILE_DONE   3 /* end of input, between directives */
#define DM_CONF_TOK_ERROR       4 /* reported already */

/* What dm_conf_parse is reading. */
#define DM_CONF_PARSE_FILE  0
#define DM_CONF_PARSE_BLOCK 1

static char *dm_conf_parse_file(dm_conf_t *cf, dm_conf_file_t *file, int type);
static dm_int_t dm_conf_read_token(dm_conf_t *cf);
static dm_int_t dm_conf_push_token(dm_conf_t *cf, const u_char *start,
                                   const u_char *end, int unescape);
static dm_int_t dm_conf_handler(dm_conf_t *cf, dm_int_t last);
static dm_int_t dm_conf_read_file(dm_conf_t *cf, dm_conf_file_t *file);
static char *dm_conf_include(dm_conf_t *cf, const dm_command_t *cmd,
                             void *conf);

static const dm_command_t dm_conf_commands[] = {
    {dm_string("include"), DM_ANY_CONF, DM_CONF_TAKE1, dm_conf_include,
     DM_CONF_LEVEL_MAIN, 0, NULL},
    dm_null_command,
};

/*
 * The `include` directive works in every engine, so it is looked up before
 * the modules of the current engine (see dm_conf_handler).
 */
dm_module_t dm_conf_module = {
    .name = "conf",
    .type = DM_MODULE_CORE,
    .commands = dm_conf_commands,
};

char *
dm_conf_parse(dm_conf_t *cf, const dm_str_t *filename)
{
    dm_conf_file_t *file;

    if (filename == NULL) {
        return dm_conf_parse_file(cf, cf->file, DM_CONF_PARSE_BLOCK);
    }

    file = dm_pcalloc(cf->pool, sizeof(dm_conf_file_t));
    if (file == NULL) {
        return DM_CONF_ERROR;
    }
    file->name = *filename;
    if (dm_conf_read_file(cf, file) != DM_OK) {
        return DM_CONF_ERROR;
    }
    return dm_conf_parse_file(cf, file, DM_CONF_PARSE_FILE);
}

char *
dm_conf_parse_buffer(dm_conf_t *cf, const char *name, u_char *data, size_t len)
{
    dm_conf_file_t *file;

    file = dm_pcalloc(cf->pool, sizeof(dm_conf_file_t));
    if (file == NULL) {
        return DM_CONF_ERROR;
    }
    file->name.data = (u_char *) name;
    file->name.len = strlen(name);
    file->start = data;
    file->pos = data;
    file->end = data + len;
    file->line = 1;
    return dm_conf_parse_file(cf, file, DM_CONF_PARSE_FILE);
}

/*
 * Reads directives until the end of the file or, for a block, the closing
 * brace; cf->file is restored on return so the caller continues where it
 * was.
 */
static char *
dm_conf_parse_file(dm_conf_t *cf, dm_conf_file_t *file, int type)
{
    dm_conf_file_t *prev = cf->file;
    dm_int_t rc;
    char *rv = DM_CONF_ERROR;

    cf->file = file;

    for (;;) {
        rc = dm_conf_read_token(cf);

        if (rc == DM_CONF_TOK_ERROR) {
            goto done;
        }
        if (rc == DM_CONF_TOK_BLOCK_DONE) {
            if (type != DM_CONF_PARSE_BLOCK) {
                dm_conf_log_error(DM_LOG_EMERG, cf, 0, "unexpected \"}\"");
                goto done;
            }
            rv = DM_CONF_OK;
            goto done;
        }
        if (rc == DM_CONF_TOK_FILE_DONE) {
            if (type == DM_CONF_PARSE_BLOCK) {
                file->dir_line = file->line;
                dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                                  "unexpected end of file, expecting \"}\"");
                goto done;
            }
            rv = DM_CONF_OK;
            goto done;
        }

        if (dm_conf_handler(cf, rc) != DM_OK) {
            goto done;
        }
    }

done:
    cf->file = prev;
    return rv;
}

static int
dm_conf_is_space(u_char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/*
 * Reads the tokens of one directive into cf->args. The state variables
 * mirror what is being read: a word (last_space == 0), a quoted string
 * (d_quoted / s_quoted), or the separator after a closing quote
 * (need_space).
 */
static dm_int_t
dm_conf_read_token(dm_conf_t *cf)
{
    dm_conf_file_t *f = cf->file;
    int last_space = 1, need_space = 0, quoted = 0, d_quoted = 0;
    int s_quoted = 0, variable = 0, escaped = 0;
    dm_uint_t start_line = f->line;
    const u_char *start = f->pos;
    u_char ch;

    cf->args->nelts = 0;
    f->dir_line = f->line;

    for (;;) {
        if (f->pos >= f->end) {
            if (d_quoted || s_quoted) {
                f->dir_line = start_line;
                dm_conf_log_error(DM_LOG_EMERG, cf, 0, "unterminated string");
                return DM_CONF_TOK_ERROR;
            }
            if (cf->args->nelts > 0 || !last_space) {
                f->dir_line = f->line;
                dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                                  "unexpected end of file, "
                                  "expecting \";\" or \"}\"");
                return DM_CONF_TOK_ERROR;
            }
            return DM_CONF_TOK_FILE_DONE;
        }

        ch = *f->pos++;

        if (ch == '\n') {
            f->line++;
        }
        if (ch == '\0') {
            f->dir_line = f->line;
            dm_conf_log_error(DM_LOG_EMERG, cf, 0, "unexpected NUL byte");
            return DM_CONF_TOK_ERROR;
        }

        if (quoted) {
            /* the byte after a backslash is part of the token, whatever */
            quoted = 0;
            continue;
        }

        if (need_space) {
            if (dm_conf_is_space(ch)) {
                last_space = 1;
                need_space = 0;
                continue;
            }
            if (ch == ';') {
                return DM_CONF_TOK_DIRECTIVE;
            }
            if (ch == '{') {
                return DM_CONF_TOK_BLOCK_START;
            }
            f->dir_line = f->line;
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "unexpected \"%c\" after a quoted string", ch);
            return DM_CONF_TOK_ERROR;
        }

        if (last_space) {
            if (dm_conf_is_space(ch)) {
                continue;
            }
            start = f->pos - 1;
            start_line = f->line;
            if (cf->args->nelts == 0) {
                f->dir_line = f->line;
            }

            switch (ch) {
            case ';':
            case '{':
                if (cf->args->nelts == 0) {
                    dm_conf_log_error(DM_LOG_EMERG, cf, 0, "unexpected \"%c\"",
                                      ch);
                    return DM_CONF_TOK_ERROR;
                }
                return ch == ';' ? DM_CONF_TOK_DIRECTIVE
                                 : DM_CONF_TOK_BLOCK_START;
            case '}':
                if (cf->args->nelts != 0) {
                    dm_conf_log_error(DM_LOG_EMERG, cf, 0, "unexpected \"}\"");
                    return DM_CONF_TOK_ERROR;
                }
                return DM_CONF_TOK_BLOCK_DONE;
            case '#':
                while (f->pos < f->end && *f->pos != '\n') {
                    if (*f->pos == '\0') {
                        break; /* reported by the main loop */
                    }
                    f->pos++;
                }
                continue;
            case '\\':
                quoted = 1;
                escaped = 1;
                last_space = 0;
                continue;
            case '"':
                start++;
                d_quoted = 1;
                escaped = 1;
                last_space = 0;
                continue;
            case '\'':
                start++;
                s_quoted = 1;
                escaped = 1;
                last_space = 0;
                continue;
            case '$':
                variable = 1;
                last_space = 0;
                continue;
            default:
                last_space = 0;
                continue;
            }
        }

        /* inside a word or a quoted string */
        if (ch == '{' && variable) {
            continue;
        }
        variable = 0;

        if (ch == '\\') {
            quoted = 1;
            escaped = 1;
            continue;
        }
        if (ch == '$') {
            variable = 1;
            continue;
        }

        if (d_quoted || s_quoted) {
            if ((d_quoted && ch == '"') || (s_quoted && ch == '\'')) {
                if (dm_conf_push_token(cf, start, f->pos - 1, escaped)
                    != DM_OK) {
                    return DM_CONF_TOK_ERROR;
                }
                d_quoted = s_quoted = escaped = 0;
                need_space = 1;
            }
            continue;
        }

        if (dm_conf_is_space(ch) || ch == ';' || ch == '{') {
            if (dm_conf_push_token(cf, start, f->pos - 1, escaped) != DM_OK) {
                return DM_CONF_TOK_ERROR;
            }
            escaped = 0;
            last_space = 1;
            if (ch == ';') {
                return DM_CONF_TOK_DIRECTIVE;
            }
            if (ch == '{') {
                return DM_CONF_TOK_BLOCK_START;
            }
        }
    }
}

/*
 * Copies one token into the pool, NUL-terminated. For quoted strings and
 * words with backslashes, \" \' \\ become the character and \t \r \n the
 * control byte; any other backslash pair is kept as written (so regexes
 * keep their escapes).
 */
static dm_int_t
dm_conf_push_token(dm_conf_t *cf, const u_char *start, const u_char *end,
                   int unescape)
{
    dm_str_t *word;
    u_char *dst;
    size_t len = (size_t) (end - start);

    if (cf->args->nelts >= DM_CONF_MAX_TOKENS) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "too many arguments");
        return DM_ERROR;
    }
    word = dm_array_push(cf->args);
    if (word == NULL) {
        return DM_ERROR;
    }
    word->data = dm_pnalloc(cf->pool, len + 1);
    if (word->data == NULL) {
        return DM_ERROR;
    }

    dst = word->data;
    while (start < end) {
        if (unescape && *start == '\\' && start + 1 < end) {
            switch (start[1]) {
            case '"':
            case '\'':
            case '\\':
                *dst++ = start[1];
                start += 2;
                continue;
            case 't':
                *dst++ = '\t';
                start += 2;
                continue;
            case 'r':
                *dst++ = '\r';
                start += 2;
                continue;
            case 'n':
                *dst++ = '\n';
                start += 2;
                continue;
            }
        }
        *dst++ = *start++;
    }
    *dst = '\0';
    word->len = (size_t) (dst - word->data);
    return DM_OK;
}

/* Argument-count bit for n arguments (0 ... 7). */
static const dm_uint_t dm_conf_argument_number[] = {
    DM_CONF_NOARGS, DM_CONF_TAKE1, DM_CONF_TAKE2, DM_CONF_TAKE3,
    DM_CONF_TAKE4,  DM_CONF_TAKE5, DM_CONF_TAKE6, DM_CONF_TAKE7,
};

static int
dm_conf_args_ok(const dm_command_t *cmd, dm_uint_t nargs)
{
    if (cmd->args & DM_CONF_ANY) {
        return 1;
    }
    if (cmd->args & DM_CONF_FLAG) {
        return nargs == 1;
    }
    if (cmd->args & DM_CONF_1MORE) {
        return nargs >= 1;
    }
    if (cmd->args & DM_CONF_2MORE) {
        return nargs >= 2;
    }
    if (nargs >= DM_CONF_MAX_ARGS) {
        return 0;
    }
    return (cmd->args & dm_conf_argument_number[nargs]) != 0;
}

/*
 * Finds the directive named by the first token among the modules of the
 * current engine and calls its setter with the structure of its level.
 * A name known to some module but not allowed here is "not allowed here";
 * a name no module knows is "unknown directive".
 */
static dm_int_t
dm_conf_handler(dm_conf_t *cf, dm_int_t last)
{
    dm_str_t *name = cf->args->elts;
    const dm_command_t *cmd;
    dm_module_t *m;
    void **level, *conf;
    dm_uint_t i;
    int found = 0;
    char *rv;

    /* a block of entries (map and the like): its handler takes them, but
       for `include FILE;`, which reads more entries from a file (nginx's
       handlers each call the include directive themselves) */
    if (cf->handler
        && !(cf->args->nelts == 2 && dm_str_eq(name, "include")
             && last == DM_CONF_TOK_DIRECTIVE)) {
        if (last == DM_CONF_TOK_BLOCK_START) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0, "unexpected \"{\"");
            return DM_ERROR;
        }
        rv = cf->handler(cf, NULL, cf->handler_conf);
        if (rv == DM_CONF_OK) {
            return DM_OK;
        }
        if (rv != DM_CONF_ERROR) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0, "%s", rv);
        }
        return DM_ERROR;
    }

    for (i = 0; dm_modules[i]; i++) {
        m = dm_modules[i];
        cmd = m->commands;
        if (cmd == NULL) {
            continue;
        }
        for (; cmd->name.len; cmd++) {
            if (name->len != cmd->name.len
                || memcmp(name->data, cmd->name.data, name->len) != 0) {
                continue;
            }
            found = 1;

            /* include is everybody's; the rest belongs to its engine */
            if (m != &dm_conf_module && m->type != cf->module_type) {
                continue;
            }
            if (!(cmd->contexts & cf->cmd_type)) {
                continue;
            }

            if (!(cmd->args & DM_CONF_BLOCK) && last != DM_CONF_TOK_DIRECTIVE) {
                dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                                  "directive \"%s\" is not terminated by "
                                  "\";\"",
                                  name->data);
                return DM_ERROR;
            }
            if ((cmd->args & DM_CONF_BLOCK)
                && last != DM_CONF_TOK_BLOCK_START) {
                dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                                  "directive \"%s\" has no opening \"{\"",
                                  name->data);
                return DM_ERROR;
            }
            if (!dm_conf_args_ok(cmd, cf->args->nelts - 1)) {
                dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                                  "invalid number of arguments in \"%s\" "
                                  "directive",
                                  name->data);
                return DM_ERROR;
            }

            conf = NULL;
            if (m != &dm_conf_module) {
                level = (cmd->level == DM_CONF_LEVEL_SRV) ? cf->ctx->srv_conf
                        : (cmd->level == DM_CONF_LEVEL_LOC)
                            ? cf->ctx->loc_conf
                            : cf->ctx->main_conf;
                conf = level ? level[m->ctx_index] : NULL;
            }

            rv = cmd->set(cf, cmd, conf);
            if (rv == DM_CONF_OK) {
                return DM_OK;
            }
            if (rv != DM_CONF_ERROR) {
                dm_conf_log_error(DM_LOG_EMERG, cf, 0, "\"%s\" directive %s",
                                  name->data, rv);
            }
            return DM_ERROR;
        }
    }

    if (found) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "\"%s\" directive is not allowed here", name->data);
    } else {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "unknown directive \"%s\"",
                          name->data);
    }
    return DM_ERROR;
}

/*
 * Reads a whole configuration file into the configuration pool and, for
 * -T, records it for the dump.
 */
static dm_int_t
dm_conf_read_file(dm_conf_t *cf, dm_conf_file_t *file)
{
    struct stat st;
    ssize_t n;
    size_t got = 0;
    int fd;

    /* O_NONBLOCK: a FIFO must not hang the parser (it is refused below) */
    fd =
        open((const char *) file->name.data, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd == -1) {
        dm_conf_log_error(DM_LOG_EMERG, cf, errno, "open() \"%s\" failed",
                          file->name.data);
        return DM_ERROR;
    }
    if (fstat(fd, &st) == -1) {
        dm_conf_log_error(DM_LOG_EMERG, cf, errno, "fstat() \"%s\" failed",
                          file->name.data);
        close(fd);
        return DM_ERROR;
    }
    if (!S_ISREG(st.st_mode)) {
        /* errno is stale here: only a directory has an errno to show */
        dm_conf_log_error(DM_LOG_EMERG, cf, S_ISDIR(st.st_mode) ? EISDIR : 0,
                          "\"%s\" is not a regular file", file->name.data);
        close(fd);
        return DM_ERROR;
    }
    if (st.st_size > DM_CONF_MAX_FILE) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "\"%s\" is larger than %d bytes",
                          file->name.data, DM_CONF_MAX_FILE);
        close(fd);
        return DM_ERROR;
    }

    file->start = dm_pnalloc(cf->pool, (size_t) st.st_size + 1);
    if (file->start == NULL) {
        close(fd);
        return DM_ERROR;
    }
    while (got < (size_t) st.st_size) {
        n = read(fd, file->start + got, (size_t) st.st_size - got);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            dm_conf_log_error(DM_LOG_EMERG, cf, n == 0 ? 0 : errno,
                              "read() \"%s\" failed", file->name.data);
            close(fd);
            return DM_ERROR;
        }
        got += (size_t) n;
    }
    close(fd);

    file->pos = file->start;
    file->end = file->start + got;
    file->line = 1;

    if (cf->cycle && cf->cycle->dump_config) {
        dm_cycle_dump_t *d = dm_array_push(&cf->cycle->config_dump);
        if (d == NULL) {
            return DM_ERROR;
        }
        d->name = file->name;
        d->data.data = file->start;
        d->data.len = got;
    }
    return DM_OK;
}

/*
 * include GLOB: relative to the directory of the main configuration file;
 * matches are read in sorted order. A pattern with wildcards that matches
 * nothing is fine (an empty conf.d/); a plain path that is missing is an
 * error.
 */
static char *
dm_conf_include(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_str_t *value = cf->args->elts, file;
    glob_t gl;
    size_t i;
    char *rv = DM_CONF_OK;
    int rc;

    file = value[1];
    if (dm_conf_full_name(cf->cycle, &file, 1) != DM_OK) {
        return DM_CONF_ERROR;
    }
    if (cf->include_depth >= DM_CONF_MAX_INCLUDE) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "include nesting deeper than %d (a loop?)",
                          DM_CONF_MAX_INCLUDE);
        return DM_CONF_ERROR;
    }
    cf->include_depth++;

    if (strpbrk((const char *) file.data, "*?[") == NULL) {
        rv = dm_conf_parse(cf, &file);
        cf->include_depth--;
        return rv;
    }

    rc = glob((const char *) file.data, 0, NULL, &gl);
    if (rc == GLOB_NOMATCH) {
        cf->include_depth--;
        return DM_CONF_OK;
    }
    if (rc != 0) {
        dm_conf_log_error(DM_LOG_EMERG, cf, errno, "glob() \"%s\" failed",
                          file.data);
        cf->include_depth--;
        return DM_CONF_ERROR;
    }
    for (i = 0; i < gl.gl_pathc && rv == DM_CONF_OK; i++) {
        dm_str_t name;

        name.len = strlen(gl.gl_pathv[i]);
        name.data = dm_pnalloc(cf->pool, name.len + 1);
        if (name.data == NULL) {
            rv = DM_CONF_ERROR;
            break;
        }
        memcpy(name.data, gl.gl_pathv[i], name.len + 1);
        rv = dm_conf_parse(cf, &name);
    }
    globfree(&gl);
    cf->include_depth--;
    return rv;
}

void
dm_conf_log_error(dm_uint_t level, dm_conf_t *cf, dm_err_t err, const char *fmt,
                  ...)
{
    char msg[DM_LOG_LINE_MAX];
    va_list args;
    int n;

    va_start(args, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);
    if (n < 0) {
        msg[0] = '\0';
    }

    if (cf->file == NULL) {
        dm_log_error(level, cf->log, err, "%s", msg);
        return;
    }
    /* errno goes before the location, as nginx prints it */
    if (strcmp((const char *) cf->file->name.data, "command line") == 0) {
        if (err) {
            dm_log_error(level, cf->log, 0, "%s (%d: %s) in command line", msg,
                         err, strerror(err));
            return;
        }
        dm_log_error(level, cf->log, 0, "%s in command line", msg);
        return;
    }
    if (err) {
        dm_log_error(level, cf->log, 0, "%s (%d: %s) in %s:%lu", msg, err,
                     strerror(err), cf->file->name.data,
                     (unsigned long) cf->file->dir_line);
        return;
    }
    dm_log_error(level, cf->log, 0, "%s in %s:%lu", msg, cf->file->name.data,
                 (unsigned long) cf->file->dir_line);
}

dm_int_t
dm_conf_full_name(dm_cycle_t *cycle, dm_str_t *name, int conf_prefix)
{
    const dm_str_t *prefix;
    u_char *p;

    if (name->len && name->data[0] == '/') {
        /* make sure it is NUL-terminated without trusting the source */
        p = dm_pstrdup(cycle->pool, name);
        if (p == NULL) {
            return DM_ERROR;
        }
        name->data = p;
        return DM_OK;
    }

    prefix = conf_prefix ? &cycle->conf_prefix : &cycle->prefix;
    p = dm_pnalloc(cycle->pool, prefix->len + name->len + 1);
    if (p == NULL) {
        return DM_ERROR;
    }
    memcpy(p, prefix->data, prefix->len);
    memcpy(p + prefix->len, name->data, name->len);
    p[prefix->len + name->len] = '\0';
    name->data = p;
    name->len += prefix->len;
    return DM_OK;
}

char *
dm_conf_parse_block(dm_conf_t *cf, dm_conf_ctx_t *ctx, dm_uint_t module_type,
                    dm_uint_t cmd_type)
{
    dm_conf_t saved = *cf;
    char *rv;

    if (cf->block_depth >= DM_CONF_MAX_BLOCK_DEPTH) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "blocks nested deeper than %d",
                          DM_CONF_MAX_BLOCK_DEPTH);
        return DM_CONF_ERROR;
    }
    cf->block_depth++;

    cf->ctx = ctx;
    cf->module_type = module_type;
    cf->cmd_type = cmd_type;
    cf->handler = NULL;
    cf->handler_conf = NULL;
    rv = dm_conf_parse(cf, NULL);
    /* the block consumed tokens: keep the file position, restore the rest */
    saved.file = cf->file;
    *cf = saved;
    return rv;
}
