"""Stream-level behaviour of cantod on the wire (RFC 6120 sections 4 and 5).

Each test opens raw connections to one shared server and checks the exact
headers, features, TLS behaviour and stream errors that
/tmp/canto-behaviour.md (the spec) promises. Run it alone with
`/usr/bin/python3 tests/integration/test_stream.py [NAME...]`.
"""

import os
import re
import ssl
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from rawxmpp import (NS_BIND, NS_CAPS, NS_SASL, NS_SASL_CB, NS_SESSION,  # noqa: E402
                     NS_STREAM, NS_TLS, NS_XML, Client, assert_serves, b64, login, q,
                     tls_context, tostring)

ALL_MECHANISMS = {"SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
                  "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}
PLAIN_MECHANISMS = {"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1"}
LANG = q("lang", NS_XML)


def children(el):
    return [child.tag for child in el]


def check_features_after_tls(c):
    """The SASL features every TLS-protected, unauthenticated stream offers."""
    f = c.features
    assert f.find(q("starttls", NS_TLS)) is None, f"starttls offered again: {tostring(f)}"
    assert set(c.mechanisms) == ALL_MECHANISMS, f"mechanisms {c.mechanisms}"
    assert len(c.mechanisms) == len(ALL_MECHANISMS), f"duplicates in {c.mechanisms}"
    cb = f.find(q("sasl-channel-binding", NS_SASL_CB))
    assert cb is not None, f"no sasl-channel-binding: {tostring(f)}"
    types = {b.get("type") for b in cb.findall(q("channel-binding", NS_SASL_CB))}
    assert "tls-server-end-point" in types, types
    if c.ssl_object.version() == "TLSv1.3":
        assert "tls-exporter" in types, f"TLS 1.3 but no tls-exporter: {types}"
    # tls-unique is an addition beyond the spec (docs/features.md: for
    # clients that still bind to it); nothing else may appear.
    assert types <= {"tls-server-end-point", "tls-exporter", "tls-unique"}, types


# ---------------------------------------------------------------------------
# Stream header

async def test_header_attributes(server):
    c = await Client.connect(server.ports["optional"])
    text = await c.open_stream()
    assert c.stream_tag == q("stream", NS_STREAM), c.stream_tag
    assert re.search(r"""xmlns=(['"])jabber:client\1""", text), text
    a = c.stream_attrs
    assert a.get("id"), f"no id in {a}"
    assert a.get("from") == "localhost", a
    assert a.get("version") == "1.0", a
    assert a.get(LANG) == "en", f"default xml:lang should be 'en': {a}"
    await c.close()

    d = await Client.connect(server.ports["optional"])
    await d.open_stream(lang="fr")
    assert d.stream_attrs.get(LANG) == "fr", f"xml:lang not echoed: {d.stream_attrs}"
    assert d.stream_attrs.get("id") and d.stream_attrs["id"] != a["id"], \
        f"stream ids must differ: {a['id']!r} and {d.stream_attrs.get('id')!r}"
    await d.close()


async def test_header_id_changes_on_restart(server):
    """Every stream (also the one after STARTTLS) gets its own id."""
    c = await Client.connect(server.ports["required"])
    await c.open_stream()
    first = c.stream_attrs["id"]
    await c.starttls()
    await c.open_stream()
    assert c.stream_attrs["id"] and c.stream_attrs["id"] != first, (first, c.stream_attrs)
    await c.close()


# ---------------------------------------------------------------------------
# Features

async def test_features_required_before_tls(server):
    c = await Client.connect(server.ports["required"])
    await c.open_stream()
    f = c.features
    assert children(f) == [q("starttls", NS_TLS)], f"only starttls expected: {tostring(f)}"
    starttls = f.find(q("starttls", NS_TLS))
    assert children(starttls) == [q("required", NS_TLS)], tostring(f)
    await c.close()


async def test_features_optional_before_tls(server):
    c = await Client.connect(server.ports["optional"])
    await c.open_stream()
    f = c.features
    starttls = f.find(q("starttls", NS_TLS))
    assert starttls is not None, f"no starttls: {tostring(f)}"
    assert starttls.find(q("required", NS_TLS)) is None, tostring(f)
    assert set(c.mechanisms) == PLAIN_MECHANISMS, f"mechanisms {c.mechanisms}"
    assert f.find(q("sasl-channel-binding", NS_SASL_CB)) is None, \
        f"channel binding advertised without TLS: {tostring(f)}"
    await c.close()


async def test_features_after_starttls(server):
    for listener in ("required", "optional"):
        c = await Client.connect(server.ports[listener])
        await c.open_stream()
        await c.starttls()
        assert c.ssl_object.version() in ("TLSv1.2", "TLSv1.3"), c.ssl_object.version()
        await c.open_stream()
        check_features_after_tls(c)
        await c.close()


async def test_features_after_starttls_tls12(server):
    """TLS 1.2 is accepted; tls-server-end-point is always offered."""
    c = await Client.connect(server.ports["required"])
    await c.open_stream()
    await c.starttls(tls_context(max_version=ssl.TLSVersion.TLSv1_2))
    assert c.ssl_object.version() == "TLSv1.2", c.ssl_object.version()
    await c.open_stream()
    check_features_after_tls(c)
    await c.close()


async def test_direct_tls_alpn(server):
    ctx = tls_context(alpn=["xmpp-client"])
    c = await Client.connect(server.ports["direct"], direct_tls=True, ssl_context=ctx)
    assert c.ssl_object.selected_alpn_protocol() == "xmpp-client", \
        c.ssl_object.selected_alpn_protocol()
    await c.open_stream()
    check_features_after_tls(c)
    await c.close()


async def test_direct_tls_without_alpn(server):
    """A client that sends no ALPN is still served (XEP-0368 does not
    require it)."""
    c = await Client.connect(server.ports["direct"], direct_tls=True, ssl_context=tls_context())
    await c.open_stream()
    check_features_after_tls(c)
    await c.close()


async def test_features_after_auth(server):
    account = server.account()
    c = await Client.connect(server.ports["required"])
    await c.open_stream()
    await c.starttls()
    await c.open_stream()
    await c.authenticate(account.user, account.password)
    await c.open_stream()
    f = c.features
    assert f.find(q("bind", NS_BIND)) is not None, tostring(f)
    session = f.find(q("session", NS_SESSION))
    assert session is not None and session.find(q("optional", NS_SESSION)) is not None, tostring(f)
    caps = f.find(q("c", NS_CAPS))
    assert caps is not None, tostring(f)
    assert caps.get("hash") == "sha-1" and caps.get("node") == "https://canto.im", tostring(caps)
    assert caps.get("ver"), tostring(caps)
    assert f.find(q("mechanisms", NS_SASL)) is None, f"SASL offered after auth: {tostring(f)}"
    assert f.find(q("starttls", NS_TLS)) is None, tostring(f)
    await c.close()


# ---------------------------------------------------------------------------
# TLS versions

def tls11_context():
    """A client that offers only TLS 1.0/1.1. SECLEVEL=0 lets OpenSSL 3 use
    them at all, so a failure below is the server's refusal."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return tls_context(min_version=ssl.TLSVersion.TLSv1,
                           max_version=ssl.TLSVersion.TLSv1_1,
                           ciphers="DEFAULT:@SECLEVEL=0")


def assert_refused_by_server(err):
    # "no protocols available" would mean our own client refused to try.
    assert "NO_PROTOCOLS_AVAILABLE" not in str(err).upper().replace(" ", "_"), err


async def test_tls11_refused_direct(server):
    try:
        c = await Client.connect(server.ports["direct"], direct_tls=True,
                                 ssl_context=tls11_context())
    except (ssl.SSLError, ConnectionError, OSError) as e:
        assert_refused_by_server(e)
    else:
        version = c.ssl_object.version()
        await c.close()
        raise AssertionError(f"TLS handshake succeeded with {version}")
    await assert_serves(server)


async def test_tls11_refused_starttls(server):
    c = await Client.connect(server.ports["required"])
    await c.open_stream()
    try:
        await c.starttls(tls11_context())
    except (ssl.SSLError, ConnectionError, OSError) as e:
        assert_refused_by_server(e)
    else:
        version = c.ssl_object.version()
        raise AssertionError(f"TLS handshake succeeded with {version}")
    finally:
        await c.close()
    await assert_serves(server)


# ---------------------------------------------------------------------------
# Closing and keep-alives

async def test_closing_handshake_authenticated(server):
    account = server.account()
    c = await login(server, account)
    await c.close_stream()


async def test_closing_handshake_before_auth(server):
    c = await Client.connect(server.ports["optional"])
    await c.open_stream()
    await c.close_stream()


async def test_whitespace_keepalives(server):
    account = server.account()
    c = await login(server, account)
    for ws in (" ", "\n", "\r\n", " \n\t "):
        await c.send(ws)
        res = await c.ping()
        assert res.get("type") == "result", tostring(res)
    await c.check_open()
    await c.close_stream()


# ---------------------------------------------------------------------------
# Stream errors on the header

async def test_host_unknown(server):
    c = await Client.connect(server.ports["optional"])
    await c.open_stream(to="unknown.example", expect_features=False)
    await c.expect_stream_error("host-unknown")


async def test_invalid_stream_namespace(server):
    c = await Client.connect(server.ports["optional"])
    await c.send(c.header(stream_ns="http://example.com/not-streams"))
    await c.expect_stream_error("invalid-namespace")


async def test_invalid_default_namespace(server):
    for ns in ("jabber:server", "urn:example:wrong"):
        c = await Client.connect(server.ports["optional"])
        await c.open_stream(xmlns=ns, expect_features=False)
        await c.expect_stream_error("invalid-namespace")


async def test_unsupported_version(server):
    c = await Client.connect(server.ports["optional"])
    await c.open_stream(version="0.9", expect_features=False)
    await c.expect_stream_error("unsupported-version")


async def test_declared_encoding_other_than_utf8(server):
    """RFC 6120 11.6 and 4.9.3.22: a stream is UTF-8; a declaration naming
    another encoding gets unsupported-encoding (expat would otherwise decode
    it as UTF-8 regardless)."""
    for enc in ("ISO-8859-1", "UTF-16"):
        c = await Client.connect(server.ports["optional"])
        await c.send(f"<?xml version='1.0' encoding='{enc}'?>" + c.header(decl=False))
        await c.expect_stream_error("unsupported-encoding")


async def test_declared_utf8_encoding_is_accepted(server):
    for enc in ("UTF-8", "utf-8"):
        c = await Client.connect(server.ports["optional"])
        c._reset_parser()
        await c.send(f"<?xml version='1.0' encoding='{enc}'?>" + c.header(decl=False))
        el = await c.read_stanza()
        assert el.tag.endswith("features"), el.tag
        await c.close_stream()


# ---------------------------------------------------------------------------
# Order of negotiation

async def test_stanza_before_auth_optional(server):
    c = await Client.connect(server.ports["optional"])
    await c.open_stream()
    await c.send("<message to='someone@localhost' type='chat'><body>hi</body></message>")
    await c.expect_stream_error("not-authorized")


async def test_iq_before_auth_after_tls(server):
    c = await Client.connect(server.ports["required"])
    await c.open_stream()
    await c.starttls()
    await c.open_stream()
    await c.send("<iq type='get' id='early'><ping xmlns='urn:xmpp:ping'/></iq>")
    await c.expect_stream_error("not-authorized")
    assert "id='early'" not in c.text and 'id="early"' not in c.text, c.text


async def test_iq_before_starttls_required(server):
    c = await Client.connect(server.ports["required"])
    await c.open_stream()
    await c.send("<iq type='get' id='early'><ping xmlns='urn:xmpp:ping'/></iq>")
    await c.expect_stream_error("not-authorized")


async def test_sasl_before_starttls_required(server):
    account = server.account()
    c = await Client.connect(server.ports["required"])
    await c.open_stream()
    await c.send(f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-256'>"
                 "biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM</auth>")
    await c.expect_stream_error("policy-violation")
    # PLAIN would give the password away; the server must not accept it either.
    c = await Client.connect(server.ports["required"])
    await c.open_stream()
    creds = b64(f"\0{account.user}\0{account.password}")
    await c.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{creds}</auth>")
    await c.expect_stream_error("policy-violation")
    assert "<success" not in c.text, c.text


async def test_starttls_injection_ignored(server):
    """Bytes sent after <starttls/> in the same write must be discarded:
    neither answered in plaintext nor processed inside TLS (CVE-2011-1431
    and its many relatives)."""
    account = server.account()
    for listener in ("required", "optional"):
        c = await Client.connect(server.ports[listener])
        await c.open_stream()
        await c.send(f"<starttls xmlns='{NS_TLS}'/>"
                     "<iq type='get' id='injected'><ping xmlns='urn:xmpp:ping'/></iq>")
        await c.starttls(send=False)
        await c.open_stream()   # no stream error, plain features
        check_features_after_tls(c)
        await c.authenticate(account.user, account.password)
        await c.open_stream()
        await c.bind()
        res = await c.ping()
        assert res.get("type") == "result", tostring(res)
        await c.check_open()
        assert "injected" not in c.text, f"the injected iq was answered: {c.text!r}"
        await c.close_stream()
        assert "injected" not in c.text, f"the injected iq was answered: {c.text!r}"


async def test_system_shutdown():
    """SIGTERM: every stream gets <system-shutdown/>, cantod exits 0."""
    with harness.Server() as server:
        account = server.account()
        authed = await login(server, account)
        early = await Client.connect(server.ports["optional"])
        await early.open_stream()
        status = server.stop()
        await authed.expect_stream_error("system-shutdown")
        await early.expect_stream_error("system-shutdown")
        assert status == 0, f"cantod exited with {status} on SIGTERM"


if __name__ == "__main__":
    harness.main(globals())
