"""libstrophe (Debian 0.12.2, the C client library) against cantod.

strophe_client.c (built by CMake into the build directory) logs in, sends a
chat message and can wait for a reply; it prints what happened, one fact per
line (see its header). libstrophe 0.12.2 knows SCRAM-SHA-1/256/512, DIGEST-MD5
and PLAIN, but no -PLUS variant and no channel binding: it ignores the
SCRAM-*-PLUS offers, picks SCRAM-SHA-512 and sends the gs2 header "n,,", which
a server offering -PLUS must accept (the client simply does not support
channel binding). After a SASL failure it tries SCRAM-SHA-256, then
SCRAM-SHA-1, then gives up (three failures, under cantod's limit of five).
"""

import asyncio
import base64
import os
import re
import subprocess
import tempfile
import uuid

import harness
from clients import close_all, login, xml_of

HERE = os.path.dirname(os.path.abspath(__file__))


def _binary():
    """$CANTO_BUILD_DIR/strophe_client, else ../../build/strophe_client,
    else a copy compiled now (for running this file by hand)."""
    for d in (os.environ.get("CANTO_BUILD_DIR"),
              os.path.join(HERE, "..", "..", "build")):
        if d and os.access(os.path.join(d, "strophe_client"), os.X_OK):
            return os.path.join(d, "strophe_client")
    out = os.path.join(tempfile.mkdtemp(prefix="canto-strophe-"), "strophe_client")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libstrophe"],
                           check=True, capture_output=True, text=True).stdout.split()
    subprocess.run(["cc", "-O1", "-o", out, os.path.join(HERE, "strophe_client.c"),
                    *flags], check=True)
    return out


STROPHE = _binary()


class Run:
    def __init__(self, status, out, err):
        self.status, self.out, self.err = status, out, err
        self.lines = out.splitlines()

    def values(self, key):
        return [l.split(" ", 1)[1] if " " in l else "" for l in self.lines
                if l == key or l.startswith(key + " ")]

    def __str__(self):
        tail = "\n".join(self.err.splitlines()[-40:])
        return f"exit {self.status}\n--- stdout\n{self.out}--- stderr (tail)\n{tail}"


async def _strophe(server, jid, password, mode="starttls", to=None, body=None,
                   wait=False):
    port = server.ports["direct" if mode == "direct" else "required"]
    args = [STROPHE, jid, password, "127.0.0.1", str(port), mode]
    if to:
        args += [to, body]
        if wait:
            args.append("wait")
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "STROPHE_TIMEOUT": "25"})
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 40)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"strophe_client hung: {args}")
    return Run(proc.returncode, out.decode(errors="replace"),
               err.decode(errors="replace"))


async def _send_to_slixmpp(server, mode):
    sender, rcpt = server.account("strophe"), server.account("bob")
    cb = await login(server, rcpt, resource="phone")
    try:
        text = f"from libstrophe over {mode} {uuid.uuid4().hex[:8]}"
        run = await _strophe(server, sender.jid, sender.password, mode,
                             rcpt.jid, text)
        assert run.status == 0, str(run)
        assert run.values("SECURED") == ["1"], str(run)
        assert run.values("MECHANISM") == ["SCRAM-SHA-512"], str(run)
        assert run.values("AUTH-ATTEMPT") == ["SCRAM-SHA-512"], str(run)
        bound = run.values("CONNECTED")
        assert len(bound) == 1 and bound[0].startswith(sender.jid + "/"), str(run)
        assert run.values("DELIVERED") == [""], str(run)
        msg = await cb.next_message()
        assert msg["body"] == text, xml_of(msg)
        assert msg["from"].full == bound[0], (msg["from"], bound)
        assert msg["type"] == "chat", xml_of(msg)
    finally:
        await close_all(cb)
    # The gs2 header libstrophe sent, from its debug log: "n,," (no
    # channel binding support claimed).
    m = re.search(r"SENT: <auth [^>]*>([A-Za-z0-9+/=]+)</auth>", run.err)
    assert m, "no <auth/> in libstrophe's debug log"
    client_first = base64.b64decode(m.group(1)).decode()
    assert client_first.startswith("n,,n="), client_first


async def test_strophe_starttls_sends_message(server):
    await _send_to_slixmpp(server, "starttls")


async def test_strophe_direct_tls_sends_message(server):
    await _send_to_slixmpp(server, "direct")


async def test_strophe_receives_reply(server):
    """A conversation: libstrophe writes, the slixmpp user answers to the
    full JID it came from, libstrophe gets the answer."""
    sender, rcpt = server.account("strophe"), server.account("bob")
    cb = await login(server, rcpt, resource="phone")
    try:
        task = asyncio.ensure_future(
            _strophe(server, sender.jid, sender.password, "starttls",
                     rcpt.jid, "ping?", wait=True))
        msg = await cb.next_message(timeout=30)
        assert msg["body"] == "ping?", xml_of(msg)
        cb.send_message(mto=msg["from"].full, mbody="pong!", mtype="chat")
        run = await task
        assert run.status == 0, str(run)
        received = run.values("RECEIVED")
        assert received == [f"{cb.boundjid.full} pong!"], str(run)
    finally:
        await close_all(cb)


async def test_strophe_wrong_password_fails(server):
    sender = server.account("strophe")
    run = await _strophe(server, sender.jid, "wrong-" + sender.password)
    assert run.status == 2, str(run)
    assert run.values("CONNECTED") == [], str(run)
    assert run.values("MECHANISM") == [], str(run)
    failures = run.values("SASL-FAILURE")
    assert failures and all(f == "not-authorized" for f in failures), str(run)


async def test_strophe_unknown_user_fails_the_same_way(server):
    jid = f"nobody{uuid.uuid4().hex[:6]}@{server.host}"
    run = await _strophe(server, jid, "whatever")
    assert run.status == 2, str(run)
    failures = run.values("SASL-FAILURE")
    assert failures and all(f == "not-authorized" for f in failures), str(run)


if __name__ == "__main__":
    harness.main(globals())
