/*
 * main.c: cantoctl's command line: `cantoctl [--config FILE] COMMAND ARGS`.
 *
 * Options come before the command. The configuration is loaded and fully
 * validated before any command runs, with the same loader cantod uses, so
 * cantoctl refuses to touch the storage of a configuration the server itself
 * would refuse; `check` is that validation alone. Each command lives in its
 * own function (accounts.c for the account commands) and returns the exit
 * status: 0 success, 1 failure, 2 usage error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/config.h"
#include "cantoctl/cantoctl.h"

#define DEFAULT_CONFIG "/etc/canto/canto.yaml"

int cantoctl_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("cantoctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CANTOCTL_EXIT_FAIL;
}

int cantoctl_usage(void)
{
    fputs("usage: cantoctl [--config FILE] COMMAND [ARGS]\n"
          "\n"
          "commands:\n"
          "  adduser JID [PASSWORD]  create an account (password read from stdin if omitted)\n"
          "  deluser JID             delete an account and everything stored for it\n"
          "  passwd JID [PASSWORD]   set an account's password\n"
          "  users [HOST]            list accounts, one bare JID per line\n"
          "  adduser-bulk PREFIX FIRST COUNT [HOST]\n"
          "                          create PREFIX<FIRST>..PREFIX<FIRST+COUNT-1> with one\n"
          "                          password from stdin (test and load accounts)\n"
          "  check                   validate the configuration\n"
          "\n"
          "options:\n"
          "  -c, --config FILE       configuration file (default " DEFAULT_CONFIG ")\n"
          "  -h, --help              this text\n",
          stderr);
    return CANTOCTL_EXIT_USAGE;
}

static int cmd_check(struct cantoctl *ctl)
{
    puts("configuration OK");
    return CANTOCTL_EXIT_OK;
}

/* A command: its name, how many arguments it takes, and its function. */
struct command {
    const char *name;
    int min_args, max_args;
    int (*fn)(struct cantoctl *ctl);
};

static const struct command commands[] = {
    {"adduser", 1, 2, cantoctl_adduser},
    {"deluser", 1, 1, cantoctl_deluser},
    {"passwd", 1, 2, cantoctl_passwd},
    {"users", 0, 1, cantoctl_users},
    {"adduser-bulk", 3, 4, cantoctl_adduser_bulk},
    {"check", 0, 0, cmd_check},
};

int main(int argc, char **argv)
{
    struct cantoctl ctl = {.config_path = DEFAULT_CONFIG};
    int i = 1;

    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--") == 0) {
            i++;
            break;
        } else if (strcmp(opt, "-h") == 0 || strcmp(opt, "--help") == 0) {
            return cantoctl_usage();
        } else if (strcmp(opt, "-c") == 0 || strcmp(opt, "--config") == 0) {
            if (i + 1 >= argc)
                return cantoctl_usage();
            ctl.config_path = argv[++i];
        } else if (strncmp(opt, "--config=", 9) == 0) {
            ctl.config_path = opt + 9;
        } else {
            fprintf(stderr, "cantoctl: unknown option %s\n", opt);
            return cantoctl_usage();
        }
    }
    if (i >= argc)
        return cantoctl_usage();

    const struct command *cmd = NULL;
    for (size_t c = 0; c < CANTO_ARRAY_LEN(commands); c++) {
        if (strcmp(argv[i], commands[c].name) == 0)
            cmd = &commands[c];
    }
    if (!cmd) {
        fprintf(stderr, "cantoctl: unknown command %s\n", argv[i]);
        return cantoctl_usage();
    }
    ctl.argc = argc - i - 1;
    ctl.argv = argv + i + 1;
    if (ctl.argc < cmd->min_args || ctl.argc > cmd->max_args)
        return cantoctl_usage();

    struct canto_buf err = {0};
    if (canto_config_load(ctl.config_path, &ctl.cfg, &err) != CANTO_OK) {
        fputs(err.data ? err.data : "", stderr);
        canto_buf_free(&err);
        return cantoctl_fail("cannot use the configuration %s (fix the errors above)",
                             ctl.config_path);
    }
    canto_buf_free(&err);

    int rc = cmd->fn(&ctl);
    canto_config_free(&ctl.cfg);
    if (fflush(stdout) != 0 && rc == CANTOCTL_EXIT_OK)
        rc = cantoctl_fail("cannot write the output (check where standard output goes)");
    return rc;
}
