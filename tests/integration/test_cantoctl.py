"""cantoctl and `cantod --check`, as an administrator uses them while the
server runs: accounts made, listed, re-passworded and deleted take effect at
the next login without a restart, mistakes are refused with a clear message
and a non-zero status, and configuration errors are reported as FILE:LINE.

cantoctl is run from / (not the server directory) with the absolute config
path, so data_dir must be resolved relative to the config file.
"""

import atexit
import os
import re
import shutil
import subprocess
import tempfile
import uuid

import harness
from clients import login, login_fails


def _ctl(server, *args, input=None, config=None):
    cmd = [harness.CANTOCTL, "--config", config or server.config_path, *args]
    return subprocess.run(cmd, cwd="/", input=input, capture_output=True,
                          text=True, timeout=60)


def _name(prefix):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _acct(server, user, password):
    return harness.Account(user, server.host, f"{user}@{server.host}", password)


async def _can_login(server, account):
    c = await login(server, account, resource="ctl", presence=False)
    assert c.boundjid.bare == account.jid
    await c.close()


async def test_adduser_with_password_argument(server):
    acct = _acct(server, _name("arg"), "s3cret arg")
    r = _ctl(server, "adduser", acct.jid, acct.password)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    await _can_login(server, acct)
    await login_fails(server, acct, password="s3cret")


async def test_adduser_password_from_stdin(server):
    acct = _acct(server, _name("stdin"), "from-stdin-pw")
    r = _ctl(server, "adduser", acct.jid, input=acct.password + "\n")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert acct.password not in r.stdout, "the password was echoed"
    # The newline ends the password; it is not part of it.
    await _can_login(server, acct)


async def test_adduser_bulk_creates_a_numbered_batch(server):
    prefix = _name("bulk")
    r = _ctl(server, "adduser-bulk", prefix, "1", "300", input="bulk-pw\n")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert "created 300 accounts" in r.stdout, r.stdout
    listed = [u for u in server.users() if u.startswith(prefix)]
    assert len(listed) == 300, len(listed)
    # First, last, and one in the middle can log in while the server runs.
    for i in (1, 150, 300):
        await _can_login(server, _acct(server, f"{prefix}{i}", "bulk-pw"))
    await login_fails(server, _acct(server, f"{prefix}301", "bulk-pw"))
    # Running it again over an overlapping range keeps the existing ones.
    r = _ctl(server, "adduser-bulk", prefix, "299", "4", input="other-pw\n")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert "created 2 accounts" in r.stdout and "2 existed already" in r.stdout, r.stdout
    await _can_login(server, _acct(server, f"{prefix}300", "bulk-pw"))
    await _can_login(server, _acct(server, f"{prefix}302", "other-pw"))


async def test_adduser_for_unserved_host_is_refused(server):
    jid = f"{_name('x')}@not-served.example"
    r = _ctl(server, "adduser", jid, "pw")
    assert r.returncode != 0, (r.stdout, r.stderr)
    msg = r.stderr.lower()
    assert "not-served.example" in msg or "host" in msg, \
        f"unclear message: {r.stderr!r}"
    assert jid not in _ctl(server, "users").stdout.split()


async def test_adduser_existing_is_refused_and_keeps_password(server):
    acct = server.account("dup")
    r = _ctl(server, "adduser", acct.jid, "another-password")
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert r.stderr.strip(), "no message on stderr"
    await _can_login(server, acct)
    await login_fails(server, acct, password="another-password")


async def test_bad_jids_are_refused(server):
    for jid in ("no-at-sign", "@" + server.host, "a b@" + server.host):
        r = _ctl(server, "adduser", jid, "pw")
        assert r.returncode != 0, f"adduser {jid!r} succeeded: {r.stdout}"
        assert r.stderr.strip(), f"adduser {jid!r}: no message"


def test_users_lists_sorted_bare_jids():
    with harness.Server(hosts=("localhost", "example.test")) as server:
        names = ["mallory", "alice", "zed", "bob", "carol"]
        for n in names:
            assert _ctl(server, "adduser", f"{n}@localhost", "pw").returncode == 0
        for n in ("yves", "anna"):
            assert _ctl(server, "adduser", f"{n}@example.test", "pw").returncode == 0

        r = _ctl(server, "users", "localhost")
        assert r.returncode == 0, r.stderr
        listed = [l.strip() for l in r.stdout.splitlines() if l.strip()]
        assert listed == sorted(f"{n}@localhost" for n in names), listed

        r = _ctl(server, "users", "example.test")
        listed = [l.strip() for l in r.stdout.splitlines() if l.strip()]
        assert listed == ["anna@example.test", "yves@example.test"], listed

        r = _ctl(server, "users")
        listed = [l.strip() for l in r.stdout.splitlines() if l.strip()]
        assert set(listed) == ({f"{n}@localhost" for n in names}
                               | {"anna@example.test", "yves@example.test"}), listed
        assert len(listed) == 7, listed
        # Sorted within each host.
        for host in ("localhost", "example.test"):
            mine = [j for j in listed if j.endswith("@" + host)]
            assert mine == sorted(mine), listed


async def test_passwd_takes_effect_at_next_login(server):
    acct = server.account("pw")
    await _can_login(server, acct)
    r = _ctl(server, "passwd", acct.jid, "brand-new-password")
    assert r.returncode == 0, (r.stdout, r.stderr)
    failed = await login_fails(server, acct)
    assert "not-authorized" in str(failed), str(failed)
    await _can_login(server, acct._replace(password="brand-new-password"))
    # And once more from stdin.
    r = _ctl(server, "passwd", acct.jid, input="third-password\n")
    assert r.returncode == 0, (r.stdout, r.stderr)
    await login_fails(server, acct, password="brand-new-password")
    await _can_login(server, acct._replace(password="third-password"))


async def test_passwd_unknown_user_fails(server):
    r = _ctl(server, "passwd", f"{_name('nobody')}@{server.host}", "pw")
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert r.stderr.strip()


async def test_deluser_then_login_fails(server):
    acct = server.account("gone")
    await _can_login(server, acct)
    r = _ctl(server, "deluser", acct.jid)
    assert r.returncode == 0, (r.stdout, r.stderr)
    failed = await login_fails(server, acct)
    assert "not-authorized" in str(failed), str(failed)
    assert acct.jid not in _ctl(server, "users").stdout.split()
    # The name can be taken again, with a new password.
    r = _ctl(server, "adduser", acct.jid, "second-life")
    assert r.returncode == 0, (r.stdout, r.stderr)
    await _can_login(server, acct._replace(password="second-life"))
    await login_fails(server, acct)


def test_check_accepts_the_running_config(server):
    r = _ctl(server, "check")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    r = subprocess.run([harness.CANTOD, "--config", server.config_path, "--check"],
                       cwd="/", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert "configuration OK" in r.stdout + r.stderr, (r.stdout, r.stderr)


def _bad_config(server, lines_to_add):
    """A copy of the server's config with lines appended (the certificate
    paths made absolute so that the copy can live elsewhere); returns
    (path, {text: line number})."""
    with open(server.config_path) as f:
        text = f.read()
    text = (text.replace("certificate: cert.pem", f"certificate: {server.dir}/cert.pem")
                .replace("key: key.pem", f"key: {server.dir}/key.pem"))
    base = text.rstrip("\n").split("\n")
    where = {}
    for l in lines_to_add:
        base.append(l)
        where[l] = len(base)
    d = tempfile.mkdtemp(prefix="canto-badcfg-")
    atexit.register(shutil.rmtree, d, True)
    os.mkdir(os.path.join(d, "data"))
    path = os.path.join(d, "bad.yaml")
    with open(path, "w") as f:
        f.write("\n".join(base) + "\n")
    return path, where


def test_check_reports_unknown_key_with_file_and_line(server):
    line = "frobnicate_level: 11"
    path, where = _bad_config(server, ["# a comment line", line])
    r = subprocess.run([harness.CANTOD, "--config", path, "--check"],
                       cwd="/", capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    m = re.search(r"bad\.yaml:(\d+): frobnicate_level", r.stderr)
    assert m, f"no 'bad.yaml:LINE: frobnicate_level' in stderr: {r.stderr!r}"
    assert int(m.group(1)) == where[line], (m.group(0), where[line])
    assert "configuration OK" not in r.stdout + r.stderr

    r = _ctl(server, "check", config=path)
    assert r.returncode != 0, f"cantoctl check accepted a bad config: {r.stdout}"


def test_check_reports_unknown_nested_key(server):
    line = "limits: { offline_messages: 10, bogus_limit: 5 }"
    path, where = _bad_config(server, [line])
    r = subprocess.run([harness.CANTOD, "--config", path, "--check"],
                       cwd="/", capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    m = re.search(r"bad\.yaml:(\d+): \S*bogus_limit", r.stderr)
    assert m, f"no 'bad.yaml:LINE: ...bogus_limit' in stderr: {r.stderr!r}"
    assert int(m.group(1)) == where[line], (m.group(0), where[line])


if __name__ == "__main__":
    harness.main(globals())
