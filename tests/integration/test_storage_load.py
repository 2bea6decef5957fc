"""What stanzas to offline and to nonexistent accounts cost in storage,
counted from what the server really asks of its storage.

At debug level (the harness's default) the storage layer logs every request
it is given, with its operation and owner:

    storage: request kv.list localhost/bob123

so a test can take the log before and after something happens and count
the requests made for a given account. An account's block list is one
kv.list (up to 512 entries); its roster is a kv.get (the version) and a
kv.list per 512 items. A ping round trip is the barrier that
makes "after" exact: the server answers a ping only once every storage
request queued before it, and what their callbacks queued, has completed.

Why it matters: before the per-account state facility (docs/internals/
accounts.md), any stanza to an offline account loaded its whole roster and
block list and threw them away after one use (one presence change by a user
with five offline contacts cost twenty reads, every time), and a stanza to
an account that does not exist cost four reads and a write attempt; with
federation that is a way for remote servers to load the database. Now a
stanza reads only what it needs, once, and the answer stays cached within
limits.cached_accounts.
"""

import re

import harness
from clients import (close_all, login_im, subscribe_and_approve, wait_presence)

REQUEST = re.compile(r"storage: request (\S+) ([^/\s]+)/(\S+)")


def requests_since(server, start, users):
    """(operation, user) of every storage request logged since log offset
    `start` for one of `users` (localparts)."""
    found = []
    for line in server.log_text(start).splitlines():
        m = REQUEST.search(line)
        if m and m.group(3) in users:
            found.append((m.group(1), m.group(3)))
    return found


def kinds(requests):
    counts = {}
    for op, _user in requests:
        counts[op] = counts.get(op, 0) + 1
    return counts


async def _five_followers(server):
    """Alice and five contacts that each follow her (her roster: 'from'),
    all offline afterwards."""
    alice = server.account("alice")
    followers = [server.account(f"fan{i}") for i in range(5)]
    a = await login_im(server, alice, "setup")
    try:
        for f in followers:
            c = await login_im(server, f, "setup")
            try:
                await subscribe_and_approve(c, a)
            finally:
                await close_all(c)
    finally:
        await close_all(a)
    return alice, followers


async def _measure(server, alice, followers, presence_changes):
    """Alice logs in (initial presence to her five offline followers), then
    changes her presence `presence_changes` times. Returns the requests for
    the followers made by each of those broadcasts, initial one first."""
    users = {f.user for f in followers}
    start = server.log_size()
    a = await login_im(server, alice, "desk", status="hello")
    per_broadcast = []
    try:
        await a.sync()
        per_broadcast.append(requests_since(server, start, users))
        for i in range(presence_changes):
            start = server.log_size()
            a.send_presence(pstatus=f"status {i}")
            await a.sync()
            per_broadcast.append(requests_since(server, start, users))
    finally:
        await close_all(a)
    return per_broadcast


async def test_presence_to_offline_contacts_reads_little_and_once(server):
    """A broadcast to five offline contacts reads, for each, whether the
    account exists and its block list (the blocking filter needs it), not
    its roster (no kv.get of its version, no second kv.list), and writes
    nothing; the next broadcast reads nothing."""
    alice, followers = await _five_followers(server)
    server.restart()     # nothing of theirs in memory
    first, second, third = await _measure(server, alice, followers, 2)
    assert kinds(first) == {"accounts.exists": 5, "kv.list": 5}, kinds(first)
    assert second == [], f"the second broadcast read again: {kinds(second)}"
    assert third == [], f"the third broadcast read again: {kinds(third)}"


async def test_messages_to_a_nonexistent_account_touch_no_roster(server):
    """RFC 6121 8.5.1: a message to an account that does not exist gets
    service-unavailable. Knowing that costs one read the first time and
    nothing after; no roster or block list is read, and no write (offline
    storage) is attempted."""
    alice = server.account("alice")
    nobody = f"nobody{alice.user}"
    a = await login_im(server, alice, "desk")
    try:
        start = server.log_size()
        for i in range(3):
            a.send_message(mto=f"{nobody}@{server.host}", mbody=f"anyone? {i}", mtype="chat")
            err = await a.message_box.wait(
                lambda m: m["type"] == "error" and m["from"].bare == f"{nobody}@{server.host}"
                and m["error"]["condition"] == "service-unavailable",
                what=f"service-unavailable for message {i}")
            a.message_box.clear()
        await a.sync()
        requests = requests_since(server, start, {nobody})
        assert kinds(requests) == {"accounts.exists": 1}, kinds(requests)
    finally:
        await close_all(a)


async def test_the_cache_of_offline_accounts_is_bounded(server):
    """limits.cached_accounts bounds what stays in memory for accounts with
    no session: with room for two, five offline contacts cannot all stay
    cached, so a repeated broadcast reads again (and still reads no
    roster)."""
    with harness.Server(limits={"cached_accounts": 2}) as small:
        alice, followers = await _five_followers(small)
        small.restart()
        first, second = await _measure(small, alice, followers, 1)
        assert kinds(first) == {"accounts.exists": 5, "kv.list": 5}, kinds(first)
        reread = {user for _op, user in second}
        assert len(reread) >= 3, kinds(second)
        # Existence and block list again for each, never a roster.
        assert kinds(second) == {"accounts.exists": len(reread), "kv.list": len(reread)}, \
            kinds(second)


if __name__ == "__main__":
    harness.main(globals())
