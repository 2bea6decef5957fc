"""Rosters (RFC 6121 section 2) seen from real clients (slixmpp, with the
exact roster payloads written out), against one cantod.

What a person managing a contact list would check: a new account's list is
empty; a contact added with a name and groups appears on every device that
asked for the list (and only those); renaming, regrouping and removing
work; a device that kept the list from last time is told "nothing changed"
or brought up to date (roster versioning, RFC 6121 2.6); bad requests are
refused with the error the RFC names; nobody can edit someone else's list;
and the list is still there after the server restarts.

The server advertises roster versioning, so every client here asks with
ver='' (no cached copy yet) and expects a 'ver' on results and pushes.
Limits under test: a name or a group is at most 1023 bytes.

Checks that something did not arrive use settle(sender, device) from
clients.py: the sender, then the device, pings the server (a ping is a
barrier in Canto).
"""

import uuid

import harness
import rawxmpp
from clients import (NS_ROSTER, close_all, iq_error, login_im, push_of,
                     roster_get, roster_item_xml, roster_remove, roster_set,
                     send_iq, settle, wait_push, xml_of)

NONE = ("none", None)       # RFC 6121 2.1.2.5: an absent subscription means none


def _uid():
    return uuid.uuid4().hex[:8]


def _set_payload(*items):
    return f"<query xmlns='{NS_ROSTER}'>{''.join(items)}</query>"


async def _roster_is(client, expected_jids):
    """The complete roster holds exactly these JIDs; returns its items."""
    view = await roster_get(client, ver="")
    assert view is not None, "a roster get with ver='' must return the roster"
    assert set(view.items) == set(expected_jids), \
        f"roster is {sorted(view.items)}, expected {sorted(expected_jids)}"
    return view.items


# ---------------------------------------------------------------------------
# Getting the roster

async def test_stream_features_offer_versioning_and_preapproval(server):
    """RFC 6121 2.6.1 and 3.4.1: after authentication the server says it
    does roster versioning and subscription pre-approval."""
    a = server.account("alice")
    c = await rawxmpp.login(server, a, resource="desk")
    try:
        features = c.features
        assert features is not None
        assert features.find("{urn:xmpp:features:rosterver}ver") is not None, \
            f"no <ver xmlns='urn:xmpp:features:rosterver'/>: {rawxmpp.tostring(features)}"
        assert features.find("{urn:xmpp:features:pre-approval}sub") is not None, \
            f"no <sub xmlns='urn:xmpp:features:pre-approval'/>: {rawxmpp.tostring(features)}"
    finally:
        await c.close_stream()


async def test_new_account_has_an_empty_versioned_roster(server):
    a = server.account("alice")
    c = await login_im(server, a, "desk", roster=False)
    try:
        view = await roster_get(c, ver="")
        assert view is not None, "ver='' (nothing cached) must get the complete roster"
        assert view.items == {}, view.items
        assert view.ver is not None, "a versioned roster result carries 'ver' (RFC 6121 2.6.3)"
        # A client that does not use versioning gets the (empty) roster too.
        plain = await roster_get(c)
        assert plain is not None and plain.items == {}, plain
    finally:
        await c.close()


# ---------------------------------------------------------------------------
# Adding, updating, removing

async def test_add_contact_with_name_and_groups(server):
    a = server.account("alice")
    bob = f"bob-{_uid()}@{server.host}"
    c = await login_im(server, a, "desk")
    try:
        res = await roster_set(c, bob, name="Bob Builder", groups=["Friends", "Work"])
        assert res["type"] == "result", xml_of(res)
        # RFC 6121 2.3.2: a push to the resource that made the change too.
        item, ver = await wait_push(c, bob)
        assert item["name"] == "Bob Builder", item
        assert sorted(item["groups"]) == ["Friends", "Work"], item
        assert item["subscription"] in NONE, item
        assert item["ask"] is None, item
        assert ver is not None, "pushes carry the new roster version (RFC 6121 2.6.3)"
        items = await _roster_is(c, [bob])
        assert items[bob]["name"] == "Bob Builder", items
        assert sorted(items[bob]["groups"]) == ["Friends", "Work"], items
        assert items[bob]["subscription"] in NONE, items
    finally:
        await c.close()


async def test_update_replaces_name_and_groups(server):
    """RFC 6121 2.4: an update sends the whole item, and the stored item is
    replaced by it (groups left out are gone, a name left out is gone)."""
    a = server.account("alice")
    bob = f"bob-{_uid()}@{server.host}"
    c = await login_im(server, a, "desk")
    try:
        await roster_set(c, bob, name="Bob", groups=["Friends", "Work"])
        await wait_push(c, bob, name="Bob")
        await roster_set(c, bob, name="Robert", groups=["Colleagues"])
        item, _ = await wait_push(c, bob, name="Robert")
        assert item["groups"] == ["Colleagues"], item
        items = await _roster_is(c, [bob])
        assert items[bob]["name"] == "Robert" and items[bob]["groups"] == ["Colleagues"], items
        await roster_set(c, bob)
        item, _ = await wait_push(c, bob, name=None)
        assert item["groups"] == [], item
        items = await _roster_is(c, [bob])
        assert items[bob]["name"] is None and items[bob]["groups"] == [], items
    finally:
        await c.close()


async def test_remove_contact(server):
    a = server.account("alice")
    bob, carol = f"bob-{_uid()}@{server.host}", f"carol-{_uid()}@example.net"
    c = await login_im(server, a, "desk")
    try:
        for jid in (bob, carol):
            await roster_set(c, jid, name=jid.split("@")[0])
            await wait_push(c, jid)
        res = await roster_remove(c, bob)
        assert res["type"] == "result", xml_of(res)
        # RFC 6121 2.5.2: the push says subscription='remove'.
        await wait_push(c, bob, subscription="remove")
        await _roster_is(c, [carol])
        # RFC 6121 2.5.3: removing what is not there is item-not-found.
        _, cond, err = await iq_error(c, _set_payload(roster_item_xml(bob, subscription="remove")))
        assert cond == "item-not-found", xml_of(err)
        await _roster_is(c, [carol])
    finally:
        await c.close()


async def test_pushes_reach_every_interested_resource_only(server):
    """RFC 6121 2.2: pushes go to the resources that requested the roster
    (an "interested resource"), whether or not they sent presence, and not
    to a resource that never asked for it."""
    a = server.account("alice")
    bob = f"bob-{_uid()}@{server.host}"
    desk = await login_im(server, a, "desk")                          # roster + presence
    quiet = await login_im(server, a, "quiet", presence=False)        # roster, no presence
    bot = await login_im(server, a, "bot", roster=False)              # presence, no roster
    try:
        await roster_set(desk, bob, name="Bob", groups=["Friends"])
        for c in (desk, quiet):
            item, _ = await wait_push(c, bob, name="Bob")
            assert item["groups"] == ["Friends"], item
        # Every push is addressed to the full JID of the resource.
        await roster_remove(quiet, bob)
        for c in (desk, quiet):
            await wait_push(c, bob, subscription="remove")
        await settle([desk, quiet], bot)
        got = bot.roster_pushes.matching()
        assert got == [], f"a resource that never asked for the roster got pushes: " \
                          f"{[xml_of(i) for i in got]}"
    finally:
        await close_all(desk, quiet, bot)


async def test_push_is_addressed_to_the_resource(server):
    a = server.account("alice")
    bob = f"bob-{_uid()}@{server.host}"
    c = await login_im(server, a, "desk")
    try:
        await roster_set(c, bob)
        iq = await c.roster_pushes.wait()
        push_of(iq, a.jid)      # one item, from the account itself or from nobody
        # RFC 6120 8.1.1.1: a server-generated stanza on the client's stream
        # may leave 'to' out; if present it is the resource's full JID.
        assert iq.xml.get("to") in (None, c.boundjid.full), xml_of(iq)
        assert iq.xml.get("type") == "set" and iq.xml.get("id"), xml_of(iq)
    finally:
        await c.close()


# ---------------------------------------------------------------------------
# Versioning (RFC 6121 2.6)

async def test_versioning_current_version_gets_empty_result(server):
    a = server.account("alice")
    bob = f"bob-{_uid()}@{server.host}"
    desk = await login_im(server, a, "desk")
    laptop = None
    try:
        await roster_set(desk, bob, name="Bob")
        _, push_ver = await wait_push(desk, bob)
        full = await roster_get(desk, ver="")
        assert full.ver, f"no version on the roster: {full}"
        # The push told the version the roster is now at.
        assert push_ver == full.ver, (push_ver, full.ver)
        # A device that cached this version logs in: nothing to send
        # (2.6.3: SHOULD answer with an empty result; no pushes follow).
        laptop = await login_im(server, a, "laptop", roster=False)
        up_to_date = await roster_get(laptop, ver=full.ver)
        assert up_to_date is None, \
            f"client's version is current, expected an empty result, got {up_to_date}"
        await settle([desk, laptop], laptop)
        assert laptop.roster_pushes.matching() == [], \
            [xml_of(i) for i in laptop.roster_pushes.matching()]
    finally:
        await close_all(desk, laptop)


async def test_versioning_stale_version_brings_client_up_to_date(server):
    """RFC 6121 2.6.3: for an outdated version the server sends either the
    complete roster with the latest version, or an empty result and then
    the changes as pushes. Either way the client ends up with the current
    roster."""
    a = server.account("alice")
    bob, carol = f"bob-{_uid()}@{server.host}", f"carol-{_uid()}@{server.host}"
    desk = await login_im(server, a, "desk")
    laptop = None
    try:
        await roster_set(desk, bob, name="Bob")
        await wait_push(desk, bob)
        old = await roster_get(desk, ver="")
        # Changes made while the laptop was away.
        await roster_set(desk, carol, name="Carol", groups=["Work"])
        await wait_push(desk, carol)
        await roster_remove(desk, bob)
        await wait_push(desk, bob, subscription="remove")
        now = await roster_get(desk, ver="")
        assert now.ver != old.ver, f"version did not change: {old.ver!r}"

        laptop = await login_im(server, a, "laptop", roster=False)
        res = await roster_get(laptop, ver=old.ver)
        if res is not None:
            assert res.ver == now.ver, (res.ver, now.ver)
            assert res.items == now.items, (res.items, now.items)
        else:
            cached = dict(old.items)
            ver = old.ver
            while ver != now.ver:
                iq = await laptop.roster_pushes.wait(
                    what="roster push bringing the cached roster up to date")
                jid, item, ver = push_of(iq, a.jid)
                assert ver is not None, f"push without a version: {xml_of(iq)}"
                if item["subscription"] == "remove":
                    cached.pop(jid, None)
                else:
                    cached[jid] = item
            assert cached == now.items, (cached, now.items)
    finally:
        await close_all(desk, laptop)


async def test_versioning_unknown_version_gets_complete_roster(server):
    a = server.account("alice")
    bob = f"bob-{_uid()}@{server.host}"
    c = await login_im(server, a, "desk")
    try:
        await roster_set(c, bob, name="Bob")
        await wait_push(c, bob)
        res = await roster_get(c, ver="no-such-version-" + _uid())
        assert res is not None, "an unknown version must get the complete roster"
        assert set(res.items) == {bob} and res.ver, res
    finally:
        await c.close()


async def test_subscription_changes_move_the_version(server):
    """The version covers the whole roster, subscription states included:
    when Bob approves Alice, her push carries a new version, and a device
    that cached the old one learns the new state."""
    alice, bob = server.account("alice"), server.account("bob")
    desk = await login_im(server, alice, "desk")
    b1 = await login_im(server, bob, "work")
    laptop = None
    try:
        await roster_set(desk, bob.jid, name="Bob")
        await wait_push(desk, bob.jid, name="Bob")
        old = await roster_get(desk, ver="")
        desk.send_presence(pto=bob.jid, ptype="subscribe")
        await b1.presence_box.wait(lambda p: p.xml.get("type") == "subscribe")
        b1.send_presence(pto=alice.jid, ptype="subscribed")
        _, ver = await wait_push(desk, bob.jid, subscription="to", ask=None)
        assert ver is not None and ver != old.ver, (old.ver, ver)
        laptop = await login_im(server, alice, "laptop", roster=False)
        res = await roster_get(laptop, ver=old.ver)
        if res is not None:
            item = res.items[bob.jid]
        else:
            item, _ = await wait_push(laptop, bob.jid, subscription="to")
        assert item["subscription"] == "to" and item["name"] == "Bob", item
    finally:
        await close_all(desk, b1, laptop)


async def test_jids_are_compared_in_canonical_form(server):
    """RFC 7622: BOB@LOCALHOST and bob@localhost are the same contact; the
    roster holds the canonical form."""
    a = server.account("alice")
    user = f"bob-{_uid()}"
    canonical = f"{user}@{server.host}"
    c = await login_im(server, a, "desk")
    try:
        await roster_set(c, f"{user.upper()}@{server.host.upper()}", name="Shouting")
        await wait_push(c, canonical, name="Shouting")
        await roster_set(c, f"{user.capitalize()}@{server.host}", name="Bob")
        await wait_push(c, canonical, name="Bob")
        items = await _roster_is(c, [canonical])
        assert items[canonical]["name"] == "Bob", items
        await roster_remove(c, canonical.upper())
        await wait_push(c, canonical, subscription="remove")
        await _roster_is(c, [])
    finally:
        await c.close()


# ---------------------------------------------------------------------------
# Refused roster sets (RFC 6121 2.3.3, 2.4.3; RFC 6120 8.3.3)

async def test_item_with_invalid_jid_is_refused(server):
    a = server.account("alice")
    c = await login_im(server, a, "desk")
    try:
        host = server.host
        for bad in ("", "@" + host, "user@", "a@b@" + host, host + "/",
                    "x" * 1100 + "@" + host):
            _, cond, err = await iq_error(c, _set_payload(f"<item jid='{bad}'/>"))
            assert cond in ("jid-malformed", "bad-request"), f"jid={bad!r}: {xml_of(err)}"
        _, cond, err = await iq_error(c, _set_payload("<item name='no jid'/>"))
        assert cond in ("bad-request", "jid-malformed"), xml_of(err)
        await _roster_is(c, [])
    finally:
        await c.close()


async def test_more_than_one_item_is_bad_request(server):
    a = server.account("alice")
    bob, carol = f"bob-{_uid()}@{server.host}", f"carol-{_uid()}@{server.host}"
    c = await login_im(server, a, "desk")
    try:
        err_type, cond, err = await iq_error(
            c, _set_payload(roster_item_xml(bob), roster_item_xml(carol)))
        assert (err_type, cond) == ("modify", "bad-request"), xml_of(err)
        await _roster_is(c, [])
    finally:
        await c.close()


async def test_duplicate_or_empty_group_is_refused(server):
    a = server.account("alice")
    bob = f"bob-{_uid()}@{server.host}"
    c = await login_im(server, a, "desk")
    try:
        _, cond, err = await iq_error(
            c, _set_payload(roster_item_xml(bob, groups=["Friends", "Friends"])))
        assert cond == "bad-request", f"duplicate group: {xml_of(err)}"
        _, cond, err = await iq_error(c, _set_payload(roster_item_xml(bob, groups=[""])))
        assert cond == "not-acceptable", f"empty group: {xml_of(err)}"
        await _roster_is(c, [])
    finally:
        await c.close()


async def test_name_and_group_length_limit(server):
    """RFC 6121 2.3.3: a name or group longer than the server's limit is
    not-acceptable. Canto's limit is 1023 bytes (UTF-8), for both."""
    a = server.account("alice")
    bob = f"bob-{_uid()}@{server.host}"
    c = await login_im(server, a, "desk")
    try:
        longest = "n" * 1023
        longest_utf8 = "\u00e9" * 511 + "n"          # 1023 bytes
        too_long = "n" * 1024
        too_long_utf8 = "\u00e9" * 512               # 512 characters, 1024 bytes
        for name in (longest, longest_utf8):
            await roster_set(c, bob, name=name)
            await wait_push(c, bob, name=name)
        for group in (longest, longest_utf8):
            await roster_set(c, bob, groups=[group])
            await wait_push(c, bob, groups=[group])
        for name in (too_long, too_long_utf8):
            _, cond, err = await iq_error(c, _set_payload(roster_item_xml(bob, name=name)))
            assert cond in ("not-acceptable", "bad-request"), \
                f"name of {len(name.encode())} bytes: {xml_of(err)[:400]}"
        for group in (too_long, too_long_utf8):
            _, cond, err = await iq_error(c, _set_payload(roster_item_xml(bob, groups=[group])))
            assert cond in ("not-acceptable", "bad-request"), \
                f"group of {len(group.encode())} bytes: {xml_of(err)[:400]}"
        items = await _roster_is(c, [bob])
        assert items[bob]["groups"] == [longest_utf8], "a refused set changed the item"
    finally:
        await c.close()


async def test_subscription_attribute_in_a_set_is_ignored(server):
    """RFC 6121 2.1.2.5: in a roster set the server ignores every
    'subscription' value except "remove": a client cannot grant itself a
    subscription by writing its roster."""
    a = server.account("alice")
    bob = server.account("bob")
    c = await login_im(server, a, "desk")
    try:
        await roster_set(c, bob.jid, name="Bob", subscription="both")
        item, _ = await wait_push(c, bob.jid, name="Bob")
        assert item["subscription"] in NONE, item
        for sub in ("to", "from", "none"):
            await roster_set(c, bob.jid, name="Bob " + sub, subscription=sub)
            item, _ = await wait_push(c, bob.jid, name="Bob " + sub)
            assert item["subscription"] in NONE, f"set with subscription={sub!r}: {item}"
        items = await _roster_is(c, [bob.jid])
        assert items[bob.jid]["subscription"] in NONE, items
    finally:
        await c.close()


async def test_nobody_edits_another_users_roster(server):
    """RFC 6121 2.3.3: a roster set from anyone but the account itself is
    forbidden. Alice addresses roster sets to Bob's bare JID."""
    a, b = server.account("alice"), server.account("bob")
    carol = f"carol-{_uid()}@{server.host}"
    ca = await login_im(server, a, "desk")
    cb = await login_im(server, b, "phone")
    try:
        _, cond, err = await iq_error(ca, _set_payload(roster_item_xml(carol, name="x")),
                                      to=b.jid)
        assert cond == "forbidden", xml_of(err)
        _, cond, err = await iq_error(
            ca, _set_payload(roster_item_xml(carol, subscription="remove")), to=b.jid)
        assert cond == "forbidden", xml_of(err)
        await settle(ca, cb)
        assert cb.roster_pushes.matching() == [], \
            [xml_of(i) for i in cb.roster_pushes.matching()]
        await _roster_is(cb, [])
        await _roster_is(ca, [])
        # Addressed to her own bare JID, the same set is hers to make.
        await send_iq(ca, _set_payload(roster_item_xml(carol, name="Carol")),
                      type="set", to=a.jid)
        await wait_push(ca, carol, name="Carol")
    finally:
        await close_all(ca, cb)


async def test_own_jid_cannot_be_a_contact(server):
    a = server.account("alice")
    c = await login_im(server, a, "desk")
    try:
        for jid in (a.jid, a.jid.upper()):
            _, cond, err = await iq_error(c, _set_payload(roster_item_xml(jid, name="me")))
            assert cond is not None, xml_of(err)
        await _roster_is(c, [])
    finally:
        await c.close()


# ---------------------------------------------------------------------------
# Durability

async def test_roster_survives_restart():
    with harness.Server() as server:
        a, b = server.account("alice"), server.account("bob")
        remote = f"dave-{_uid()}@example.net"
        c = await login_im(server, a, "desk")
        try:
            await roster_set(c, b.jid, name="Bob \u00e9\u00e8 <&>", groups=["Friends", "Work"])
            await wait_push(c, b.jid)
            await roster_set(c, remote, groups=["Far away"])
            await wait_push(c, remote)
            before = await roster_get(c, ver="")
        finally:
            await c.close()
        server.restart()
        c = await login_im(server, a, "laptop")
        try:
            after = await roster_get(c, ver="")
            assert after.items == before.items, (before.items, after.items)
            item = after.items[b.jid]
            assert item["name"] == "Bob \u00e9\u00e8 <&>", item
            assert sorted(item["groups"]) == ["Friends", "Work"], item
            # The version cached before the restart is either still known
            # (nothing changed: an empty result) or not (complete roster).
            res = await roster_get(c, ver=before.ver)
            assert res is None or res.items == before.items, res
        finally:
            await c.close()


if __name__ == "__main__":
    harness.main(globals())
