/*
 * password.c: getting a password into cantoctl without leaving copies of it
 * around.
 *
 * A password given as an argument is copied and the argument overwritten,
 * so it stops showing in /proc/PID/cmdline (ps) as soon as possible. One
 * read from standard input goes byte by byte through read(2) into a fixed
 * buffer on the stack, not through stdio or a growing buffer, so that no
 * stray copy is left in a stdio buffer or in memory released by realloc;
 * every buffer is wiped before it is released. When standard input is a
 * terminal, echo is switched off while the password is typed, and switched
 * back on even if the user interrupts with Ctrl-C.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "canto/scram.h"
#include "cantoctl/cantoctl.h"

#define PASSWORD_MAX (CANTO_PASSWORD_MAX_BYTES + 1) /* bytes, with the terminating NUL */

/* The terminal state to restore from a signal handler: the one place a
 * file-scope variable is needed, because a handler receives no argument. */
static struct termios saved_termios;
static volatile sig_atomic_t echo_off;

static void restore_and_die(int sig)
{
    if (echo_off)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Reads one line from fd 0 into buf (newline and a CR before it removed).
 * Returns the length, -1 on a read error, -2 if the line does not fit.
 * EOF before any byte gives an empty line. */
static long read_line(char *buf, size_t size)
{
    size_t len = 0;
    for (;;) {
        char c;
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0 || c == '\n')
            break;
        if (len + 1 >= size) {
            canto_wipe(&c, 1);
            return -2;
        }
        buf[len++] = c;
        c = 0;
    }
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    return (long)len;
}

/* Prompts on stderr and reads a line with echo off. The terminal's state is
 * restored before returning, and by the signal handlers if the user gives
 * up half-way. */
static long read_hidden(const char *prompt, char *buf, size_t size)
{
    struct termios t;
    struct sigaction sa = {0}, old[3];
    static const int sigs[3] = {SIGINT, SIGTERM, SIGQUIT};

    fputs(prompt, stderr);
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &saved_termios) != 0)
        return read_line(buf, size);
    sa.sa_handler = restore_and_die;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &sa, &old[i]);
    t = saved_termios;
    t.c_lflag &= ~(tcflag_t)ECHO;
    t.c_lflag |= ECHONL;
    echo_off = 1;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);

    long n = read_line(buf, size);

    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
    echo_off = 0;
    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &old[i], NULL);
    return n;
}

static char *read_failed(long n)
{
    if (n == -2)
        cantoctl_fail("the password is too long (use at most %d bytes)", PASSWORD_MAX - 1);
    else
        cantoctl_fail("cannot read the password: %s (give it as an argument instead)",
                      strerror(errno));
    return NULL;
}

char *cantoctl_password(char *arg, const char *jid)
{
    char one[PASSWORD_MAX], two[PASSWORD_MAX];
    char *result = NULL;
    long n;

    if (arg) {
        result = canto_xstrdup(arg);
        canto_wipe(arg, strlen(arg));
    } else if (isatty(STDIN_FILENO)) {
        char prompt[1200];
        snprintf(prompt, sizeof prompt, "Password for %.1100s: ", jid);
        n = read_hidden(prompt, one, sizeof one);
        if (n < 0) {
            read_failed(n);
            goto done;
        }
        n = read_hidden("Again: ", two, sizeof two);
        if (n < 0) {
            read_failed(n);
            goto done;
        }
        if (strcmp(one, two) != 0) {
            cantoctl_fail("the two passwords differ (run the command again)");
            goto done;
        }
        result = canto_xstrdup(one);
    } else {
        n = read_line(one, sizeof one);
        if (n < 0) {
            read_failed(n);
            goto done;
        }
        result = canto_xstrdup(one);
    }
    if (result[0] == '\0') {
        canto_free_secret(result);
        result = NULL;
        cantoctl_fail("the password is empty (give a non-empty password)");
    }
done:
    canto_wipe(one, sizeof one);
    canto_wipe(two, sizeof two);
    return result;
}
