"""Last activity (XEP-0012) against one cantod, with slixmpp clients.

What a user sees: asking the server gives its uptime; asking a contact who
is online gives 0; asking a contact who has left gives how long ago, with
the status they left with; someone who does not follow the contact learns
nothing (forbidden), since last activity would give presence away.

The server counts whole seconds of the wall clock (time(NULL)), the clock
time.time() reads here. So a count is checked against the times measured
around the events it counts from and to: an answer to a question asked in
[asked_from, asked_to] about something that happened in [begin, end] must
lie in [int(asked_from) - int(end), int(asked_to) - int(begin)]. Before
asking, a test lets the clock pass the next whole second after `end`, so that
the lower bound is at least 1 and an answer stuck at 0 fails.
"""

import asyncio
import time

import harness
from clients import (close_all, iq_error, login_im, send_iq,
                     subscribe_and_approve, wait_presence, xml_of)

NS_LAST = "jabber:iq:last"


def _seconds(res):
    q = res.xml.find("{%s}query" % NS_LAST)
    assert q is not None, xml_of(res)
    return int(q.get("seconds")), (q.text or "")


async def _next_second_after(t):
    """Let the wall clock pass the whole second after `t` (it is what is
    being counted, so here waiting is the test, not a guess)."""
    await asyncio.sleep(max(0.0, int(t) + 1 - time.time()) + 0.01)


async def _ask_since(client, jid, begin, end):
    """Ask `jid`'s last activity; check that its seconds count from an event
    that happened between the wall-clock times `begin` and `end` (see the
    module comment). Returns (seconds, status text)."""
    asked_from = time.time()
    res = await send_iq(client, f"<query xmlns='{NS_LAST}'/>", to=jid)
    asked_to = time.time()
    seconds, status = _seconds(res)
    low, high = int(asked_from) - int(end), int(asked_to) - int(begin)
    assert low <= seconds <= high, \
        f"{seconds} s is not within [{low}, {high}] s: {xml_of(res)}"
    return seconds, status


async def _follow(server, follower, followed):
    f = await login_im(server, follower, "setup-f")
    t = await login_im(server, followed, "setup-t")
    try:
        await subscribe_and_approve(f, t)
    finally:
        await close_all(f, t)


async def test_server_uptime(server):
    a = await login_im(server, server.account("alice"), "desk")
    try:
        # The server started between the exec and its listeners answering.
        await _next_second_after(server.ready_at)
        seconds, _ = await _ask_since(a, server.host, server.started_at, server.ready_at)
        assert seconds >= 1
    finally:
        await a.close()


async def test_follower_sees_online_then_gone_with_status(server):
    alice, bob = server.account("alice"), server.account("bob")
    await _follow(server, bob, alice)
    a1 = await login_im(server, alice, "desk")
    b1 = await login_im(server, bob, "work")
    try:
        res = await send_iq(b1, f"<query xmlns='{NS_LAST}'/>", to=alice.jid)
        assert _seconds(res) == (0, ""), xml_of(res)
        # The last unavailable presence is when Alice left: once the pong
        # for the ping after it comes, the server has taken it.
        left_from = time.time()
        a1.send_presence(ptype="unavailable", pstatus="gone fishing")
        await a1.sync()
        left_to = time.time()
        await a1.close()
        await _next_second_after(left_to)
        seconds, status = await _ask_since(b1, alice.jid, left_from, left_to)
        assert seconds >= 1 and status == "gone fishing", (seconds, status)
    finally:
        await close_all(a1, b1)


async def test_abrupt_disconnect_counts_as_leaving(server):
    alice, bob = server.account("alice"), server.account("bob")
    await _follow(server, bob, alice)
    a1 = await login_im(server, alice, "desk")
    b1 = await login_im(server, bob, "work")
    try:
        # Alice left when the server noticed the drop: before Bob, who
        # follows her, is told she is unavailable.
        left_from = time.time()
        a1.drop()
        await wait_presence(b1, a1.boundjid.full, "unavailable")
        left_to = time.time()
        await _next_second_after(left_to)
        seconds, status = await _ask_since(b1, alice.jid, left_from, left_to)
        assert seconds >= 1 and status == "", (seconds, status)
    finally:
        await close_all(b1)


async def test_stranger_learns_nothing(server):
    alice, carol = server.account("alice"), server.account("carol")
    a1 = await login_im(server, alice, "desk")
    c1 = await login_im(server, carol, "home")
    try:
        for _ in ("while Alice is online", "after she left"):
            err_type, cond, iq = await iq_error(c1, f"<query xmlns='{NS_LAST}'/>", type="get",
                                                to=alice.jid)
            assert (err_type, cond) == ("auth", "forbidden"), xml_of(iq)
            await a1.close()
    finally:
        await close_all(a1, c1)


async def test_last_activity_survives_restart(server):
    alice, bob = server.account("alice"), server.account("bob")
    await _follow(server, bob, alice)
    a1 = await login_im(server, alice, "desk")
    left_from = time.time()
    a1.send_presence(ptype="unavailable", pstatus="see you")
    await a1.sync()
    left_to = time.time()
    await a1.close()
    # Counted from when she left, not from the restart a second later.
    await _next_second_after(left_to)
    server.restart()
    b1 = await login_im(server, bob, "work")
    try:
        _, status = await _ask_since(b1, alice.jid, left_from, left_to)
        assert status == "see you", status
    finally:
        await close_all(b1)


if __name__ == "__main__":
    harness.main(globals())
