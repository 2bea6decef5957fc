"""SASL authentication in cantod (RFC 6120 section 6, RFC 5802, RFC 7677).

Every SCRAM variant with and without channel binding, PLAIN, every failure
condition the spec lists, the byte-identical failure for unknown accounts,
the limit of five failures, and accounts changed with cantoctl while the
server runs. The SCRAM client is rawxmpp.Scram (pure Python, checked against
the RFC 5802 and RFC 7677 test vectors in docs/testing.md).
"""

import base64
import os
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from rawxmpp import (NS_SASL, NS_SASL_CB, Client, SaslFailure, Scram, b64,  # noqa: E402
                     assert_serves, condition, local, q, tls_context, tostring)


async def tls_client(server, listener="required"):
    """A connection with TLS up and SASL features read."""
    if listener == "direct":
        c = await Client.connect(server.ports["direct"], direct_tls=True)
    else:
        c = await Client.connect(server.ports[listener])
        await c.open_stream()
        await c.starttls()
    await c.open_stream()
    return c


async def finish_session(c):
    """After <success/>: restart, bind, ping; proves the login was real."""
    await c.open_stream()
    jid = await c.bind()
    res = await c.ping()
    assert res.get("type") == "result", tostring(res)
    await c.close_stream()
    return jid


async def expect_failure(coro, cond):
    try:
        await coro
    except SaslFailure as e:
        assert e.condition == cond, f"expected <{cond}/>, got {tostring(e.element)}"
        return e.element
    raise AssertionError(f"authentication succeeded; expected <{cond}/>")


# ---------------------------------------------------------------------------
# Success

async def test_scram_each_hash(server):
    account = server.account()
    for mech in ("SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        c = await tls_client(server)
        assert mech in c.mechanisms, c.mechanisms
        await c.auth_scram(account.user, account.password, mech)
        jid = await finish_session(c)
        assert jid.startswith(account.jid + "/"), jid


async def test_scram_plus_tls_server_end_point(server):
    account = server.account()
    for listener in ("required", "direct"):
        for mech in ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS", "SCRAM-SHA-1-PLUS"):
            c = await tls_client(server, listener)
            assert mech in c.mechanisms, c.mechanisms
            await c.auth_scram(account.user, account.password, mech,
                               gs2="p=tls-server-end-point,,")
            await finish_session(c)


# OpenSSL's SSL_OP_NO_EXTENDED_MASTER_SECRET (Python's ssl has no name for it).
_OP_NO_EXTENDED_MASTER_SECRET = 0x1


async def _starttls_channel_bindings(server, ctx):
    """STARTTLS with `ctx`; returns the connection and the channel binding
    types its post-TLS features offer."""
    c = await Client.connect(server.ports["required"])
    await c.open_stream()
    await c.starttls(ctx)
    await c.open_stream()
    cb = c.features.find(q("sasl-channel-binding", NS_SASL_CB))
    assert cb is not None, f"no <sasl-channel-binding/>: {tostring(c.features)}"
    return c, {b.get("type") for b in cb}


async def test_scram_plus_tls_unique(server):
    """tls-unique is offered beyond the spec (docs/internals/auth.md) on
    TLS 1.3 and on TLS 1.2 with extended master secret, and there it must
    match what a client computes (Python's get_channel_binding: the
    client's Finished message) and nothing else."""
    account = server.account()
    for max_version in (None, ssl.TLSVersion.TLSv1_2):
        what = f"TLS {'1.2' if max_version else '1.3'}"
        c, types = await _starttls_channel_bindings(server, tls_context(max_version=max_version))
        assert "tls-unique" in types, f"{what}: tls-unique not offered: {sorted(types)}"
        data = c.ssl_object.get_channel_binding("tls-unique")
        assert data, f"{what}: the client has no tls-unique data"
        await c.auth_scram(account.user, account.password, "SCRAM-SHA-256-PLUS",
                           gs2="p=tls-unique,,", cb_data=data)
        await finish_session(c)
        # The same type with other data (a man in the middle's) fails.
        c, _ = await _starttls_channel_bindings(server, tls_context(max_version=max_version))
        wrong = bytes(b ^ 0xFF for b in c.ssl_object.get_channel_binding("tls-unique"))
        await expect_failure(c.auth_scram(account.user, account.password, "SCRAM-SHA-256-PLUS",
                                          gs2="p=tls-unique,,", cb_data=wrong),
                             "not-authorized")
        await c.close()


async def test_tls_unique_not_offered_on_tls12_without_ems(server):
    """TLS 1.2 without extended master secret is open to the triple
    handshake attack on tls-unique: it is not offered there, and a client
    that asks for it anyway is refused."""
    ctx = tls_context(max_version=ssl.TLSVersion.TLSv1_2)
    ctx.options |= _OP_NO_EXTENDED_MASTER_SECRET
    c, types = await _starttls_channel_bindings(server, ctx)
    assert c.ssl_object.version() == "TLSv1.2", c.ssl_object.version()
    assert "tls-unique" not in types, sorted(types)
    assert "tls-server-end-point" in types, sorted(types)
    account = server.account()
    await expect_failure(c.auth_scram(account.user, account.password, "SCRAM-SHA-256-PLUS",
                                      gs2="p=tls-unique,,",
                                      cb_data=c.ssl_object.get_channel_binding("tls-unique")),
                         "not-authorized")
    await c.close()


async def test_plain_over_tls(server):
    account = server.account()
    for listener in ("required", "direct", "optional"):
        c = await tls_client(server, listener)
        assert "PLAIN" in c.mechanisms, c.mechanisms
        await c.auth_plain(account.user, account.password)
        await finish_session(c)


async def test_scram_optional_listener_without_tls(server):
    account = server.account()
    c = await Client.connect(server.ports["optional"])
    await c.open_stream()
    assert not c.tls
    await c.auth_scram(account.user, account.password, "SCRAM-SHA-256")
    await finish_session(c)


# ---------------------------------------------------------------------------
# Channel binding failures

async def test_plus_wrong_cb_data(server):
    account = server.account()
    for mech in ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS"):
        c = await tls_client(server)
        await expect_failure(
            c.auth_scram(account.user, account.password, mech,
                         gs2="p=tls-server-end-point,,", cb_data=os.urandom(32)),
            "not-authorized")
        await c.close()


async def test_plus_unsupported_cb_type(server):
    """A channel binding type the server does not know must not log in."""
    account = server.account()
    c = await tls_client(server)
    await expect_failure(c.auth_scram(account.user, account.password, "SCRAM-SHA-256-PLUS",
                                      gs2="p=x-canto-nonsense,,", cb_data=os.urandom(32)),
                         "not-authorized")
    await c.close()


async def test_y_flag_downgrade(server):
    """'y' says: I could bind, but you offered no -PLUS. The server did
    offer -PLUS, so someone stripped it: refuse (RFC 5802 section 6)."""
    account = server.account()
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1"):
        c = await tls_client(server)
        assert mech + "-PLUS" in c.mechanisms, c.mechanisms
        await expect_failure(c.auth_scram(account.user, account.password, mech, gs2="y,,"),
                             "not-authorized")
        await c.close()


# ---------------------------------------------------------------------------
# Failures

async def scram_failure_text(c, user, password):
    """Run SCRAM-SHA-256 to its end with these credentials; return the
    server-first message and the exact text of the <failure/> element."""
    scram = Scram("SCRAM-SHA-256", user, password)
    await c.send(f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-256'>"
                 f"{b64(scram.client_first())}</auth>")
    el = await c.read_stanza()
    assert el.tag == q("challenge", NS_SASL), \
        f"expected a (possibly fake) challenge for {user}, got {tostring(el)}"
    server_first = Client._payload(el)
    await c.send(f"<response xmlns='{NS_SASL}'>{b64(scram.client_final(server_first))}</response>")
    start = c.pos
    el = await c.read_stanza()
    assert el.tag == q("failure", NS_SASL), tostring(el)
    assert condition(el, NS_SASL) == "not-authorized", tostring(el)
    return server_first.decode(), c.text[start:c.pos].strip()


def scram_params(server_first):
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    return len(base64.b64decode(attrs["s"])), attrs["i"]


async def test_wrong_password_and_unknown_user_identical(server):
    account = server.account()
    c = await tls_client(server)
    first_wrong, wrong = await scram_failure_text(c, account.user, "not-the-password")
    first_unknown, unknown = await scram_failure_text(c, "nosuchuser" + account.user, "whatever")
    assert wrong == unknown, f"failures differ:\n  wrong password: {wrong!r}\n  unknown user:   {unknown!r}"
    assert scram_params(first_wrong) == scram_params(first_unknown), \
        f"fake challenge looks different: {first_wrong!r} vs {first_unknown!r}"
    await c.close()

    # PLAIN too.
    texts = []
    for user, password in ((account.user, "not-the-password"), ("nosuchuser" + account.user, "x")):
        c = await tls_client(server)
        await c.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{b64(f'{chr(0)}{user}{chr(0)}{password}')}</auth>")
        start = c.pos
        el = await c.read_stanza()
        assert condition(el, NS_SASL) == "not-authorized", tostring(el)
        texts.append(c.text[start:c.pos].strip())
        await c.close()
    assert texts[0] == texts[1], f"PLAIN failures differ: {texts}"


async def test_retry_after_failure(server):
    account = server.account()
    c = await tls_client(server)
    await expect_failure(c.auth_scram(account.user, "wrong", "SCRAM-SHA-256"), "not-authorized")
    await expect_failure(c.auth_plain(account.user, "wrong"), "not-authorized")
    await c.auth_scram(account.user, account.password, "SCRAM-SHA-256")
    await finish_session(c)


async def test_plain_without_tls_encryption_required(server):
    account = server.account()
    c = await Client.connect(server.ports["optional"])
    await c.open_stream()
    assert "PLAIN" not in c.mechanisms, c.mechanisms
    await expect_failure(c.auth_plain(account.user, account.password), "encryption-required")
    assert "<success" not in c.text, c.text
    await c.close()


async def test_invalid_mechanism(server):
    c = await tls_client(server)
    await c.send(f"<auth xmlns='{NS_SASL}' mechanism='X-CANTO-NONSENSE'>AAAA</auth>")
    el = await c.read_stanza()
    assert el.tag == q("failure", NS_SASL), tostring(el)
    assert condition(el, NS_SASL) == "invalid-mechanism", tostring(el)
    await c.close()


async def test_malformed_base64(server):
    c = await tls_client(server)
    await c.send(f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-256'>!!not*base64!!</auth>")
    el = await c.read_stanza()
    assert el.tag == q("failure", NS_SASL), tostring(el)
    assert condition(el, NS_SASL) == "malformed-request", tostring(el)
    await c.close()


async def test_abort(server):
    account = server.account()
    c = await tls_client(server)
    scram = Scram("SCRAM-SHA-256", account.user, account.password)
    await c.send(f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-256'>"
                 f"{b64(scram.client_first())}</auth>")
    el = await c.read_stanza()
    assert local(el) == "challenge", tostring(el)
    await c.send(f"<abort xmlns='{NS_SASL}'/>")
    el = await c.read_stanza()
    assert el.tag == q("failure", NS_SASL), tostring(el)
    assert condition(el, NS_SASL) == "aborted", tostring(el)
    # The stream is still usable.
    await c.auth_scram(account.user, account.password, "SCRAM-SHA-256")
    await finish_session(c)


async def test_five_failures_close_stream(server):
    account = server.account()
    c = await tls_client(server)
    for attempt in range(1, 5):
        await expect_failure(c.auth_scram(account.user, f"wrong{attempt}", "SCRAM-SHA-256"),
                             "not-authorized")
    # The fifth attempt is still answered (the stream survived four
    # failures); its failure closes the stream without a sixth attempt.
    scram = Scram("SCRAM-SHA-256", account.user, "wrong5")
    await c.send(f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-256'>"
                 f"{b64(scram.client_first())}</auth>")
    el = await c.read_stanza()
    assert el.tag == q("challenge", NS_SASL), f"stream closed after 4 failures: {tostring(el)}"
    await c.send(f"<response xmlns='{NS_SASL}'>"
                 f"{b64(scram.client_final(Client._payload(el)))}</response>")
    await c.expect_stream_error("policy-violation")
    assert "<success" not in c.text, c.text
    await assert_serves(server)


# ---------------------------------------------------------------------------
# Accounts changed while the server runs

async def test_passwd_while_running(server):
    account = server.account()
    c = await tls_client(server)
    await c.auth_scram(account.user, account.password)
    await finish_session(c)

    server.passwd(account.jid, "a-new-password")
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"):
        c = await tls_client(server)
        await expect_failure(c.authenticate(account.user, account.password, mech),
                             "not-authorized")
        await c.authenticate(account.user, "a-new-password", mech)
        await finish_session(c)


async def test_adduser_while_running(server):
    # The server has been serving for a while; the account is new.
    jid = f"late{os.getpid()}@{server.host}"
    server.adduser(jid, "late-password")
    assert jid in server.users(), server.users()
    c = await tls_client(server)
    await c.auth_scram(jid.split("@")[0], "late-password", "SCRAM-SHA-512")
    await finish_session(c)


async def test_deluser_while_running(server):
    account = server.account()
    c = await tls_client(server)
    await c.auth_scram(account.user, account.password)
    await finish_session(c)
    server.deluser(account.jid)
    assert account.jid not in server.users(), server.users()
    c = await tls_client(server)
    await expect_failure(c.auth_scram(account.user, account.password), "not-authorized")
    await c.close()


if __name__ == "__main__":
    harness.main(globals())
