/*
 * main.c: cantod, the server. Loads and validates the configuration, sets
 * everything up before accepting anyone, runs the event loop in the
 * foreground with logs on stderr, and on SIGTERM or SIGINT closes every
 * stream with system-shutdown and finishes pending storage work before
 * exiting.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/config.h"
#include "canto/doap.h"
#include "canto/log.h"
#include "canto/module.h"
#include "canto/server.h"

#define SHUTDOWN_WAIT_MS 15000

static void usage(FILE *out)
{
    fprintf(out, "usage: cantod --config FILE [--check]\n"
                 "       cantod --version | --doap | --print-options\n"
                 "Runs the Canto XMPP server in the foreground; logs go to stderr.\n"
                 "  --config FILE  the YAML configuration (see docs/configuration.md)\n"
                 "  --check        validate the configuration and exit\n"
                 "  --doap         print the supported specifications (XEP-0453 DOAP)\n"
                 "  --print-options  print every option with its default and bounds (the\n"
                 "                 table in docs/configuration.md)\n");
}

struct daemon_state {
    struct canto_server server;
    uv_signal_t sigterm, sigint, sighup;
    bool stop_requested;
};

static void on_stop_signal(uv_signal_t *h, int signum)
{
    struct daemon_state *d = h->data;
    canto_info("received %s, shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    d->stop_requested = true;
    uv_stop(h->loop);
}

static void on_sighup(uv_signal_t *h, int signum)
{
    canto_info("received SIGHUP: configuration reload is not supported yet; restart to apply "
               "changes (accounts changed with cantoctl apply at once)");
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else if (strcmp(argv[i], "--doap") == 0) {
            struct canto_buf doap = {0};
            canto_doap_write(&doap);
            fputs(doap.data, stdout);
            canto_buf_free(&doap);
            return 0;
        } else if (strcmp(argv[i], "--print-options") == 0) {
            struct canto_buf table = {0};
            canto_config_print_options(canto_builtin_modules, &table);
            fputs(table.data, stdout);
            canto_buf_free(&table);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("cantod %s\n", CANTO_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "cantod: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!config_path) {
        fprintf(stderr, "cantod: no configuration given (use --config FILE; `make run` creates "
                        "one in ./var)\n");
        usage(stderr);
        return 2;
    }
    struct canto_config *cfg = canto_xcalloc(1, sizeof(*cfg));
    struct canto_buf err = {0};
    if (canto_config_load(config_path, cfg, &err) != CANTO_OK) {
        fprintf(stderr, "%s\n", err.data ? err.data : "cantod: configuration error");
        canto_buf_free(&err);
        free(cfg);
        return 1;
    }
    if (cfg->nlisten == 0) {
        fprintf(stderr, "%s: listen: no listeners configured, so clients could not connect (add "
                        "for example: listen: [{ service: c2s, address: 0.0.0.0, port: 5222 }])\n",
                cfg->path);
        canto_config_free(cfg);
        free(cfg);
        return 1;
    }
    if (check) {
        printf("configuration OK\n");
        canto_config_free(cfg);
        free(cfg);
        return 0;
    }
    canto_log_set_level(cfg->log_level);
    signal(SIGPIPE, SIG_IGN);

    uv_loop_t loop;
    uv_loop_init(&loop);
    struct daemon_state *d = canto_xcalloc(1, sizeof(*d));
    int rc = canto_server_init(&d->server, &loop, cfg, &err);
    if (rc == CANTO_OK)
        rc = canto_server_listen(&d->server, &err);
    if (rc != CANTO_OK) {
        canto_error("%s", err.data ? err.data : "cannot start");
        canto_buf_free(&err);
        canto_server_stop(&d->server);
        canto_server_free(&d->server);
        uv_walk(&loop, close_walk, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        free(d);
        return 1;
    }
    canto_buf_free(&err);
    uv_signal_init(&loop, &d->sigterm);
    uv_signal_init(&loop, &d->sigint);
    uv_signal_init(&loop, &d->sighup);
    d->sigterm.data = d->sigint.data = d->sighup.data = d;
    uv_signal_start(&d->sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_stop_signal, SIGINT);
    uv_signal_start(&d->sighup, on_sighup, SIGHUP);
    /* Name cantoctl the way this cantod was started, so the hint can be pasted. */
    const char *slash = strrchr(argv[0], '/');
    int dir_len = slash ? (int)(slash - argv[0] + 1) : 0;
    canto_info("cantod %s ready, serving %s%s; add an account with: %.*scantoctl --config %s "
               "adduser you@%s",
               CANTO_VERSION, d->server.hosts[0].name, d->server.nhosts > 1 ? " and more" : "",
               dir_len, argv[0], config_path, d->server.hosts[0].name);

    while (!d->stop_requested)
        uv_run(&loop, UV_RUN_DEFAULT);

    /* Drain: streams get system-shutdown and close; bounded in time. */
    canto_server_stop(&d->server);
    uint64_t deadline = canto_now_ms() + SHUTDOWN_WAIT_MS;
    while ((canto_server_has_streams(&d->server) || d->server.listeners_open) &&
           canto_now_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    canto_server_free(&d->server);
    uv_walk(&loop, close_walk, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(d);
    canto_info("stopped");
    return 0;
}
