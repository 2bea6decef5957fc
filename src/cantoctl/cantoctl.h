/*
 * cantoctl.h: what the files of the admin tool share.
 *
 * cantoctl is split by concern: main.c parses the command line, loads the
 * configuration and dispatches; accounts.c holds the account commands and
 * the small "run the storage request to completion" helper they use;
 * password.c reads passwords without echo. A command returns the process
 * exit status: 0 success, 1 failure (already reported), 2 usage error.
 */
#ifndef CANTOCTL_H
#define CANTOCTL_H

#include "canto/common.h"
#include "canto/config.h"

#define CANTOCTL_EXIT_OK 0
#define CANTOCTL_EXIT_FAIL 1
#define CANTOCTL_EXIT_USAGE 2

/* What every command gets: the loaded configuration and its arguments. */
struct cantoctl {
    const char *config_path;   /* as given on the command line */
    struct canto_config cfg;   /* loaded and valid */
    int argc;                  /* arguments after the command name */
    char **argv;
};

/* Prints "cantoctl: MESSAGE\n" on stderr and returns CANTOCTL_EXIT_FAIL.
 * By convention MESSAGE is "what went wrong (what to do about it)". */
int cantoctl_fail(const char *fmt, ...) CANTO_PRINTF(1, 2);

/* Prints the usage text on stderr and returns CANTOCTL_EXIT_USAGE. */
int cantoctl_usage(void);

int cantoctl_adduser(struct cantoctl *ctl);
int cantoctl_deluser(struct cantoctl *ctl);
int cantoctl_passwd(struct cantoctl *ctl);
int cantoctl_users(struct cantoctl *ctl);
int cantoctl_adduser_bulk(struct cantoctl *ctl);

/* The password for jid: taken from arg when not NULL (and arg is then
 * overwritten in place so it no longer shows in the process's command
 * line), else read from standard input: one line, or twice without echo
 * when standard input is a terminal. Returns a malloc'd string the caller
 * releases with canto_free_secret, or NULL after reporting why (empty,
 * mismatch, too long, read error). */
char *cantoctl_password(char *arg, const char *jid);

#endif
