"""Open what the daemon seals, for tests only (daemon/seal.c's format).

The daemon stores numbers, texts, notes and menu state as
"s1." + base64(nonce[12] | AES-256-GCM ciphertext | tag[16]), bound to
the caller's pseudonym, under a per-caller data key kept in the key
store (a SQLite file beside the database), wrapped under the KEK, which
is wrapped under the master key (privacy.data_key).  A test that holds
the master key and the key store can open values; `attach` makes the
sealed tables of a connection read as if they were clear, so tests that
query rows by number or text keep working.
"""

import base64
import sqlite3

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VALUE_AAD = b"hotline value\0"
KEY_AAD = b"hotline key\0"
KEK_OWNER = b"hotline kek"

# Sealed columns per table; task_notes' caller comes from its task.
SEALED = {
    "tasks": ("msisdn", "verification"),
    "sessions": ("msisdn", "state"),
    "inbound": ("msisdn", "body"),
    "outbound": ("msisdn", "body"),
    "task_notes": ("text",),
}


def _decrypt(key, aad, text, prefix):
    if not isinstance(text, str) or not text.startswith(prefix):
        return None
    raw = base64.b64decode(text[len(prefix):])
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], aad)
    except Exception:
        return None


def read_master(path):
    with open(path) as f:
        return bytes.fromhex(f.read().strip())


class Keys:
    """The data keys of a key store, unwrapped with the master key."""

    def __init__(self, key_store, master):
        con = sqlite3.connect("file:%s?mode=ro" % key_store, uri=True,
                              timeout=5)
        try:
            meta = dict(con.execute("SELECT key, value FROM meta"))
            self.kek = _decrypt(master, KEY_AAD + KEK_OWNER, meta["kek"],
                                "w1.")
            if self.kek is None:
                raise ValueError("the master key does not open the KEK")
            self.keys = {}
            for caller, wrapped in con.execute(
                    "SELECT caller, wrapped FROM keys"):
                key = _decrypt(self.kek, KEY_AAD + caller.encode(),
                               wrapped, "w1.")
                if key is not None:
                    self.keys[caller] = key
        finally:
            con.close()

    def open(self, value, caller):
        """The clear text of a sealed value; a clear value as it is; None
        when it does not open (the caller's key is gone)."""
        if not isinstance(value, str) or not value.startswith("s1."):
            return value
        key = self.keys.get(caller)
        if key is None:
            return None
        plain = _decrypt(key, VALUE_AAD + caller.encode(), value, "s1.")
        return None if plain is None else plain.decode("utf-8")


def attach(con, keys):
    """Shadow each sealed table of con with a TEMP view of the same name
    whose sealed columns read clear (SQLite resolves an unqualified name
    in temp first)."""
    con.create_function("unseal", 2, keys.open, deterministic=True)
    for table, sealed in SEALED.items():
        cols = [r[1] for r in con.execute(
            "PRAGMA main.table_info(%s)" % table)]
        if not cols:
            continue
        owner = ("(SELECT caller FROM main.tasks t WHERE t.id = x.task_id)"
                 if table == "task_notes" else "x.caller")
        parts = ["unseal(x.%s, %s) AS %s" % (c, owner, c) if c in sealed
                 else "x.%s" % c for c in cols]
        con.execute("CREATE TEMP VIEW %s AS SELECT %s FROM main.%s AS x"
                    % (table, ", ".join(parts), table))
