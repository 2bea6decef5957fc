"""Integration test harness: start a real cantod on loopback and run tests.

Standard library only, for Debian's /usr/bin/python3 (3.11). Two parts:

* `Server` owns one cantod process: a temporary directory with a self-signed
  certificate and a canto.yaml, three free loopback ports (c2s with TLS
  required, direct TLS, TLS optional), the process itself (stderr and stdout
  go to cantod.log in that directory), and cantoctl as a subprocess for
  accounts. It is a context manager that always stops the process by PID and
  removes the directory unless KEEP_TMP=1. A server must exit cleanly when
  stopped: stop() (and so restart() and leaving the `with` block) raises
  ServerExitError, with the log tail, if cantod exited non-zero, died of a
  signal, did not stop in time, or wrote a sanitizer report (ASan, LSan,
  UBSan) since it started. A kill9() exit is deliberate and not checked.

* `main(globals())` is a tiny runner. Every module-level function named
  `test_*` runs in source order; `async def` tests get a fresh event loop. A
  test that takes a parameter named `server` receives the file's shared
  Server (started on first use, with the keyword arguments given to main()).
  Each test prints PASS or FAIL with a traceback and the server log written
  during it; a sanitizer report in the log during a test fails that test,
  and an unclean exit of the shared server at the end fails the file (as
  "FAIL shutdown of the shared cantod"); the exit status is 1 if anything
  failed. Tests create their own
  accounts with `server.account()`, whose names are unique per process.

Environment: CANTOD and CANTOCTL name the binaries (CTest sets them; the
fallback is ../../build/), KEEP_TMP=1 keeps temporary directories,
CANTO_LOG_LEVEL sets the server log level (default debug),
CANTO_TEST_TIMEOUT the per-test timeout in seconds (default 60). Arguments on
the command line select tests whose names contain one of them.
"""

import asyncio
import atexit
import collections
import inspect
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))


def _binary(var, name):
    """Path of a Canto binary: $VAR if set, else ../../build/NAME from here."""
    path = os.environ.get(var)
    if path:
        return path
    return os.path.normpath(os.path.join(HERE, "..", "..", "build", name))


CANTOD = _binary("CANTOD", "cantod")
CANTOCTL = _binary("CANTOCTL", "cantoctl")
KEEP_TMP = os.environ.get("KEEP_TMP") == "1"


def tls_exporter_client():
    """Path of the OpenSSL test client (tls_exporter_client.c): from
    $CANTO_BUILD_DIR, else ../../build/, else a copy compiled now against
    OpenSSL (for running a test file by hand)."""
    for d in (os.environ.get("CANTO_BUILD_DIR"), os.path.join(HERE, "..", "..", "build")):
        if d and os.access(os.path.join(d, "tls_exporter_client"), os.X_OK):
            return os.path.join(d, "tls_exporter_client")
    out = os.path.join(tempfile.mkdtemp(prefix="canto-cbclient-"), "tls_exporter_client")
    atexit.register(shutil.rmtree, os.path.dirname(out), True)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "openssl"],
                           check=True, capture_output=True, text=True).stdout.split()
    subprocess.run(["cc", "-std=c17", "-O1", "-o", out,
                    os.path.join(HERE, "tls_exporter_client.c"), *flags], check=True)
    return out
LOG_LEVEL = os.environ.get("CANTO_LOG_LEVEL", "debug")
TEST_TIMEOUT = float(os.environ.get("CANTO_TEST_TIMEOUT", "60"))

# ---------------------------------------------------------------------------
# Certificate: one self-signed EC certificate per process, copied into every
# server directory.

_cert_dir = None


def make_certificate():
    """Return (cert_path, key_path) of a self-signed EC P-256 certificate for
    CN=localhost, made once per process with the openssl CLI."""
    global _cert_dir
    if _cert_dir is None:
        d = tempfile.mkdtemp(prefix="canto-cert-")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:prime256v1", "-sha256", "-nodes",
             "-days", "30", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost",
             "-keyout", os.path.join(d, "key.pem"),
             "-out", os.path.join(d, "cert.pem")],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _cert_dir = d
        atexit.register(shutil.rmtree, d, True)
    return os.path.join(_cert_dir, "cert.pem"), os.path.join(_cert_dir, "key.pem")


def free_port():
    """A loopback TCP port that was free a moment ago (bind to 0, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# A minimal YAML writer: enough for canto.yaml (scalars, lists, mappings).

def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if s == "" or any(c in s for c in ":#{}[],&*!|>'\"%@`") or s.strip() != s:
        return "'" + s.replace("'", "''") + "'"
    return s


def _yaml_flow(v):
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k}: {_yaml_flow(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml_flow(x) for x in v) + "]"
    return _yaml_scalar(v)


def to_yaml(config):
    """Block style at the top level, one list item per line, flow below."""
    lines = []
    for key, value in config.items():
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], dict):
            lines.append(f"{key}:")
            lines.extend(f"  - {_yaml_flow(item)}" for item in value)
        else:
            lines.append(f"{key}: {_yaml_flow(value)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------

Account = collections.namedtuple("Account", "user host jid password")

_account_counter = itertools.count(1)
_live_servers = set()


@atexit.register
def _stop_leftovers():
    for srv in list(_live_servers):
        srv.kill9()


class ServerError(Exception):
    pass


class ServerExitError(ServerError, AssertionError):
    """cantod did not exit cleanly when stopped (see Server.exit_problem)."""


# What the sanitizers write when they find something: ASan and LSan open
# their report with "ERROR: <name>Sanitizer", UBSan writes "<file>:<line>:
# <col>: runtime error: ..." (and goes on unless halt_on_error=1).
_SANITIZER_REPORT = re.compile(
    r"^(?:==\d+==)?ERROR: \w*Sanitizer\b|^SUMMARY: \w*Sanitizer\b|: runtime error: ",
    re.M)


def sanitizer_report(text):
    """The first line of a sanitizer report in `text`, or None."""
    m = _SANITIZER_REPORT.search(text)
    if m is None:
        return None
    start = text.rfind("\n", 0, m.start()) + 1
    end = text.find("\n", m.end())
    return text[start:end if end >= 0 else len(text)]


class Server:
    """One cantod process in its own temporary directory.

    hosts:   served domains (the first one is .host).
    limits:  dict merged into the `limits:` section (e.g. {"send_queue": 65536}).
    extra:   more configuration: a dict merged at the top level, or a YAML
             string appended verbatim.
    start:   start the process now (default) or leave it to start().
    """

    def __init__(self, hosts=("localhost",), limits=None, extra=None,
                 log_level=None, start=True):
        self.hosts = list(hosts)
        self.host = self.hosts[0]
        self.dir = tempfile.mkdtemp(prefix="canto-itest-")
        self.config_path = os.path.join(self.dir, "canto.yaml")
        self.log_path = os.path.join(self.dir, "cantod.log")
        self.ports = {"required": free_port(), "direct": free_port(),
                      "optional": free_port()}
        cert, key = make_certificate()
        shutil.copy(cert, os.path.join(self.dir, "cert.pem"))
        shutil.copy(key, os.path.join(self.dir, "key.pem"))
        self.cert_path = os.path.join(self.dir, "cert.pem")
        self.proc = None
        self.failed = False   # close() prints the log tail when set
        self._log_start = 0   # log offset where the current process began
        self.started_at = None  # wall clock (time.time()) just before the exec
        self.ready_at = None    # wall clock once every listener accepted
        self._exit_checked = True  # the current process's exit was judged
        self._config_args = (limits, extra, log_level or LOG_LEVEL)
        self._write_config(*self._config_args)
        if start:
            for attempt in range(3):
                try:
                    self.start()
                    break
                except ServerError as e:
                    # A free port may be taken by someone else between our
                    # probe and cantod's bind (tests run in parallel): retry
                    # with new ports.
                    if attempt == 2 or "in use" not in str(e).lower():
                        self.close(failed=False)
                        raise
                    self.ports = {k: free_port() for k in self.ports}
                    self._write_config(*self._config_args)

    # -- configuration -----------------------------------------------------

    def _write_config(self, limits, extra, log_level):
        config = {
            "hosts": self.hosts,
            "data_dir": "data",
            "tls": {"certificate": "cert.pem", "key": "key.pem"},
            "listen": [
                {"service": "c2s", "address": "127.0.0.1",
                 "port": self.ports["required"], "tls": "required"},
                {"service": "c2s", "address": "127.0.0.1",
                 "port": self.ports["direct"], "tls": "direct"},
                {"service": "c2s", "address": "127.0.0.1",
                 "port": self.ports["optional"], "tls": "optional"},
            ],
            "log": {"level": log_level},
        }
        if limits:
            config["limits"] = dict(limits)
        if isinstance(extra, dict):
            for k, v in extra.items():
                if isinstance(v, dict) and isinstance(config.get(k), dict):
                    config[k] = {**config[k], **v}
                else:
                    config[k] = v
        text = to_yaml(config)
        if isinstance(extra, str):
            text += extra if extra.endswith("\n") else extra + "\n"
        with open(self.config_path, "w") as f:
            f.write(text)

    # -- process -----------------------------------------------------------

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait=15.0):
        """Start cantod and wait until every listener accepts a connection.
        Raises ServerError with the log tail if it exits or never listens."""
        if self.alive():
            raise ServerError("already running")
        self._log_start = self.log_size()
        self._exit_checked = False
        log = open(self.log_path, "ab")
        log.write(b"---- harness: starting cantod ----\n")
        log.flush()
        self.started_at = time.time()
        self.proc = subprocess.Popen(
            [CANTOD, "--config", self.config_path], cwd=self.dir,
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        _live_servers.add(self)
        deadline = time.monotonic() + wait
        pending = set(self.ports.values())
        while pending:
            if self.proc.poll() is not None:
                _live_servers.discard(self)
                self._exit_checked = True    # reported right here
                raise ServerError(
                    f"cantod exited with status {self.proc.returncode} at start\n"
                    + self.log_tail())
            for port in list(pending):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.5).close()
                    pending.discard(port)
                except OSError:
                    pass
            if pending and time.monotonic() > deadline:
                self.kill9()
                raise ServerError(f"cantod not listening on {sorted(pending)} "
                                  f"after {wait} s\n" + self.log_tail())
            if pending:
                time.sleep(0.05)
        self.ready_at = time.time()
        return self

    def stop(self, timeout=30.0):
        """SIGTERM, wait up to `timeout` s, then SIGKILL. Returns the exit
        status (0), or None if not started. Raises ServerExitError (with
        the log tail) if the process did not exit cleanly: see
        exit_problem(). The check is made once per process, so a second
        stop() of the same process returns its status quietly."""
        if self.proc is None:
            return None
        hung = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                hung = True
                self.proc.kill()
                self.proc.wait()
        _live_servers.discard(self)
        if not self._exit_checked:
            self._exit_checked = True
            problem = self.exit_problem(hung, timeout)
            if problem:
                raise ServerExitError(f"cantod (pid {self.proc.pid}) {problem}\n"
                                      + self._exit_log())
        return self.proc.returncode

    def _exit_log(self, lines=80):
        """The log that explains an unclean exit: from the first sanitizer
        report on if there is one (its stacks are the point), else the
        tail."""
        text = self.log_text(self._log_start)
        m = _SANITIZER_REPORT.search(text)
        if m is None:
            return self.log_tail(lines, self._log_start)
        report = text[text.rfind("\n", 0, m.start()) + 1:].splitlines()
        more = f"\n  | ... ({len(report) - lines} more lines)" if len(report) > lines else ""
        return "\n".join(f"  | {line}" for line in report[:lines]) + more

    def exit_problem(self, hung=False, timeout=None):
        """Why the exited process's end was not clean, or None: it did not
        stop within `timeout` s of SIGTERM, exited non-zero or by a signal
        (a crash, an abort, LeakSanitizer's exit code), or the log since it
        started holds a sanitizer report."""
        status = self.proc.returncode
        if hung:
            return f"did not stop within {timeout} s of SIGTERM (killed)"
        if status is not None and status < 0:
            try:
                name = signal.Signals(-status).name
            except ValueError:
                name = f"signal {-status}"
            return f"died of {name} (status {status})"
        if status:
            return f"exited with status {status}"
        report = sanitizer_report(self.log_text(self._log_start))
        if report:
            return f"exited 0 but wrote a sanitizer report: {report}"
        return None

    def kill9(self):
        """Kill abruptly (crash simulation). Returns the exit status; the
        exit is deliberate, so it is not judged (a crash before the kill
        is caught by the runner's alive() check after each test)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self._exit_checked = True
        _live_servers.discard(self)
        return self.proc.returncode

    def restart(self):
        """Stop (if running) and start again, same directory and ports."""
        self.stop()
        return self.start()

    # -- logs --------------------------------------------------------------

    def log_text(self, start=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(start)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except FileNotFoundError:
            return 0

    def log_tail(self, lines=40, start=0):
        text = self.log_text(start).splitlines()
        return "\n".join(f"  | {line}" for line in text[-lines:])

    # -- cantoctl ----------------------------------------------------------

    def ctl(self, *args, input=None):
        """Run `cantoctl --config canto.yaml ARGS...`; return its stdout.
        Raises ServerError (with stderr) on a non-zero exit."""
        cmd = [CANTOCTL, "--config", self.config_path, *map(str, args)]
        r = subprocess.run(cmd, cwd=self.dir, input=input, capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise ServerError(f"{' '.join(cmd)} exited {r.returncode}\n"
                              f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r.stdout

    def adduser(self, jid, password):
        return self.ctl("adduser", jid, password)

    def passwd(self, jid, password):
        return self.ctl("passwd", jid, password)

    def deluser(self, jid):
        return self.ctl("deluser", jid)

    def users(self, host=None):
        """List of JIDs cantoctl prints, one per line."""
        out = self.ctl("users", *([host] if host else []))
        return [line.strip() for line in out.splitlines() if line.strip()]

    def account(self, prefix="user", password=None, host=None):
        """Create a fresh account with a name unique in this process."""
        host = host or self.host
        user = f"{prefix}{os.getpid()}n{next(_account_counter)}".lower()
        password = password or f"pw-{user}-secret"
        jid = f"{user}@{host}"
        self.adduser(jid, password)
        return Account(user, host, jid, password)

    # -- context manager ---------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(failed=exc_type is not None)
        return False

    def close(self, failed=False):
        """Stop the server, print the log tail if a test failed, remove the
        directory (unless KEEP_TMP=1). Raises ServerExitError if the server
        did not exit cleanly and no failure is being reported already (then
        the problem is printed with the log instead)."""
        problem = None
        try:
            try:
                status = self.stop()
            except ServerExitError as e:
                problem, status = e, self.proc.returncode
            if failed or self.failed:
                print(f"---- cantod log ({self.log_path}), exit {status} ----")
                print(problem if problem else self.log_tail(60))
            if KEEP_TMP:
                print(f"KEEP_TMP: server directory kept at {self.dir}")
        finally:
            if not KEEP_TMP:
                shutil.rmtree(self.dir, ignore_errors=True)
        if problem and not (failed or self.failed):
            raise problem

    def __repr__(self):
        return f"<Server pid={self.pid} ports={self.ports} dir={self.dir}>"


# ---------------------------------------------------------------------------
# The runner.

def _tests_in(namespace):
    tests = [(name, fn) for name, fn in namespace.items()
             if name.startswith("test_") and inspect.isfunction(fn)
             and getattr(fn, "__test__", True)
             and fn.__module__ == namespace.get("__name__")]
    tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
    return tests


def _run_one(fn, server):
    kwargs = {}
    if "server" in inspect.signature(fn).parameters:
        kwargs["server"] = server
    timeout = getattr(fn, "timeout", TEST_TIMEOUT)
    if inspect.iscoroutinefunction(fn):
        asyncio.run(asyncio.wait_for(fn(**kwargs), timeout))
    else:
        fn(**kwargs)


def main(namespace, **server_kwargs):
    """Run the module's tests in order and exit 0 (all passed) or 1."""
    selected = sys.argv[1:]
    tests = [(n, f) for n, f in _tests_in(namespace)
             if not selected or any(s in n for s in selected)]
    server = None
    failures = []
    print(f"cantod: {CANTOD}\ncantoctl: {CANTOCTL}", flush=True)
    for name, fn in tests:
        needs_server = "server" in inspect.signature(fn).parameters
        log_start = 0
        try:
            if needs_server:
                if server is None or not server.alive():
                    if server is not None:
                        server.close(failed=True)
                    server = Server(**server_kwargs)
                log_start = server.log_size()
            t0 = time.monotonic()
            _run_one(fn, server)
            if needs_server and not server.alive():
                raise AssertionError(
                    f"cantod exited (status {server.proc.returncode}) during the test")
            report = needs_server and sanitizer_report(server.log_text(log_start))
            if report:
                raise AssertionError(f"cantod wrote a sanitizer report during the test: {report}")
            print(f"PASS {name} ({time.monotonic() - t0:.1f} s)", flush=True)
        except BaseException as e:  # noqa: a test may raise anything
            if isinstance(e, KeyboardInterrupt):
                raise
            failures.append(name)
            if server is not None and needs_server and not server.alive():
                server.failed = True   # reported here; close() prints, not raises
            if isinstance(e, (asyncio.TimeoutError, TimeoutError)) and not str(e):
                print(f"FAIL {name}: timed out", flush=True)
            else:
                print(f"FAIL {name}", flush=True)
            traceback.print_exc(file=sys.stdout)
            if server is not None and needs_server and server.log_size() > log_start:
                print(f"---- cantod log during {name} ----")
                print(server.log_tail(60, log_start), flush=True)
    if server is not None:
        # The shared server stops after the last test: an unclean exit
        # (a crash or a leak report at shutdown) fails the file.
        try:
            server.close()
        except ServerExitError as e:
            failures.append("shutdown of the shared cantod")
            print(f"FAIL shutdown of the shared cantod: {e}", flush=True)
    passed = len([n for n, _ in tests if n not in failures])
    print(f"{passed} passed, {len(failures)} failed"
          + (": " + ", ".join(failures) if failures else ""), flush=True)
    sys.exit(1 if failures else 0)
