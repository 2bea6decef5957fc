"""Certificate selection by SNI in cantod (RFC 6066 section 3).

One server with two hosts, localhost and other.localhost, a default
certificate for localhost and a second one for other.localhost under
`tls.hosts` (docs/configuration.md), plus a wildcard entry for
*.wild.localhost. Checked over direct TLS and over STARTTLS: a client that
sends SNI other.localhost (in any letter case) gets the second certificate;
SNI localhost, an unknown name, or no SNI at all gets the default; a
subdomain of the wildcard gets the wildcard certificate. A user of
other.localhost logs in there (stream to='other.localhost'), not on
localhost, and -PLUS with tls-server-end-point binds to the certificate the
client actually received.
"""

import atexit
import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from rawxmpp import Client, SaslFailure, tls_context, tostring  # noqa: E402

OTHER = "other.localhost"
WILD = "*.wild.localhost"
HERE = os.path.dirname(os.path.abspath(__file__))


def _make_cert(d, name, cn, sans):
    cert, key = os.path.join(d, f"{name}-cert.pem"), os.path.join(d, f"{name}-key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec",
         "-pkeyopt", "ec_paramgen_curve:prime256v1", "-sha256", "-nodes",
         "-days", "30", "-subj", f"/CN={cn}",
         "-addext", "subjectAltName=" + ",".join(f"DNS:{s}" for s in sans),
         "-keyout", key, "-out", cert],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


_CERT_DIR = tempfile.mkdtemp(prefix="canto-sni-certs-")
atexit.register(shutil.rmtree, _CERT_DIR, True)
OTHER_CERT, OTHER_KEY = _make_cert(_CERT_DIR, "other", OTHER, [OTHER])
WILD_CERT, WILD_KEY = _make_cert(_CERT_DIR, "wild", WILD, [WILD])

# Keys under tls.hosts are written as given by the harness's YAML writer, so
# the wildcard (a YAML alias character first) is quoted here.
SERVER_KWARGS = {
    "hosts": ("localhost", OTHER),
    "extra": {"tls": {"hosts": {
        OTHER: {"certificate": OTHER_CERT, "key": OTHER_KEY},
        f"'{WILD}'": {"certificate": WILD_CERT, "key": WILD_KEY},
    }}},
}


def der_of(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def certs(server):
    """DER of the default and of the two per-host certificates; they must
    all differ or the checks below would prove nothing."""
    d = {"default": der_of(server.cert_path), "other": der_of(OTHER_CERT),
         "wild": der_of(WILD_CERT)}
    assert len(set(d.values())) == 3
    return d


def name_of(d, der):
    for k, v in d.items():
        if v == der:
            return k
    return "unknown certificate " + hashlib.sha256(der).hexdigest()


def peer_cert(server, mode, sni, to="localhost"):
    """The certificate the server presents to a client that sends SNI `sni`
    (None: no SNI extension). Blocking sockets, ten seconds per step."""
    ctx = tls_context(alpn=["xmpp-client"] if mode == "direct" else None)
    port = server.ports["direct" if mode == "direct" else "required"]
    with socket.create_connection(("127.0.0.1", port), 10) as raw:
        raw.settimeout(10)
        if mode == "starttls":
            raw.sendall((f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                         f"xmlns:stream='http://etherx.jabber.org/streams' to='{to}' "
                         f"version='1.0'>").encode())
            got = b""
            while b"</stream:features>" not in got:
                chunk = raw.recv(65536)
                assert chunk, f"closed before features: {got!r}"
                got += chunk
            assert b"<starttls" in got, got
            raw.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            got = b""
            while not re.search(rb"<proceed[^>]*/>", got):
                chunk = raw.recv(65536)
                assert chunk, f"closed before <proceed/>: {got!r}"
                got += chunk
        # server_hostname=None: Python sends no SNI at all.
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            return tls.getpeercert(binary_form=True)


# ---------------------------------------------------------------------------

def test_sni_selects_certificate(server):
    d = certs(server)
    cases = [
        (OTHER, "other"),
        ("OTHER.LocalHost", "other"),     # DNS names compare without case
        ("localhost", "default"),
        (None, "default"),
        ("unknown.example", "default"),
    ]
    for mode in ("direct", "starttls"):
        for sni, want in cases:
            got = name_of(d, peer_cert(server, mode, sni))
            assert got == want, f"{mode}, SNI {sni!r}: got the {got} certificate, expected {want}"


def test_stream_to_alone_does_not_select_certificate(server):
    """STARTTLS to='other.localhost' without SNI: the stream header is not
    SNI; the default certificate is presented."""
    d = certs(server)
    got = name_of(d, peer_cert(server, "starttls", None, to=OTHER))
    assert got == "default", got
    got = name_of(d, peer_cert(server, "starttls", OTHER, to=OTHER))
    assert got == "other", got


def test_sni_wildcard_certificate(server):
    """docs/configuration.md: a tls.hosts name may start with '*.' for a
    wildcard certificate, chosen by SNI for a subdomain of its parent; the
    parent itself is not covered."""
    d = certs(server)
    for mode in ("direct", "starttls"):
        for sni, want in (("a.wild.localhost", "wild"), ("B.Wild.LocalHost", "wild"),
                          ("wild.localhost", "default")):
            got = name_of(d, peer_cert(server, mode, sni))
            assert got == want, f"{mode}, SNI {sni!r}: got the {got} certificate, expected {want}"


async def _login(server, account, mode, host, mechanism="SCRAM-SHA-256"):
    """Log in with SNI and stream to= both `host`; return (client, jid)."""
    port = server.ports["direct" if mode == "direct" else "required"]
    c = await Client.connect(port, direct_tls=(mode == "direct"), host=host)
    await c.open_stream(to=host)
    assert c.stream_attrs.get("from") == host, c.stream_attrs
    if mode == "starttls":
        await c.starttls()
        await c.open_stream(to=host)
        assert c.stream_attrs.get("from") == host, c.stream_attrs
    await c.authenticate(account.user, account.password, mechanism)
    await c.open_stream(to=host)
    jid = await c.bind()
    return c, jid


async def test_second_host_user_logs_in(server):
    d = certs(server)
    account = server.account("sni", host=OTHER)
    assert account.jid.endswith("@" + OTHER), account
    for mode in ("direct", "starttls"):
        c, jid = await _login(server, account, mode, OTHER)
        try:
            assert c.server_cert_der() == d["other"], f"{mode}: not the other.localhost certificate"
            assert jid.startswith(account.jid + "/"), jid
            res = await c.ping(to=OTHER)
            assert res.get("type") == "result", tostring(res)
            assert res.get("from") == OTHER, tostring(res)
            await c.close_stream()
        finally:
            await c.close()


async def test_second_host_user_is_unknown_on_first_host(server):
    """Accounts belong to one host: the other.localhost user's credentials
    do not log in on a stream to localhost."""
    account = server.account("sniwrong", host=OTHER)
    c = await Client.connect(server.ports["direct"], direct_tls=True, host="localhost")
    try:
        await c.open_stream(to="localhost")
        try:
            await c.authenticate(account.user, account.password, "SCRAM-SHA-256")
        except SaslFailure as e:
            assert e.condition == "not-authorized", tostring(e.element)
        else:
            raise AssertionError("an other.localhost account logged in on localhost")
    finally:
        await c.close()


async def test_tls_server_end_point_uses_the_selected_certificate(server):
    """RFC 5929 4.1: the binding is the hash of the certificate the server
    actually presented, here the one SNI chose."""
    d = certs(server)
    account = server.account("snicb", host=OTHER)
    for mode in ("direct", "starttls"):
        c, jid = await _login(server, account, mode, OTHER, "SCRAM-SHA-256-PLUS")
        try:
            assert c.server_cert_der() == d["other"]
            assert jid.startswith(account.jid + "/"), jid
        finally:
            await c.close()
    # The default certificate's hash on this connection is refused.
    c = await Client.connect(server.ports["direct"], direct_tls=True, host=OTHER)
    try:
        await c.open_stream(to=OTHER)
        try:
            await c.authenticate(account.user, account.password, "SCRAM-SHA-256-PLUS",
                                 gs2="p=tls-server-end-point,,",
                                 cb_data=hashlib.sha256(d["default"]).digest())
        except SaslFailure as e:
            assert e.condition == "not-authorized", tostring(e.element)
        else:
            raise AssertionError("the default certificate's hash was accepted on an "
                                 "other.localhost connection")
    finally:
        await c.close()


def test_second_host_with_tls_exporter_client(server):
    """tls_exporter_client (SNI = the JID's domain) logs in on
    other.localhost with both binding types, and sees its certificate."""
    client = harness.tls_exporter_client()
    d = certs(server)
    account = server.account("snix", host=OTHER)
    for mode in ("direct", "starttls"):
        port = server.ports["direct" if mode == "direct" else "required"]
        for cbtype in ("tls-exporter", "tls-server-end-point"):
            args = [client, "127.0.0.1", str(port), mode, account.jid, account.password,
                    "SCRAM-SHA-256-PLUS", cbtype]
            r = subprocess.run(args, capture_output=True, text=True, timeout=40)
            detail = f"{args[3:]}: exit {r.returncode}\n{r.stdout}\n{r.stderr[-2000:]}"
            assert r.returncode == 0, detail
            lines = r.stdout.splitlines()
            assert f"authenticated with SCRAM-SHA-256-PLUS ({cbtype})" in lines, detail
            assert f"PEER-CERT-SHA256 {hashlib.sha256(d['other']).hexdigest()}" in lines, detail
            assert any(l.startswith(f"BOUND {account.jid}/") for l in lines), detail


if __name__ == "__main__":
    harness.main(globals(), **SERVER_KWARGS)
