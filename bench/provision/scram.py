"""scram.py: SCRAM credentials (RFC 5802 / RFC 7677) for provisioning.

One derivation serves a whole batch: benchmark accounts all share one
password, so they may share one salt as well, and PBKDF2 is computed once
instead of once per account (20,000 accounts in seconds rather than minutes).
This is acceptable for benchmark accounts only: real accounts must each have
their own salt, or equal passwords show up as equal stored keys.
"""
import hashlib
import hmac

HASHES = {"SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}


def credentials(password, salt, iterations, hash_name):
    """Return (stored_key, server_key) as bytes for PASSWORD (str), SALT (bytes)."""
    h = HASHES[hash_name]
    salted = hashlib.pbkdf2_hmac(h, password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", h).digest()
    stored_key = hashlib.new(h, client_key).digest()
    server_key = hmac.new(salted, b"Server Key", h).digest()
    return stored_key, server_key


def roster_contacts(i, count, k):
    """The K contacts of user number I (1-based) among COUNT users:
    I+1 .. I+K, wrapping around modulo COUNT (so every contact is mutual)."""
    k = min(k, count - 1)
    return [((i - 1 + d) % count) + 1 for d in range(1, k + 1)]


def add_account_args(ap, iterations):
    """The options every provisioning script takes for the accounts it
    creates (PREFIX<FIRST> .. PREFIX<FIRST+COUNT-1> @ DOMAIN, one password,
    optional rosters of K contacts), so that they mean the same everywhere."""
    ap.add_argument("--domain", required=True)
    ap.add_argument("--prefix", default="bench")
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--roster", type=int, default=0, metavar="K")
    ap.add_argument("--hash", default="SHA-256", choices=["SHA-1", "SHA-256"])
    ap.add_argument("--iterations", type=int, default=iterations)
