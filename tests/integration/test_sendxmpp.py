"""go-sendxmpp (Debian 0.5.6, mattn/go-xmpp) sends to a slixmpp user.

A person scripting notifications runs
    echo text | go-sendxmpp -u me@host -p secret -j 127.0.0.1:5222 -n you@host
(-j names the server, -n accepts the self-signed certificate, STARTTLS by
default, -t for direct TLS). go-xmpp authenticates with PLAIN here: it knows
no SCRAM. The recipient, logged in with slixmpp, must get the text from the
sender's JID; a wrong password must make go-sendxmpp fail.
"""

import asyncio
import os
import shutil
import tempfile
import uuid

import harness
from clients import close_all, login, xml_of

GO_SENDXMPP = shutil.which("go-sendxmpp") or "/usr/bin/go-sendxmpp"


async def _sendxmpp(server, account, to, text, *, direct=False, password=None,
                    extra=()):
    """Run go-sendxmpp with `text` on stdin; return (status, stdout, stderr).
    HOME is a private empty directory so no personal sendxmpprc is read."""
    port = server.ports["direct" if direct else "required"]
    args = [GO_SENDXMPP, "-u", account.jid,
            "-p", password if password is not None else account.password,
            "-j", f"127.0.0.1:{port}", "-n", "--timeout", "20", *extra]
    if direct:
        args.append("-t")
    args.extend([to] if isinstance(to, str) else to)
    home = tempfile.mkdtemp(prefix="canto-gosendxmpp-")
    try:
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env={**os.environ, "HOME": home})
        try:
            out, err = await asyncio.wait_for(proc.communicate(text.encode()), 45)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise AssertionError(f"go-sendxmpp did not finish: {args}")
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    finally:
        shutil.rmtree(home, ignore_errors=True)


async def _send_and_receive(server, direct):
    sender, rcpt = server.account("script"), server.account("bob")
    cb = await login(server, rcpt, resource="phone")
    try:
        text = f"disk almost full ({'direct' if direct else 'starttls'}) {uuid.uuid4().hex[:8]}"
        status, out, err = await _sendxmpp(server, sender, rcpt.jid, text + "\n",
                                           direct=direct)
        assert status == 0, f"go-sendxmpp exited {status}\nstdout: {out}\nstderr: {err}"
        msg = await cb.next_message()
        assert (msg["body"] or "").strip() == text, xml_of(msg)
        assert msg["from"].bare == sender.jid, xml_of(msg)
        assert msg["from"].resource, f"from has no resource: {msg['from']}"
        assert msg["type"] in ("chat", "normal"), xml_of(msg)
    finally:
        await close_all(cb)


async def test_sendxmpp_starttls(server):
    await _send_and_receive(server, direct=False)


async def test_sendxmpp_direct_tls(server):
    await _send_and_receive(server, direct=True)


async def test_sendxmpp_to_several_recipients(server):
    sender = server.account("script")
    r1, r2 = server.account("ops"), server.account("dev")
    c1 = await login(server, r1, resource="a")
    c2 = await login(server, r2, resource="b")
    try:
        # Several recipients are several positional arguments.
        status, out, err = await _sendxmpp(server, sender, [r1.jid, r2.jid],
                                           "to everyone\n")
        assert status == 0, f"go-sendxmpp exited {status}\nstdout: {out}\nstderr: {err}"
        for c in (c1, c2):
            msg = await c.next_message()
            assert (msg["body"] or "").strip() == "to everyone", xml_of(msg)
            assert msg["from"].bare == sender.jid, xml_of(msg)
    finally:
        await close_all(c1, c2)


async def test_sendxmpp_wrong_password_fails(server):
    """Direct TLS and STARTTLS alike: refused at SASL, nothing delivered."""
    sender, rcpt = server.account("script"), server.account("bob")
    cb = await login(server, rcpt, resource="phone")
    try:
        for direct in (False, True):
            status, out, err = await _sendxmpp(server, sender, rcpt.jid,
                                               "should not arrive\n", direct=direct,
                                               password="not-the-password")
            assert status != 0, \
                f"go-sendxmpp exited 0 with a wrong password\n{out}\n{err}"
            # It failed at authentication (go-xmpp: "auth failure: CONDITION").
            assert "auth failure: not-authorized" in err, err
        await cb.sync()
        assert cb.drain() == [], "a message arrived from a failed login"
    finally:
        await close_all(cb)


async def test_sendxmpp_unknown_account_fails(server):
    rcpt = server.account("bob")
    user = "ghost" + uuid.uuid4().hex[:6]
    ghost = harness.Account(user, server.host, f"{user}@{server.host}", "pw")
    status, out, err = await _sendxmpp(server, ghost, rcpt.jid, "boo\n")
    assert status != 0, f"go-sendxmpp exited 0 for an unknown account\n{out}\n{err}"
    assert "auth failure: not-authorized" in err, err


if __name__ == "__main__":
    harness.main(globals())
