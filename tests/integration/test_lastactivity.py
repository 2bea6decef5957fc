"""Last activity (XEP-0012) against one cantod, with slixmpp clients.

What a user sees: asking the server gives its uptime; asking a contact who
is online gives 0; asking a contact who has left gives how long ago, with
the status they left with; someone who does not follow the contact learns
nothing (forbidden), since last activity would give presence away.
"""

import asyncio

import harness
from clients import (close_all, iq_error, login_im, send_iq,
                     subscribe_and_approve, xml_of)

NS_LAST = "jabber:iq:last"


def _seconds(res):
    q = res.xml.find("{%s}query" % NS_LAST)
    assert q is not None, xml_of(res)
    return int(q.get("seconds")), (q.text or "")


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
        res = await send_iq(a, f"<query xmlns='{NS_LAST}'/>", to=server.host)
        seconds, _ = _seconds(res)
        assert seconds >= 0
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
        a1.send_presence(ptype="unavailable", pstatus="gone fishing")
        await asyncio.sleep(0.1)
        await a1.close()
        await asyncio.sleep(1.2)
        res = await send_iq(b1, f"<query xmlns='{NS_LAST}'/>", to=alice.jid)
        seconds, status = _seconds(res)
        assert seconds >= 1 and status == "gone fishing", xml_of(res)
    finally:
        await close_all(a1, b1)


async def test_abrupt_disconnect_counts_as_leaving(server):
    alice, bob = server.account("alice"), server.account("bob")
    await _follow(server, bob, alice)
    a1 = await login_im(server, alice, "desk")
    b1 = await login_im(server, bob, "work")
    try:
        a1.drop()
        await asyncio.sleep(0.5)
        res = await send_iq(b1, f"<query xmlns='{NS_LAST}'/>", to=alice.jid)
        seconds, status = _seconds(res)
        assert seconds >= 0 and status == "", xml_of(res)
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
    a1.send_presence(ptype="unavailable", pstatus="see you")
    await asyncio.sleep(0.1)
    await a1.close()
    await asyncio.sleep(0.3)
    server.restart()
    b1 = await login_im(server, bob, "work")
    try:
        res = await send_iq(b1, f"<query xmlns='{NS_LAST}'/>", to=alice.jid)
        assert _seconds(res)[1] == "see you", xml_of(res)
    finally:
        await close_all(b1)


if __name__ == "__main__":
    harness.main(globals())
