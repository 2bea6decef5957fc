"""The user directory (XEP-0055 on users.<host>) with real clients.

A user puts herself in the directory by registering an entry with the
directory service (XEP-0077 to users.localhost: nick, first, last, email),
reads it back, changes it and takes it out again. Other users of the host
find her by any of those fields (case-insensitive substrings), in the
legacy format or as a data form, whichever they asked in. Nobody who did not
opt in is ever found, searches from other domains are refused, results are
capped, and the service is listed in the host's disco#items.
"""

import asyncio
import os
import sys
import uuid
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from clients import IqError, close_all, error_condition, login, xml_of  # noqa: E402
from rawxmpp import login as raw_login  # noqa: E402

NS_SEARCH = "jabber:iq:search"
NS_REGISTER = "jabber:iq:register"
NS_XDATA = "jabber:x:data"
FIELDS = ("first", "last", "nick", "email")


def tag():
    return uuid.uuid4().hex[:8]


def directory_of(server, host=None):
    return f"users.{host or server.host}"


def _q(tag_, ns):
    return f"{{{ns}}}{tag_}"


async def ask(client, to, type_, payload):
    """Send an iq with a raw XML payload; return the result iq (raises
    IqError on an error)."""
    iq = client.make_iq(ito=to, itype=type_)
    iq.set_payload(ET.fromstring(payload))
    return await iq.send(timeout=15)


async def ask_error(client, to, type_, payload):
    """The (type, condition, text) of the error the iq must get."""
    try:
        res = await ask(client, to, type_, payload)
    except IqError as e:
        kind, cond = error_condition(e.iq)
        return kind, cond, e.iq["error"]["text"]
    raise AssertionError(f"expected an error, got {xml_of(res)}")


def legacy(ns, **fields):
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
    return f"<query xmlns='{ns}'>{inner}</query>"


def form(ns, form_type, **fields):
    inner = "".join(f"<field var='{k}'><value>{v}</value></field>" for k, v in fields.items())
    return (f"<query xmlns='{ns}'><x xmlns='{NS_XDATA}' type='submit'>"
            f"<field type='hidden' var='FORM_TYPE'><value>{form_type}</value></field>"
            f"{inner}</x></query>")


async def opt_in(client, server, **fields):
    """Register a directory entry, as a client does with XEP-0077."""
    iq = client.make_iq_set(ito=directory_of(server))
    for k, v in fields.items():
        iq["register"][k] = v
    return await iq.send(timeout=15)


async def search(client, server, **criteria):
    """Legacy search: {jid: {field: value}} of the <item/>s, in order."""
    res = await ask(client, directory_of(server), "set", legacy(NS_SEARCH, **criteria))
    query = res.xml.find(_q("query", NS_SEARCH))
    assert query is not None, xml_of(res)
    assert query.find(_q("x", NS_XDATA)) is None, f"legacy request, form answer: {xml_of(res)}"
    return {item.get("jid"): {f: item.findtext(_q(f, NS_SEARCH)) or "" for f in FIELDS}
            for item in query.findall(_q("item", NS_SEARCH))}


def register_plugins(*clients_):
    for c in clients_:
        c.register_plugin("xep_0077")


# ---------------------------------------------------------------------------

async def test_host_lists_the_directory(server):
    c = await login(server, server.account())
    try:
        items = await c["xep_0030"].get_items(jid=server.host)
        found = [(i[0], i[2]) for i in items["disco_items"]["items"]]
        assert (directory_of(server), "User directory") in found, xml_of(items)
        info = await c["xep_0030"].get_info(jid=directory_of(server))
        identities = info["disco_info"]["identities"]
        assert any(i[0] == "directory" and i[1] == "user" for i in identities), xml_of(info)
        features = info["disco_info"]["features"]
        for feature in (NS_SEARCH, NS_REGISTER):
            assert feature in features, xml_of(info)
    finally:
        await c.close()


async def test_opt_in_then_found_by_each_field(server):
    t = tag()
    alice, bob = server.account("alice"), server.account("bob")
    ca = await login(server, alice)
    cb = await login(server, bob)
    try:
        register_plugins(ca)
        await opt_in(ca, server, nick=f"Ali{t}", first="Alicia", last=f"Zed{t}",
                     email=f"alice.{t}@Example.com")
        want = {"first": "Alicia", "last": f"Zed{t}", "nick": f"Ali{t}",
                "email": f"alice.{t}@Example.com"}
        for criteria in ({"nick": t.upper()},             # substring, any case
                         {"last": f"zed{t}"},
                         {"first": "ALIC", "last": t},    # every field given must match
                         {"email": f"{t}@example.COM"}):
            found = await search(cb, server, **criteria)
            assert found == {alice.jid: want}, (criteria, found)
        assert await search(cb, server, first="Bob", last=t) == {}
    finally:
        await close_all(ca, cb)


async def test_never_found_without_opting_in(server):
    t = tag()
    carol, dave = server.account("carol" + t), server.account("dave")
    cc = await login(server, carol)
    cd = await login(server, dave)
    try:
        for criteria in ({"nick": carol.user}, {"email": carol.user}, {"first": t},
                         {"email": "@"}):
            found = await search(cd, server, **criteria)
            assert carol.jid not in found, (criteria, found)
    finally:
        await close_all(cc, cd)


async def test_entry_read_back_changed_and_removed(server):
    t = tag()
    erin, frank = server.account("erin"), server.account("frank")
    ce = await login(server, erin)
    cf = await login(server, frank)
    try:
        register_plugins(ce)
        res = await ce["xep_0077"].get_registration(jid=directory_of(server))
        assert not res["register"]["registered"], xml_of(res)

        await opt_in(ce, server, nick=f"erin{t}", email=f"erin{t}@example.org")
        res = await ce["xep_0077"].get_registration(jid=directory_of(server))
        reg = res["register"]
        assert reg["registered"], xml_of(res)
        assert reg["nick"] == f"erin{t}" and reg["email"] == f"erin{t}@example.org", xml_of(res)
        assert reg["first"] == "" and reg["last"] == "", xml_of(res)
        x = res.xml.find(f"{_q('query', NS_REGISTER)}/{_q('x', NS_XDATA)}")
        values = {f.get("var"): f.findtext(_q("value", NS_XDATA)) for f in x}
        assert values["nick"] == f"erin{t}" and values["FORM_TYPE"] == NS_REGISTER, xml_of(res)

        # Registering again replaces the entry (by data form this time).
        await ask(ce, directory_of(server), "set",
                  form(NS_REGISTER, NS_REGISTER, first="Erin", last=f"Q{t}"))
        assert await search(cf, server, nick=t) == {}
        found = await search(cf, server, last=f"q{t}")
        assert found == {erin.jid: {"first": "Erin", "last": f"Q{t}", "nick": "",
                                    "email": ""}}, found

        # Leaving the directory.
        await ce["xep_0077"].cancel_registration(jid=directory_of(server))
        assert await search(cf, server, last=f"q{t}") == {}
        res = await ce["xep_0077"].get_registration(jid=directory_of(server))
        assert not res["register"]["registered"], xml_of(res)
        kind, cond, _ = await ask_error(ce, directory_of(server), "set",
                                        f"<query xmlns='{NS_REGISTER}'><remove/></query>")
        assert cond == "registration-required", (kind, cond)
        # An entry needs something in it.
        kind, cond, text = await ask_error(ce, directory_of(server), "set",
                                           legacy(NS_REGISTER, nick="  "))
        assert (kind, cond) == ("modify", "not-acceptable") and text, (kind, cond, text)
    finally:
        await close_all(ce, cf)


async def test_search_form_and_result_form(server):
    t = tag()
    gina, hugo = server.account("gina"), server.account("hugo")
    cg = await login(server, gina)
    ch = await login(server, hugo)
    try:
        register_plugins(cg)
        await opt_in(cg, server, first="Gina", last=f"Form{t}", nick=f"g{t}")
        res = await ask(ch, directory_of(server), "get", f"<query xmlns='{NS_SEARCH}'/>")
        query = res.xml.find(_q("query", NS_SEARCH))
        assert query.findtext(_q("instructions", NS_SEARCH)), xml_of(res)
        for f in FIELDS:
            assert query.find(_q(f, NS_SEARCH)) is not None, xml_of(res)
        x = query.find(_q("x", NS_XDATA))
        assert x is not None and x.get("type") == "form", xml_of(res)
        vars_ = [f.get("var") for f in x.findall(_q("field", NS_XDATA))]
        assert vars_ == ["FORM_TYPE", *FIELDS], vars_

        res = await ask(ch, directory_of(server), "set", form(NS_SEARCH, NS_SEARCH, last=f"form{t}"))
        x = res.xml.find(f"{_q('query', NS_SEARCH)}/{_q('x', NS_XDATA)}")
        assert x is not None and x.get("type") == "result", xml_of(res)
        reported = [f.get("var") for f in x.find(_q("reported", NS_XDATA))]
        assert reported == ["jid", *FIELDS], reported
        items = [{f.get("var"): f.findtext(_q("value", NS_XDATA)) or ""
                  for f in item.findall(_q("field", NS_XDATA))}
                 for item in x.findall(_q("item", NS_XDATA))]
        assert items == [{"jid": gina.jid, "first": "Gina", "last": f"Form{t}",
                          "nick": f"g{t}", "email": ""}], items
        assert res.xml.find(f"{_q('query', NS_SEARCH)}/{_q('item', NS_SEARCH)}") is None
    finally:
        await close_all(cg, ch)


async def test_search_needs_a_field(server):
    c = await login(server, server.account())
    try:
        for payload in (f"<query xmlns='{NS_SEARCH}'/>", legacy(NS_SEARCH, nick=" "),
                        form(NS_SEARCH, NS_SEARCH, first="")):
            kind, cond, text = await ask_error(c, directory_of(server), "set", payload)
            assert (kind, cond) == ("modify", "not-acceptable") and text, (payload, kind, cond)
    finally:
        await c.close()


async def test_results_are_capped(server):
    """More matching entries than one answer holds: 50 come back."""
    t = tag()
    accounts = [server.account("many") for _ in range(53)]

    async def enter(acct):
        c = await raw_login(server, acct)
        try:
            res = await c.iq(legacy(NS_REGISTER, nick=f"many{t}"), type="set",
                             to=directory_of(server))
            assert res.get("type") == "result"
        finally:
            await c.close()

    for i in range(0, len(accounts), 10):
        await asyncio.gather(*(enter(a) for a in accounts[i:i + 10]))
    c = await login(server, server.account())
    try:
        found = await search(c, server, nick=f"many{t}")
        assert len(found) == 50, len(found)
        assert all(j in {a.jid for a in accounts} for j in found), found
    finally:
        await c.close()


async def test_entries_across_pages_are_found_whole(server):
    """A search reads the directory a page at a time (256 fields); entries of
    one to four fields put page ends inside entries. Every entry with both
    fields asked for is found, once, with all its fields."""
    t = tag()
    accounts = [server.account("pg") for _ in range(120)]
    entries = {}
    for i, acct in enumerate(accounts):
        fields = {"nick": f"pg{t}n{i}"}
        if i % 3:
            fields["first"] = f"F{t}"
        if i % 2 == 0:
            fields["last"] = f"L{t}"
        if i % 5 == 0:
            fields["email"] = f"pg{i}.{t}@example.com"
        entries[acct.jid] = fields

    async def enter(acct):
        c = await raw_login(server, acct)
        try:
            res = await c.iq(legacy(NS_REGISTER, **entries[acct.jid]), type="set",
                             to=directory_of(server))
            assert res.get("type") == "result"
        finally:
            await c.close()

    for i in range(0, len(accounts), 10):
        await asyncio.gather(*(enter(a) for a in accounts[i:i + 10]))
    c = await login(server, server.account())
    try:
        found = await search(c, server, first=f"f{t}", last=f"l{t}")
        want = {jid: {f: fields.get(f, "") for f in FIELDS}
                for jid, fields in entries.items() if "first" in fields and "last" in fields}
        assert len(want) == 40
        assert found == want, (len(found), len(want))
    finally:
        await c.close()


async def test_deleted_account_leaves_the_directory(server):
    t = tag()
    ivan, judy = server.account("ivan"), server.account("judy")
    ci = await login(server, ivan)
    cj = await login(server, judy)
    try:
        register_plugins(ci)
        await opt_in(ci, server, nick=f"ivan{t}")
        assert ivan.jid in await search(cj, server, nick=t)
        await ci["xep_0077"].cancel_registration()     # the account itself
        await ci.wait_closed()
        assert await search(cj, server, nick=t) == {}
    finally:
        await close_all(ci, cj)


async def test_other_domains_are_refused():
    with harness.Server(hosts=("localhost", "other.test")) as server:
        local = server.account("local")
        outsider = server.account("outsider", host="other.test")
        cl = await login(server, local)
        co = await login(server, outsider)
        try:
            register_plugins(cl)
            await opt_in(cl, server, nick="visible")
            assert local.jid in await search(cl, server, nick="visible")
            for payload in (legacy(NS_SEARCH, nick="visible"), legacy(NS_REGISTER, nick="x")):
                kind, cond, text = await ask_error(co, directory_of(server), "set", payload)
                assert cond == "forbidden", (kind, cond, text)
            # Each host lists its own directory only.
            items = await co["xep_0030"].get_items(jid="other.test")
            jids = [i[0] for i in items["disco_items"]["items"]]
            assert jids == ["users.other.test"], jids
        finally:
            await close_all(cl, co)


async def test_directory_renamed_or_off_per_host():
    hosts = [{"name": "localhost", "user_directory": "people.localhost"},
             {"name": "other.test", "user_directory": False}]
    with harness.Server(hosts=("localhost", "other.test"), extra={"hosts": hosts}) as server:
        a = server.account("a")
        b = server.account("b", host="other.test")
        ca = await login(server, a)
        cb = await login(server, b)
        try:
            items = await ca["xep_0030"].get_items(jid="localhost")
            assert [i[0] for i in items["disco_items"]["items"]] == ["people.localhost"]
            items = await cb["xep_0030"].get_items(jid="other.test")
            assert len(items["disco_items"]["items"]) == 0, xml_of(items)
            register_plugins(ca)
            iq = ca.make_iq_set(ito="people.localhost")
            iq["register"]["nick"] = "renamed"
            await iq.send(timeout=15)
            res = await ask(ca, "people.localhost", "set", legacy(NS_SEARCH, nick="renamed"))
            assert res.xml.find(f"{_q('query', NS_SEARCH)}/{_q('item', NS_SEARCH)}") \
                .get("jid") == a.jid, xml_of(res)
            kind, cond, _ = await ask_error(ca, "users.localhost", "set",
                                            legacy(NS_SEARCH, nick="renamed"))
            assert cond == "remote-server-not-found", cond
        finally:
            await close_all(ca, cb)


if __name__ == "__main__":
    harness.main(globals())
