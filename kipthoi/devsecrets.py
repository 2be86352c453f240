"""Development secrets: made at random on first start, kept in a file only its owner can read.

A signing secret or data key written in the source is everyone's: with it, anybody holding a
copy of the database reads the children's names and forges a head's token. So when nothing is
configured (development), the first process to start draws them from the OS's random source
and writes them beside the database; every later process — the CLI commands, each worker of
`kipthoi serve --workers N` — reads the same file. Production never comes here: it refuses to
start without its own secret and keys (kipthoi/settings.py)."""

import base64
import json
import os
import secrets
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path

FORMAT = 1


@dataclass(frozen=True)
class DevSecrets:
    secret: str
    data_key_id: str
    data_key: bytes
    index_key: bytes
    # None: held in memory only (an in-memory database dies with the process, and so may they).
    path: Path | None

    def __repr__(self) -> str:  # never the values, whatever prints this
        return f"DevSecrets(path={self.path!r}, data_key_id={self.data_key_id!r})"


def generate(path: Path | None) -> DevSecrets:
    # A key id of its own, so that values written under the derived keys of older versions
    # are reported as "key id not in the keyring" rather than failing as tampered data.
    kid = f"dev{time.strftime('%Y%m%d')}{secrets.token_hex(2)}"
    return DevSecrets(secrets.token_urlsafe(48), kid, secrets.token_bytes(32), secrets.token_bytes(32), path)


def _encode(dev: DevSecrets) -> bytes:
    return json.dumps({
        "format": FORMAT,
        "note": "kipthoi development secrets: back this file up with the database; without it the "
                "encrypted data cannot be read. Production sets KIPTHOI_SECURITY__SECRET and "
                "KIPTHOI_CRYPTO__* instead.",
        "secret": dev.secret,
        "data_key_id": dev.data_key_id,
        "data_key": base64.b64encode(dev.data_key).decode(),
        "index_key": base64.b64encode(dev.index_key).decode(),
    }, indent=2).encode()


def _decode(raw: bytes, path: Path) -> DevSecrets:
    try:
        data = json.loads(raw)
        dev = DevSecrets(str(data["secret"]), str(data["data_key_id"]), base64.b64decode(data["data_key"]),
                         base64.b64decode(data["index_key"]), path)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"development secrets file {path} is damaged ({type(exc).__name__}); restore it "
                         "from the backup (removing it makes new keys: the encrypted data is then lost)") from None
    if len(dev.data_key) != 32 or len(dev.index_key) != 32 or len(dev.secret) < 32:
        raise ValueError(f"development secrets file {path} holds keys of the wrong size; restore it from the backup")
    return dev


def _read(path: Path) -> DevSecrets | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"development secrets file {path} is not a regular file")
        if st.st_mode & 0o077 or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
            raise ValueError(f"development secrets file {path} must belong to this user and be readable "
                             f"by nobody else (it holds the data keys): chmod 600 {path}")
        return _decode(f.read(), path)


def _create(path: Path) -> DevSecrets | None:
    """Write a new file, or None when another process got there first.

    The new content goes into a temporary file of our own (O_CREAT|O_EXCL, mode 0600, fsynced),
    which is then hard-linked to the final name: a link, unlike a rename, never replaces an
    existing file, so of two processes starting at once exactly one file wins and both use it."""
    fresh = generate(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # whatever the umask
            f.write(_encode(fresh))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return None
    finally:
        tmp.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the name survives a power cut, like the data it unlocks
    finally:
        os.close(directory)
    return fresh


def load_or_create(path: Path) -> DevSecrets:
    """The secrets in `path`, made on first use; the process that makes them says so, once."""
    path = path.absolute()
    found = _read(path)
    if found is not None:
        return found
    path.parent.mkdir(parents=True, exist_ok=True)
    made = _create(path)
    if made is None:
        found = _read(path)
        assert found is not None, path
        return found
    print(f"kipthoi: no KIPTHOI_SECURITY__SECRET configured (development): made a random secret and "
          f"data keys in {path} (readable by this user only). Back this file up with the database — "
          "without it the encrypted data cannot be read; never commit it. Production needs its own: "
          "KIPTHOI_SECURITY__SECRET and KIPTHOI_CRYPTO__* (`kipthoi keys generate`).",
          file=sys.stderr, flush=True)
    return made
