"""Presence subscriptions (RFC 6121 section 3) between real clients
(slixmpp), each user with several resources, against one cantod.

The paths a person goes through when adding friends: Alice asks to see
Bob's presence (her list shows "pending"), Bob's devices ask him, he says
yes (Alice's list shows "to", Bob's "from", and Alice sees Bob online at
once), he asks back ("both"); a request refused; a subscription cancelled by
the contact or given up by the user; removing a contact altogether; a
pre-approval (RFC 6121 3.4) that lets the server say yes on the contact's
behalf; a request to someone who is offline, delivered at each of their
logins until they answer; a repeated request answered by the server; and
all of it still true after a restart.

Every client comes from login_im(): slixmpp's automatic answers to
subscription requests are off (auto_authorize None, auto_subscribe False),
the roster is requested before initial presence, and the client keeps its
roster pushes and presences in mailboxes. Checks that something did not
arrive use settle(sender, target): the sender, then the target, pings the
server (a ping is a barrier in Canto).
"""

import uuid

import harness
from clients import (clear_boxes, close_all, from_account, login_im, ptype,
                     presences_from, push_of, pushes_about, roster_get,
                     roster_remove, settle, subscribe_and_approve,
                     wait_presence, wait_push, xml_of)

NONE = ("none", None)       # RFC 6121 2.1.2.5: an absent subscription means none


def _uid():
    return uuid.uuid4().hex[:8]


def _requests_from(client, bare):
    return [p for p in client.presence_box.matching()
            if ptype(p) == "subscribe" and from_account(p, bare)]


def pushes_to(client, jid, subscription):
    """Roster pushes on `client` that gave `jid` this subscription."""
    return [iq for iq in pushes_about(client, jid)
            if push_of(iq, client.boundjid.bare)[1]["subscription"] == subscription]


def _available_from(client, bare):
    return presences_from(client, bare, "available")


def _describe(stanzas):
    return [xml_of(s) for s in stanzas]


# ---------------------------------------------------------------------------

async def test_request_approval_and_contacts_presence(server):
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk")
    a2 = await login_im(server, alice, "phone")
    b1 = await login_im(server, bob, "work", priority=5, status="at work")
    b2 = await login_im(server, bob, "mobile", show="away", status="on the train")
    try:
        await clear_boxes(a1, a2, b1, b2)
        a1.send_raw(f"<presence to='{bob.jid}' type='subscribe'>"
                    "<status>Alice from the office</status></presence>")
        # 3.1.2: Alice's lists say "Bob, pending".
        for c in (a1, a2):
            await wait_push(c, bob.jid, subscription=NONE, ask="subscribe")
        # 3.1.3: every available device of Bob asks him, in Alice's bare name.
        for c in (b1, b2):
            p = await wait_presence(c, alice.jid, "subscribe")
            assert p["status"] == "Alice from the office", xml_of(p)
        # Bob says yes on his phone.
        b2.send_presence(pto=alice.jid, ptype="subscribed")
        # 3.1.5: Bob's lists: Alice may see him ("from").
        for c in (b1, b2):
            await wait_push(c, alice.jid, subscription="from", ask=None)
        # 3.1.6: Alice's lists: she sees Bob ("to", no longer pending), and
        # her devices learn that he said yes.
        for c in (a1, a2):
            await wait_push(c, bob.jid, subscription="to", ask=None)
            await wait_presence(c, bob.jid, "subscribed")
        # 3.1.5: and at once she sees each of Bob's devices as they are.
        for c in (a1, a2):
            p = await wait_presence(c, b1.boundjid.full)
            assert p["status"] == "at work" and p["priority"] == 5, xml_of(p)
            p = await wait_presence(c, b2.boundjid.full)
            assert p["show"] == "away" and p["status"] == "on the train", xml_of(p)
        # Bob does not see Alice: he has not asked.
        a1.send_presence(pstatus="can Bob see me?")
        await settle(a1, b1, b2)
        for c in (b1, b2):
            assert _available_from(c, alice.jid) == [], _describe(_available_from(c, alice.jid))
    finally:
        await close_all(a1, a2, b1, b2)


async def test_asking_back_makes_it_mutual(server):
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk")
    a2 = await login_im(server, alice, "phone")
    b1 = await login_im(server, bob, "work")
    try:
        await subscribe_and_approve(a1, b1)
        await clear_boxes(a1, a2, b1)
        b1.send_presence(pto=alice.jid, ptype="subscribe")
        await wait_push(b1, alice.jid, subscription="from", ask="subscribe")
        for c in (a1, a2):
            await wait_presence(c, bob.jid, "subscribe")
        a2.send_presence(pto=bob.jid, ptype="subscribed")
        for c in (a1, a2):
            await wait_push(c, bob.jid, subscription="both", ask=None)
        await wait_push(b1, alice.jid, subscription="both", ask=None)
        for r in (a1, a2):
            await wait_presence(b1, r.boundjid.full)
        # Updates now travel both ways.
        a1.send_presence(pstatus="hello Bob")
        await wait_presence(b1, a1.boundjid.full, pred=lambda p: p["status"] == "hello Bob")
        b1.send_presence(pstatus="hello Alice")
        for c in (a1, a2):
            await wait_presence(c, b1.boundjid.full, pred=lambda p: p["status"] == "hello Alice")
    finally:
        await close_all(a1, a2, b1)


async def test_three_friends_in_a_circle(server):
    """Alice follows Bob, Bob follows Carol, Carol follows Alice, each with
    two devices: every update reaches exactly the one who follows."""
    accounts = [server.account(n) for n in ("alice", "bob", "carol")]
    devices = []
    try:
        for acc in accounts:
            devices.append([await login_im(server, acc, r) for r in ("one", "two")])
        for i in range(3):
            follower, followed = devices[i][0], devices[(i + 1) % 3][1]
            await subscribe_and_approve(follower, followed)
        for group in devices:
            await clear_boxes(*group)
        for i, acc in enumerate(accounts):
            speaker = devices[i][1]
            status = f"{acc.user} says hi {_uid()}"
            speaker.send_presence(pstatus=status)
            follower = (i - 1) % 3          # who follows accounts[i]
            for c in devices[follower]:
                await wait_presence(c, speaker.boundjid.full,
                                    pred=lambda p, s=status: p["status"] == s)
            other = (i + 1) % 3
            await settle(speaker, *devices[other])
            for c in devices[other]:
                got = _available_from(c, acc.jid)
                assert got == [], f"{c.boundjid.full} does not follow {acc.jid}: {_describe(got)}"
    finally:
        await close_all(*(c for group in devices for c in group))


test_three_friends_in_a_circle.timeout = 120


async def test_refused_request(server):
    alice, carol = server.account("alice"), server.account("carol")
    a1 = await login_im(server, alice, "desk")
    c1 = await login_im(server, carol, "home")
    c2 = await login_im(server, carol, "phone", status="around")
    c3 = None
    try:
        await clear_boxes(a1, c1, c2)
        a1.send_presence(pto=carol.jid, ptype="subscribe")
        await wait_push(a1, carol.jid, subscription=NONE, ask="subscribe")
        await wait_presence(c1, alice.jid, "subscribe")
        c1.send_presence(pto=alice.jid, ptype="unsubscribed")
        # RFC 6121 3.2: no longer pending, still nothing.
        await wait_push(a1, carol.jid, subscription=NONE, ask=None)
        await wait_presence(a1, carol.jid, "unsubscribed")
        c2.send_presence(pstatus="not for Alice")
        await settle(c2, a1)
        assert _available_from(a1, carol.jid) == [], _describe(_available_from(a1, carol.jid))
        view = await roster_get(c1, ver="")
        if alice.jid in view.items:
            assert view.items[alice.jid]["subscription"] in NONE, view.items
        # Answered: Carol is not asked again at her next login.
        c3 = await login_im(server, carol, "tablet")
        await settle(c3, c3)            # requests are re-sent at her login
        assert _requests_from(c3, alice.jid) == [], _describe(_requests_from(c3, alice.jid))
    finally:
        await close_all(a1, c1, c2, c3)


async def test_contact_cancels_the_subscription(server):
    """RFC 6121 3.2: Bob takes back Alice's permission to see him."""
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk")
    a2 = await login_im(server, alice, "phone")
    b1 = await login_im(server, bob, "work")
    b2 = await login_im(server, bob, "mobile")
    try:
        await subscribe_and_approve(a1, b1)
        for c in (a1, a2):
            for r in (b1, b2):
                await wait_presence(c, r.boundjid.full)
        await clear_boxes(a1, a2, b1, b2)
        b2.send_presence(pto=alice.jid, ptype="unsubscribed")
        # 3.2.2: Bob's lists: Alice no longer sees him.
        for c in (b1, b2):
            await wait_push(c, alice.jid, subscription=NONE)
        # 3.2.3 and 3.2.2: Alice's lists and devices learn it, and Bob goes
        # offline for her, device by device.
        for c in (a1, a2):
            await wait_push(c, bob.jid, subscription=NONE, ask=None)
            await wait_presence(c, bob.jid, "unsubscribed")
            for r in (b1, b2):
                await wait_presence(c, r.boundjid.full, "unavailable")
        b1.send_presence(pstatus="private now")
        await settle(b1, a1, a2)
        for c in (a1, a2):
            assert _available_from(c, bob.jid) == [], _describe(_available_from(c, bob.jid))
    finally:
        await close_all(a1, a2, b1, b2)


async def test_cancellation_while_the_user_is_offline(server):
    """RFC 6121 3.2.3: the user's roster changes even when she has no
    session; at her next login she no longer sees Bob."""
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk")
    b1 = await login_im(server, bob, "work", status="busy")
    a2 = None
    try:
        await subscribe_and_approve(a1, b1)
        await a1.close()
        b1.send_presence(pto=alice.jid, ptype="unsubscribed")
        await wait_push(b1, alice.jid, subscription=NONE)
        await b1.sync()
        a2 = await login_im(server, alice, "laptop")
        item = a2.initial_roster.items.get(bob.jid)
        assert item is not None and item["subscription"] in NONE, a2.initial_roster
        await settle([b1, a2], a2)      # her login probes Bob
        got = _available_from(a2, bob.jid)
        assert got == [], f"Bob's presence after he cancelled: {_describe(got)}"
    finally:
        await close_all(a1, b1, a2)


async def test_user_unsubscribes(server):
    """RFC 6121 3.3: Alice stops following Bob; Bob still follows her."""
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk")
    b1 = await login_im(server, bob, "work")
    b2 = await login_im(server, bob, "mobile")
    try:
        await subscribe_and_approve(a1, b1)
        await subscribe_and_approve(b1, a1)
        await clear_boxes(a1, b1, b2)
        a1.send_presence(pto=bob.jid, ptype="unsubscribe")
        await wait_push(a1, bob.jid, subscription="from")          # 3.3.2
        for c in (b1, b2):                                          # 3.3.3
            await wait_push(c, alice.jid, subscription="to")
            await wait_presence(c, alice.jid, "unsubscribe")
        for r in (b1, b2):
            await wait_presence(a1, r.boundjid.full, "unavailable")
        # Alice's presence still reaches Bob; Bob's no longer reaches Alice.
        a1.send_presence(pstatus="Bob still sees me")
        await wait_presence(b2, a1.boundjid.full, pred=lambda p: p["status"] == "Bob still sees me")
        b2.send_presence(pstatus="hidden from Alice")
        await settle(b2, a1)
        assert _available_from(a1, bob.jid) == [], _describe(_available_from(a1, bob.jid))
    finally:
        await close_all(a1, b1, b2)


async def test_removing_a_contact_ends_both_subscriptions(server):
    """RFC 6121 2.5.2: removing a contact with a mutual subscription sends
    unsubscribe and unsubscribed for the user."""
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk")
    b1 = await login_im(server, bob, "work")
    try:
        await subscribe_and_approve(a1, b1)
        await subscribe_and_approve(b1, a1)
        await wait_presence(b1, a1.boundjid.full)
        await clear_boxes(a1, b1)
        await roster_remove(a1, bob.jid)
        await wait_push(a1, bob.jid, subscription="remove")
        await wait_push(b1, alice.jid, subscription=NONE)
        await wait_presence(b1, a1.boundjid.full, "unavailable")
        await wait_presence(a1, b1.boundjid.full, "unavailable")
        view = await roster_get(b1, ver="")
        assert view.items[alice.jid]["subscription"] in NONE, view.items
        assert view.items[alice.jid]["ask"] is None, view.items
        a1.send_presence(pstatus="gone")
        b1.send_presence(pstatus="gone too")
        await settle([a1, b1], a1, b1)
        assert _available_from(b1, alice.jid) == [], _describe(_available_from(b1, alice.jid))
        assert _available_from(a1, bob.jid) == [], _describe(_available_from(a1, bob.jid))
    finally:
        await close_all(a1, b1)


async def test_removing_an_unlisted_requester_refuses_the_request(server):
    """A request Alice never answered is not in her roster (RFC 6121 3.1.3),
    but a client that shows requests apart lets her dismiss one by removing
    the requester: that is a refusal (Bob gets unsubscribed, his roster says
    his request is over), not item-not-found, and the request is not shown
    again at her next login."""
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk")
    b1 = await login_im(server, bob, "work")
    a2 = None
    try:
        b1.send_presence(pto=alice.jid, ptype="subscribe")
        await wait_presence(a1, bob.jid, "subscribe")
        await wait_push(b1, alice.jid, subscription=NONE, ask="subscribe")
        res = await roster_remove(a1, bob.jid)
        assert res["type"] == "result", xml_of(res)
        await wait_presence(b1, alice.jid, "unsubscribed")
        await wait_push(b1, alice.jid, subscription=NONE, ask=None)
        await a1.close()
        a2 = await login_im(server, alice, "phone")   # ends with a ping barrier
        assert _requests_from(a2, bob.jid) == [], _describe(_requests_from(a2, bob.jid))
        assert bob.jid not in a2.initial_roster.items, a2.initial_roster.items
    finally:
        await close_all(a1, b1, a2)


async def test_preapproved_request_is_answered_by_the_server(server):
    """RFC 6121 3.4: Carol approves Alice before Alice asks; when Alice asks,
    the server says yes for Carol, who is not asked."""
    alice, carol = server.account("alice"), server.account("carol")
    a1 = await login_im(server, alice, "desk")
    c1 = await login_im(server, carol, "home", status="reading")
    c2 = await login_im(server, carol, "phone")
    try:
        await clear_boxes(a1, c1, c2)
        c1.send_presence(pto=alice.jid, ptype="subscribed")
        # 3.4.2: Carol's lists remember the pre-approval; Alice hears nothing.
        for c in (c1, c2):
            await wait_push(c, alice.jid, subscription=NONE, approved="true")
        await settle(c1, a1)
        got = presences_from(a1, carol.jid)
        assert got == [], f"a pre-approval is not routed: {_describe(got)}"

        a1.send_presence(pto=carol.jid, ptype="subscribe")
        await wait_push(a1, carol.jid, subscription="to", ask=None)
        await wait_presence(a1, carol.jid, "subscribed")
        for c in (c1, c2):
            await wait_push(c, alice.jid, subscription="from")
        # As after an approval by hand (3.1.5), Alice sees Carol at once.
        p = await wait_presence(a1, c1.boundjid.full)
        assert p["status"] == "reading", xml_of(p)
        await wait_presence(a1, c2.boundjid.full)
        await settle(a1, c1, c2)
        for c in (c1, c2):
            assert _requests_from(c, alice.jid) == [], _describe(_requests_from(c, alice.jid))
    finally:
        await close_all(a1, c1, c2)


async def test_request_to_offline_contact_waits_for_each_login(server):
    """RFC 6121 3.1.3: the request is kept and delivered whenever Bob
    becomes available, until he answers."""
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk")
    bobs = []
    try:
        a1.send_presence(pto=bob.jid, ptype="subscribe")
        await wait_push(a1, bob.jid, subscription=NONE, ask="subscribe")
        a1.send_presence(pto=bob.jid, ptype="subscribe")     # she insists
        await a1.sync()
        # Connected but not available yet: not asked.
        quiet = await login_im(server, bob, "phone", presence=False)
        bobs.append(quiet)
        await settle(quiet, quiet)
        assert _requests_from(quiet, alice.jid) == [], _describe(_requests_from(quiet, alice.jid))
        # Available: asked, once.
        quiet.send_presence()
        await wait_presence(quiet, alice.jid, "subscribe")
        await settle(quiet, quiet)
        assert _requests_from(quiet, alice.jid) == [], \
            f"asked twice: {_describe(_requests_from(quiet, alice.jid))}"
        await quiet.close()
        # Bob ignored it; next login he is asked again, and again.
        for resource in ("desk", "tablet"):
            b = await login_im(server, bob, resource)
            bobs.append(b)
            await wait_presence(b, alice.jid, "subscribe")
            if resource == "desk":
                await b.close()
        bobs[-1].send_presence(pto=alice.jid, ptype="subscribed")
        await wait_push(a1, bob.jid, subscription="to", ask=None)
        await wait_push(bobs[-1], alice.jid, subscription="from")
        await bobs[-1].close()
        # Answered: no more asking.
        b = await login_im(server, bob, "phone")
        bobs.append(b)
        await settle(b, b)
        assert _requests_from(b, alice.jid) == [], _describe(_requests_from(b, alice.jid))
    finally:
        await close_all(a1, *bobs)


test_request_to_offline_contact_waits_for_each_login.timeout = 120


async def test_approval_while_the_requester_is_offline(server):
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk")
    b1 = await login_im(server, bob, "work", status="here")
    a2 = None
    try:
        a1.send_presence(pto=bob.jid, ptype="subscribe")
        await wait_push(a1, bob.jid, ask="subscribe")
        await wait_presence(b1, alice.jid, "subscribe")
        await a1.close()
        b1.send_presence(pto=alice.jid, ptype="subscribed")
        await wait_push(b1, alice.jid, subscription="from")
        await b1.sync()
        a2 = await login_im(server, alice, "laptop")
        item = a2.initial_roster.items.get(bob.jid)
        assert item is not None and item["subscription"] == "to" and item["ask"] is None, \
            a2.initial_roster
        # And at login she gets Bob's presence (RFC 6121 4.2.2, 4.3).
        p = await wait_presence(a2, b1.boundjid.full)
        assert p["status"] == "here", xml_of(p)
    finally:
        await close_all(a1, b1, a2)


async def test_withdrawn_request_is_not_delivered_later(server):
    """Alice asks Bob, who is offline, then changes her mind (unsubscribe
    while the request is pending: RFC 6121 3.3 and Appendix A, "None +
    Pending Out" becomes "None"). Bob is not asked when he logs in."""
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk")
    b1 = None
    try:
        a1.send_presence(pto=bob.jid, ptype="subscribe")
        await wait_push(a1, bob.jid, ask="subscribe")
        a1.send_presence(pto=bob.jid, ptype="unsubscribe")
        await wait_push(a1, bob.jid, subscription=NONE, ask=None)
        await a1.sync()
        b1 = await login_im(server, bob, "work")
        await settle(b1, b1)
        assert _requests_from(b1, alice.jid) == [], _describe(_requests_from(b1, alice.jid))
    finally:
        await close_all(a1, b1)


async def test_preapproval_can_be_withdrawn(server):
    """RFC 6121 4.7.2.1: 'unsubscribed' also cancels a pre-approval; Alice's
    later request is then put to Carol as usual."""
    alice, carol = server.account("alice"), server.account("carol")
    a1 = await login_im(server, alice, "desk")
    c1 = await login_im(server, carol, "home")
    try:
        c1.send_presence(pto=alice.jid, ptype="subscribed")
        await wait_push(c1, alice.jid, approved="true")
        c1.send_presence(pto=alice.jid, ptype="unsubscribed")
        await wait_push(c1, alice.jid, approved=None)
        await clear_boxes(a1, c1)
        a1.send_presence(pto=carol.jid, ptype="subscribe")
        await wait_presence(c1, alice.jid, "subscribe")
        await settle(a1, a1)
        assert pushes_to(a1, carol.jid, "to") == [], "approved without Carol"
    finally:
        await close_all(a1, c1)


async def test_request_to_a_full_jid_is_for_the_account(server):
    """RFC 6121 3.1.2 and 3.1.3: subscriptions are between bare JIDs; a
    request addressed to one of Bob's resources is treated as addressed to
    Bob, and an approval sent to one of Alice's resources counts for her."""
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk")
    b1 = await login_im(server, bob, "work")
    b2 = await login_im(server, bob, "mobile")
    try:
        a1.send_presence(pto=b1.boundjid.full, ptype="subscribe")
        await wait_push(a1, bob.jid, subscription=NONE, ask="subscribe")
        for c in (b1, b2):
            await wait_presence(c, alice.jid, "subscribe")
        b2.send_presence(pto=a1.boundjid.full, ptype="subscribed")
        await wait_push(a1, bob.jid, subscription="to", ask=None)
        await wait_presence(a1, bob.jid, "subscribed")
        for c in (b1, b2):
            await wait_push(c, alice.jid, subscription="from")
    finally:
        await close_all(a1, b1, b2)


async def test_repeated_request_is_answered_by_the_server(server):
    """RFC 6121 3.1.3: a request from someone who is already subscribed is
    answered by the contact's server; the contact is not asked again."""
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk")
    b1 = await login_im(server, bob, "work")
    b2 = None
    try:
        await subscribe_and_approve(a1, b1)
        await clear_boxes(a1, b1)
        a1.send_presence(pto=bob.jid, ptype="subscribe")
        await settle(a1, b1)
        assert _requests_from(b1, alice.jid) == [], _describe(_requests_from(b1, alice.jid))
        view = await roster_get(a1, ver="")
        item = view.items[bob.jid]
        assert item["subscription"] == "to" and item["ask"] is None, item
        b2 = await login_im(server, bob, "laptop")
        await settle(b2, b2)
        assert _requests_from(b2, alice.jid) == [], _describe(_requests_from(b2, alice.jid))
    finally:
        await close_all(a1, b1, b2)


async def test_subscription_states_survive_restart():
    with harness.Server() as server:
        alice, bob, carol, dave = (server.account(n) for n in ("alice", "bob", "carol", "dave"))
        a = await login_im(server, alice, "desk")
        b = await login_im(server, bob, "work")
        c = await login_im(server, carol, "home")
        try:
            await subscribe_and_approve(a, b)
            await subscribe_and_approve(b, a)
            c.send_presence(pto=alice.jid, ptype="subscribe")       # left unanswered
            await wait_presence(a, carol.jid, "subscribe")
            await wait_push(c, alice.jid, ask="subscribe")
            a.send_presence(pto=dave.jid, ptype="subscribed")       # pre-approval
            await wait_push(a, dave.jid, approved="true")
            await a.sync()
        finally:
            await close_all(a, b, c)
        server.restart()
        a = b = c = d = None
        try:
            a = await login_im(server, alice, "laptop", status="after the restart")
            items = a.initial_roster.items
            assert items[bob.jid]["subscription"] == "both", items
            assert items[dave.jid]["approved"] == "true", items
            await wait_presence(a, carol.jid, "subscribe")          # still pending
            b = await login_im(server, bob, "phone")
            assert b.initial_roster.items[alice.jid]["subscription"] == "both"
            p = await wait_presence(b, a.boundjid.full)
            assert p["status"] == "after the restart", xml_of(p)
            await wait_presence(a, b.boundjid.full)
            c = await login_im(server, carol, "home")
            item = c.initial_roster.items[alice.jid]
            assert item["subscription"] in NONE and item["ask"] == "subscribe", item
            d = await login_im(server, dave, "pc")
            d.send_presence(pto=alice.jid, ptype="subscribe")
            await wait_push(d, alice.jid, subscription="to", ask=None)
            await settle(d, a)
            assert _requests_from(a, dave.jid) == [], _describe(_requests_from(a, dave.jid))
        finally:
            await close_all(a, b, c, d)


test_subscription_states_survive_restart.timeout = 120


if __name__ == "__main__":
    harness.main(globals())
