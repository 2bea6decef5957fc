"""Connection caps: limits.connections_per_address and limits.max_connections.

A connection over a cap is refused before any stream exists for it: on a
plaintext or STARTTLS listener it reads a stream header and a
policy-violation stream error, then the connection closes; on a direct TLS
listener it is closed without a word. The connections already held go on
unharmed, and a slot freed by a closing connection is usable again.
Sources 127.0.0.2 and 127.0.0.3 stand for other addresses (all of
127.0.0.0/8 is loopback on Linux).
"""

import os
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from rawxmpp import Client, ConnectionClosed, assert_serves, login, tostring  # noqa: E402


async def opened(server, source=None, listener="optional"):
    """A connection whose stream is open (features read): it holds a slot.
    A refusal is retried: a connection that is closing (the harness's
    readiness probes, one of ours) still counts until the server has read
    its FIN, which it may do after it accepted this one. Once a test holds
    as many as the cap allows, nothing else is counted, so what it
    expects to be refused then is refused for certain."""
    for attempt in range(100):
        c = await Client.connect(server.ports[listener], source=source)
        await c.send(c.header())
        m = await c.read_until(r"<stream:features|<stream:error")
        if "features" in m.group(0):
            await c.read_until(r"</stream:features>")
            return c
        await c.expect_closed()
        await c.close()
    raise AssertionError("no connection slot came free")


async def finish(c):
    """Closing handshake, then our own close: the server frees the
    connection when it reads our FIN, not after its linger."""
    await c.close_stream()
    await c.close()


async def refused(server, source=None, listener="optional"):
    """Connect and expect the refusal: a policy-violation stream error."""
    c = await Client.connect(server.ports[listener], source=source)
    text = await c.expect_stream_error("policy-violation")
    assert "Too many connections" in text, text
    await c.close()
    return text


async def test_per_address_cap():
    """The fourth connection from one address is refused; another address
    is still served; closing one frees its slot."""
    with harness.Server(limits={"connections_per_address": 3,
                                "loopback_exempt": False}) as server:
        held = [await opened(server) for _ in range(3)]
        await refused(server)
        # On every listener: the cap counts connections, not listeners.
        await refused(server, listener="required")
        other = await opened(server, source="127.0.0.2")
        # The connections held are unharmed.
        for c in held:
            await c.check_open()
        await finish(held[0])
        c = await opened(server)   # its slot is free again
        await finish(c)
        await finish(other)
        for c in held[1:]:
            await finish(c)


async def test_direct_tls_refused_without_a_word():
    """On a direct TLS listener the excess connection is just closed: no
    handshake is paid for it."""
    with harness.Server(limits={"connections_per_address": 1,
                                "loopback_exempt": False}) as server:
        held = await opened(server)
        try:
            c = await Client.connect(server.ports["direct"], direct_tls=True)
        except (ConnectionError, ssl.SSLError, OSError):
            pass   # the handshake met a closed connection: refused
        else:
            try:
                await c.open_stream()
            except ConnectionClosed:
                pass
            else:
                raise AssertionError("a direct TLS connection over the cap got a stream")
        await held.check_open()
        await finish(held)


async def test_total_cap():
    """max_connections counts every address."""
    with harness.Server(limits={"max_connections": 2}) as server:
        a = await opened(server)
        b = await opened(server, source="127.0.0.2")
        await refused(server, source="127.0.0.3")
        await a.check_open()
        await b.check_open()
        await finish(a)
        await finish(b)


async def test_loopback_exempt_by_default():
    """Loopback addresses (local proxies, gateways) have no per-address cap
    unless loopback_exempt is false; logins work as usual."""
    with harness.Server(limits={"connections_per_address": 2}) as server:
        held = [await opened(server) for _ in range(4)]
        account = server.account("alice")
        c = await login(server, account)
        res = await c.ping()
        assert res.get("type") == "result", tostring(res)
        await finish(c)
        for h in held:
            await finish(h)
        await assert_serves(server)


if __name__ == "__main__":
    harness.main(globals())
