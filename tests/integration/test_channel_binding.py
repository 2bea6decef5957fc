"""SCRAM-*-PLUS channel binding in cantod with tls-exporter (RFC 9266).

Python's ssl module cannot export keying material and no packaged client
here sends tls-exporter, so these tests drive tls_exporter_client.c (built
by CMake into the build directory; OpenSSL only): it computes the binding
itself, logs in, binds, pings and closes, and prints what it saw.

Checked: every SCRAM-*-PLUS hash with tls-exporter over direct TLS and
STARTTLS on TLS 1.3; one flipped bit in the binding data gives
not-authorized; the features advertise tls-exporter on TLS 1.3 and on
TLS 1.2 with extended master secret (which OpenSSL clients send by default)
but not on TLS 1.2 without it, where tls-exporter is refused; and
tls-server-end-point through the same client, with its data equal to the
SHA-256 of the server's certificate.
"""

import hashlib
import os
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PLUS_MECHS = ("SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS")
MODES = ("direct", "starttls")


CLIENT = harness.tls_exporter_client()


class Run:
    """One run of the client: exit status and its output lines."""

    def __init__(self, args, status, out, err):
        self.args, self.status, self.out, self.err = args, status, out, err
        self.lines = out.splitlines()

    def values(self, key):
        """The rest of every stdout line that starts with KEY."""
        return [l[len(key):].strip() for l in self.lines
                if l == key or l.startswith(key + " ")]

    def one(self, key):
        v = self.values(key)
        assert len(v) == 1, f"expected one {key} line, got {v}\n{self}"
        return v[0]

    def words(self, key):
        return self.one(key).split()

    def __str__(self):
        tail = "\n".join(self.err.splitlines()[-30:])
        return (f"{' '.join(self.args[3:])}: exit {self.status}\n--- stdout\n{self.out}"
                f"--- stderr (tail)\n{tail}")


def run_client(server, account, mode, mech, cbtype, *options):
    port = server.ports["direct" if mode == "direct" else "required"]
    args = [CLIENT, "127.0.0.1", str(port), mode, account.user, account.password,
            mech, cbtype, *options]
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=40,
                           env={**os.environ, "CLIENT_TIMEOUT": "15"})
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"tls_exporter_client hung: {args}\n{e.stdout}\n{e.stderr}")
    return Run(args, r.returncode, r.stdout, r.stderr)


def assert_logged_in(run, account, mech, cbtype, tls_version):
    """Full success: the TLS version asked for, the login, a bound JID of
    this account, the ping answered and the stream closed cleanly."""
    assert run.status == 0, str(run)
    assert run.words("TLS")[0] == tls_version, str(run)
    assert run.values("authenticated with") == [f"{mech} ({cbtype})"], str(run)
    assert run.one("BOUND").startswith(account.jid + "/"), str(run)
    assert run.values("PONG") == [""], str(run)
    assert run.values("CLOSED") == [""], str(run)
    assert mech in run.words("MECHANISMS"), str(run)


def certificate_hash(server):
    with open(server.cert_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


# ---------------------------------------------------------------------------
# TLS 1.3

def test_features_advertise_tls_exporter_on_tls13(server):
    account = server.account("cbfeat")
    for mode in MODES:
        run = run_client(server, account, mode, "SCRAM-SHA-256-PLUS", "tls-exporter", "1.3")
        assert run.words("TLS")[0] == "TLSv1.3", str(run)
        bindings = run.words("CHANNEL-BINDINGS")
        assert "tls-exporter" in bindings, str(run)
        assert "tls-server-end-point" in bindings, str(run)
        mechs = run.words("MECHANISMS")
        for mech in PLUS_MECHS:
            assert mech in mechs, str(run)


def test_tls_exporter_each_mechanism_tls13(server):
    account = server.account("cbx")
    seen = set()
    for mode in MODES:
        for mech in PLUS_MECHS:
            run = run_client(server, account, mode, mech, "tls-exporter", "1.3")
            assert_logged_in(run, account, mech, "tls-exporter", "TLSv1.3")
            data = run.one("CB-DATA")
            assert len(data) == 64, str(run)   # 32 bytes (RFC 9266)
            seen.add(data)
    # Keying material belongs to one connection: six logins, six values.
    assert len(seen) == 2 * len(PLUS_MECHS), seen


def test_tls_exporter_corrupted_is_not_authorized(server):
    account = server.account("cbbad")
    for mode in MODES:
        for mech in ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS"):
            run = run_client(server, account, mode, mech, "tls-exporter", "1.3", "corrupt")
            assert run.status == 1, str(run)
            assert run.values("SASL-FAILURE") == ["not-authorized"], str(run)
            assert run.values("authenticated with") == [], str(run)
            assert run.values("BOUND") == [], str(run)
    # The same account with the real binding still logs in.
    run = run_client(server, account, "direct", "SCRAM-SHA-256-PLUS", "tls-exporter", "1.3")
    assert_logged_in(run, account, "SCRAM-SHA-256-PLUS", "tls-exporter", "TLSv1.3")


def test_tls_exporter_wrong_password_is_not_authorized(server):
    """The binding alone is no credential: a right binding with a wrong
    password fails like any wrong password."""
    account = server.account("cbpw")
    wrong = account._replace(password=account.password + "x")
    run = run_client(server, wrong, "direct", "SCRAM-SHA-256-PLUS", "tls-exporter", "1.3")
    assert run.status == 1, str(run)
    assert run.values("SASL-FAILURE") == ["not-authorized"], str(run)


# ---------------------------------------------------------------------------
# TLS 1.2

def test_tls_exporter_tls12_with_extended_master_secret(server):
    account = server.account("cb12")
    for mode in MODES:
        for mech in PLUS_MECHS:
            run = run_client(server, account, mode, mech, "tls-exporter", "1.2")
            assert run.words("TLS")[0] == "TLSv1.2", str(run)
            # OpenSSL clients offer extended master secret by default and
            # the server must accept it (RFC 7627).
            assert run.words("TLS")[-2:] == ["EXTMS", "1"], str(run)
            assert "tls-exporter" in run.words("CHANNEL-BINDINGS"), str(run)
            assert_logged_in(run, account, mech, "tls-exporter", "TLSv1.2")


def test_tls_exporter_tls12_with_extended_master_secret_corrupted(server):
    account = server.account("cb12bad")
    run = run_client(server, account, "starttls", "SCRAM-SHA-256-PLUS", "tls-exporter",
                     "1.2", "corrupt")
    assert run.words("TLS")[-2:] == ["EXTMS", "1"], str(run)
    assert run.status == 1, str(run)
    assert run.values("SASL-FAILURE") == ["not-authorized"], str(run)


def test_tls12_without_extended_master_secret_has_no_tls_exporter(server):
    """RFC 9266 section 3 / RFC 7627: without extended master secret the
    TLS 1.2 exporter is not unique to the connection, so the server must
    neither advertise nor accept tls-exporter; tls-server-end-point stays."""
    account = server.account("cbnoems")
    for mode in MODES:
        run = run_client(server, account, mode, "SCRAM-SHA-256-PLUS", "tls-exporter",
                         "1.2", "noems")
        assert run.words("TLS")[0] == "TLSv1.2", str(run)
        assert run.words("TLS")[-2:] == ["EXTMS", "0"], str(run)
        bindings = run.words("CHANNEL-BINDINGS")
        assert "tls-exporter" not in bindings, str(run)
        assert "tls-server-end-point" in bindings, str(run)
        assert run.status == 1, str(run)
        assert run.values("SASL-FAILURE") == ["not-authorized"], str(run)
        run = run_client(server, account, mode, "SCRAM-SHA-256-PLUS",
                         "tls-server-end-point", "1.2", "noems")
        assert_logged_in(run, account, "SCRAM-SHA-256-PLUS", "tls-server-end-point",
                         "TLSv1.2")


# ---------------------------------------------------------------------------
# tls-server-end-point through the same client

def test_tls_server_end_point(server):
    account = server.account("cbsep")
    expected = certificate_hash(server)
    for mode in MODES:
        for version in ("1.3", "1.2"):
            for mech in PLUS_MECHS:
                run = run_client(server, account, mode, mech, "tls-server-end-point", version)
                assert_logged_in(run, account, mech, "tls-server-end-point", "TLSv" + version)
                # RFC 5929 4.1: SHA-256 of the certificate (signed with SHA-256).
                assert run.one("CB-DATA") == expected, str(run)
                assert run.one("PEER-CERT-SHA256") == expected, str(run)


def test_tls_server_end_point_corrupted_is_not_authorized(server):
    account = server.account("cbsepbad")
    for mode in MODES:
        run = run_client(server, account, mode, "SCRAM-SHA-512-PLUS", "tls-server-end-point",
                         "1.3", "corrupt")
        assert run.status == 1, str(run)
        assert run.values("SASL-FAILURE") == ["not-authorized"], str(run)


def test_without_plus_still_works(server):
    """Control: the client's SCRAM without binding ('n,,') logs in, so the
    failures above come from the binding, not from the client."""
    account = server.account("cbnone")
    for mode in MODES:
        run = run_client(server, account, mode, "SCRAM-SHA-256", "none")
        assert_logged_in(run, account, "SCRAM-SHA-256", "none", "TLSv1.3")
        assert run.values("CB-DATA") == [], str(run)


if __name__ == "__main__":
    harness.main(globals())
