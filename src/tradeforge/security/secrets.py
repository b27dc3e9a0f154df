"""Secrets at rest: the master key (environment variable or 0600 key file) and AES-256-GCM sealing.

The master key is 32 random bytes written as URL-safe base64. It comes from TRADEFORGE_MASTER_KEY or,
when that is unset, from `<var_dir>/master.key`, created with mode 0600 on first use. Older keys named by
TRADEFORGE_MASTER_KEY_PREVIOUS (comma-separated) or `<var_dir>/master.key.previous` still open what they
sealed, so the master key can be rotated without downtime (see docs/credentials.md).

A sealed value is the text `v1:<key fingerprint>:<base64url(nonce || ciphertext || tag)>`. The
fingerprint says which key sealed it, so a wrong key is named as such instead of failing as "bad data";
the associated data binds a ciphertext to its record and field, so ciphertexts cannot be swapped between
rows or columns unnoticed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tradeforge.domain.errors import TradeForgeError
from tradeforge.durable import fsync_directory

MASTER_KEY_ENV = "TRADEFORGE_MASTER_KEY"
PREVIOUS_KEYS_ENV = "TRADEFORGE_MASTER_KEY_PREVIOUS"
KEY_FILE = "master.key"
PREVIOUS_KEY_FILE = "master.key.previous"
KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT = "v1"
ELLIPSIS = "…"
# Shorter values are shown as the ellipsis alone: four characters of a short value say too much.
MASK_MIN_LENGTH = 12


class MasterKeyError(TradeForgeError):
    """The master key is missing, malformed, unreadable or too widely readable."""


class WrongMasterKey(MasterKeyError):
    """A value was sealed with a key that is not in the configured key ring."""


class SealedValueError(TradeForgeError):
    """A sealed value is malformed, altered, or bound to another record."""


def generate_master_key() -> str:
    """A new random master key, as it is written to the key file or the environment variable."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def parse_master_key(text: str, origin: str) -> bytes:
    """The 32 key bytes of `text` (URL-safe or standard base64, surrounding blanks ignored)."""
    cleaned = text.strip()
    try:
        raw = base64.b64decode(cleaned.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise MasterKeyError(
            f"{origin} is not a master key: expected {KEY_BYTES} random bytes as base64 "
            "(make one with `tradeforge credentials generate-master-key`)"
        )
    return raw


def fingerprint(key: bytes) -> str:
    """A short public name for a key: safe to store and show, useless to recover the key."""
    return hashlib.sha256(b"tradeforge-master-key\x00" + key).hexdigest()[:16]


def mask(value: str | None) -> str | None:
    """The first four characters and an ellipsis (the ellipsis alone for a short value)."""
    if value is None:
        return None
    return value[:4] + ELLIPSIS if len(value) >= MASK_MIN_LENGTH else ELLIPSIS


@dataclass(frozen=True)
class MasterKey:
    """The key that seals new values, and previous keys that may still open old ones.

    `origin` says where the primary key came from (an environment variable or a file path), never
    the key itself; repr() shows fingerprints only."""

    primary: bytes = field(repr=False)
    origin: str
    previous: tuple[bytes, ...] = field(default=(), repr=False)

    @classmethod
    def from_text(cls, text: str, origin: str = "the master key") -> MasterKey:
        return cls(parse_master_key(text, origin), origin)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.primary)

    @property
    def fingerprints(self) -> frozenset[str]:
        """The fingerprints of every key this ring can open with."""
        return frozenset(fingerprint(key) for key in (self.primary, *self.previous))

    def __repr__(self) -> str:
        old = ", ".join(fingerprint(key) for key in self.previous)
        return f"MasterKey(fingerprint={self.fingerprint!r}, origin={self.origin!r}, previous=[{old}])"

    def seal(self, plaintext: str, context: str) -> str:
        """Encrypt `plaintext` with the primary key, bound to `context` (e.g. 'credential/<id>/secret')."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.primary).encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")
        return f"{FORMAT}:{self.fingerprint}:{body}"

    def open(self, token: str, context: str) -> str:
        """The plaintext of a sealed value; WrongMasterKey when none of our keys sealed it."""
        version, key_id, body = _split(token)
        if version != FORMAT:
            raise SealedValueError(f"unknown sealed-value format {version!r}")
        key = self._key(key_id)
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise SealedValueError("the sealed value is not valid base64") from None
        if len(raw) <= NONCE_BYTES:
            raise SealedValueError("the sealed value is truncated")
        try:
            plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
        except InvalidTag:
            raise SealedValueError(
                f"the sealed value does not authenticate for {context} "
                "(altered, or copied from another record)"
            ) from None
        return plain.decode("utf-8")

    def sealed_with_primary(self, token: str) -> bool:
        return _split(token)[1] == self.fingerprint

    def _key(self, key_id: str) -> bytes:
        for key in (self.primary, *self.previous):
            if fingerprint(key) == key_id:
                return key
        raise WrongMasterKey(
            f"this value was sealed with master key {key_id}, but the configured key is {self.fingerprint} "
            f"({self.origin}){self._previous_note()}; set {MASTER_KEY_ENV} to the key it was stored with, "
            "or restore that key file"
        )

    def _previous_note(self) -> str:
        if not self.previous:
            return ""
        return " and the previous keys are " + ", ".join(fingerprint(k) for k in self.previous)


def sealed_fingerprint(token: str) -> str:
    """The fingerprint of the key that sealed `token` (no key needed)."""
    return _split(token)[1]


def _split(token: str) -> tuple[str, str, str]:
    parts = token.split(":", 2)
    if len(parts) != 3:
        raise SealedValueError("not a sealed value (expected v1:<key>:<data>)")
    return parts[0], parts[1], parts[2]


@dataclass(frozen=True)
class MasterKeySource:
    """Where the master key lives: TRADEFORGE_MASTER_KEY if set, else `<var_dir>/master.key`."""

    var_dir: Path
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)

    @property
    def key_file(self) -> Path:
        return self.var_dir / KEY_FILE

    @property
    def previous_file(self) -> Path:
        return self.var_dir / PREVIOUS_KEY_FILE

    @property
    def from_environment(self) -> bool:
        return bool(self.environ.get(MASTER_KEY_ENV, "").strip())

    def exists(self) -> bool:
        return self.from_environment or self.key_file.exists()

    def load(self) -> MasterKey:
        """The configured key ring; MasterKeyError when there is no key (nothing is created)."""
        if self.from_environment:
            primary = parse_master_key(self.environ[MASTER_KEY_ENV], MASTER_KEY_ENV)
            origin = f"environment variable {MASTER_KEY_ENV}"
        elif self.key_file.exists():
            primary = parse_master_key(read_key_file(self.key_file), str(self.key_file))
            origin = f"key file {self.key_file}"
        else:
            raise MasterKeyError(
                f"no master key: set {MASTER_KEY_ENV} or create {self.key_file} "
                "(the first `tradeforge credentials add` creates it)"
            )
        return MasterKey(primary, origin, self._previous(primary))

    def load_or_create(self) -> MasterKey:
        """The configured key ring, creating `<var_dir>/master.key` (0600) if no key exists yet."""
        if not self.exists():
            write_key_file(self.key_file, generate_master_key(), exclusive=True)
        return self.load()

    def _previous(self, primary: bytes) -> tuple[bytes, ...]:
        found: list[bytes] = []
        for index, text in enumerate(self.environ.get(PREVIOUS_KEYS_ENV, "").split(",")):
            if text.strip():
                found.append(parse_master_key(text, f"{PREVIOUS_KEYS_ENV} (item {index + 1})"))
        if self.previous_file.exists():
            found.append(parse_master_key(read_key_file(self.previous_file), str(self.previous_file)))
        unique: list[bytes] = []
        for key in found:
            if key != primary and key not in unique:
                unique.append(key)
        return tuple(unique)


def read_key_file(path: Path) -> str:
    """The text of a key file, refused when group or others may read or write it (as ssh does)."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise MasterKeyError(
                f"{path} is accessible by other users (mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`"
            )
        return path.read_text(encoding="ascii")
    except OSError as error:
        raise MasterKeyError(f"cannot read {path}: {error.strerror or error}") from error
    except UnicodeDecodeError:
        raise MasterKeyError(f"{path} is not a master key file (not ASCII text)") from None


def write_key_file(path: Path, key_text: str, *, exclusive: bool = False) -> None:
    """Write a key file with mode 0600, durably and atomically (a crash leaves the old file or the new).

    exclusive: fail quietly if the file appeared meanwhile (another process created it first)."""
    parse_master_key(key_text, "the new key")
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # O_EXCL on the temporary name: never follow a planted symlink; the mode is set at creation.
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(handle, "w", encoding="ascii") as stream:
            stream.write(key_text.strip() + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        if exclusive:
            try:
                os.link(temp, path)  # fails if the file exists: the first creator wins
            except FileExistsError:
                return
            except OSError:  # a file system without hard links: create in place, still exclusively
                _create_exclusive(path, key_text)
        else:
            os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    fsync_directory(path.parent)


def _create_exclusive(path: Path, key_text: str) -> None:
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(handle, "w", encoding="ascii") as stream:
        stream.write(key_text.strip() + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def rotate_key_file(source: MasterKeySource) -> MasterKey:
    """Make a new key the primary of `<var_dir>/master.key`, keeping the current one as
    `master.key.previous` until every credential is sealed again (CredentialService.rekey).

    The key file exists at every instant: the previous copy is written first, then the new key
    replaces master.key atomically. An unfinished rotation (the previous file is still there) must
    be completed first, or its previous key would be lost."""
    if source.from_environment:
        raise MasterKeyError(
            f"the master key comes from {MASTER_KEY_ENV}: rotate it there (move the old value to "
            f"{PREVIOUS_KEYS_ENV}, set a new one, then run `tradeforge credentials rekey`)"
        )
    if source.previous_file.exists():
        raise MasterKeyError(
            f"{source.previous_file} exists: a rotation is unfinished; run `tradeforge credentials rekey` "
            "without --new-key to finish it first"
        )
    current = source.load_or_create()
    write_key_file(source.previous_file, base64.urlsafe_b64encode(current.primary).decode("ascii"))
    write_key_file(source.key_file, generate_master_key())
    return source.load()


def finish_rotation(source: MasterKeySource) -> bool:
    """Forget the previous key file once nothing is sealed with it; True when one was removed."""
    try:
        source.previous_file.unlink()
    except FileNotFoundError:
        return False
    fsync_directory(source.var_dir)
    return True
