"""Exchange API credentials: stored sealed, listed masked, rotated and deleted with an audit entry.

Plaintext exists only in the caller's hands: on the way in (add, rotate) and in the VenueCredentials
that load_credentials() gives the composition root, whose repr masks every secret. The audit trail
records who changed which credential and when, with the masked API key and never a secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from tradeforge.bus.codec import dumps
from tradeforge.domain.errors import TradeForgeError, ValidationError
from tradeforge.domain.identifiers import IdGenerator
from tradeforge.ports.clock import Clock
from tradeforge.ports.persistence import AuditEntry, UnitOfWork, UnitOfWorkFactory
from tradeforge.security.secrets import (
    ELLIPSIS,
    MasterKey,
    MasterKeySource,
    WrongMasterKey,
    mask,
)

VENUE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
MAX_SECRET_LENGTH = 1024
# Tokens as exchanges issue them: printable, no blanks. Passphrases are chosen by people: blanks allowed.
_TOKEN = re.compile(r"^[\x21-\x7e]+$")
_PHRASE = re.compile(r"^[^\x00-\x1f\x7f]+$")


class CredentialNotFound(TradeForgeError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no credential {ref!r} (see `tradeforge credentials list`)")
        self.ref = ref


class CredentialExists(TradeForgeError):
    def __init__(self, venue: str, label: str) -> None:
        super().__init__(f"a credential {venue}/{label} exists already; rotate it or choose another label")


@dataclass(frozen=True, repr=False)
class VenueCredentials:
    """What a venue adapter signs with. repr() and str() mask every secret, so logging one is safe."""

    venue: str
    label: str
    api_key: str
    secret: str
    passphrase: str | None = None
    sandbox: bool = False

    def __repr__(self) -> str:
        phrase = None if self.passphrase is None else ELLIPSIS
        return (
            f"VenueCredentials(venue={self.venue!r}, label={self.label!r}, api_key={mask(self.api_key)!r}, "
            f"secret={ELLIPSIS!r}, passphrase={phrase!r}, sandbox={self.sandbox})"
        )

    __str__ = __repr__

    def ccxt_config(self) -> dict[str, Any]:
        """The constructor settings ccxt reads credentials from (`password` is OKX's passphrase)."""
        config: dict[str, Any] = {"apiKey": self.api_key, "secret": self.secret}
        if self.passphrase is not None:
            config["password"] = self.passphrase
        return config


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """A stored credential: masked API key in clear, everything else sealed with the master key."""

    id: str
    venue: str
    label: str
    sandbox: bool
    api_key_masked: str
    api_key_sealed: str = field(repr=False)
    secret_sealed: str = field(repr=False)
    passphrase_sealed: str | None = field(repr=False)
    key_fingerprint: str
    created_at: int
    updated_at: int
    rotated_at: int | None = None


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """The public form of a credential: what the CLI and the API show."""

    id: str
    venue: str
    label: str
    sandbox: bool
    api_key: str
    has_passphrase: bool
    key_fingerprint: str
    created_at: int
    updated_at: int
    rotated_at: int | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the API answers and `tradeforge credentials list --json` prints."""
        from tradeforge.bus.codec import iso_ms

        return {
            "id": self.id,
            "venue": self.venue,
            "label": self.label,
            "sandbox": self.sandbox,
            "api_key": self.api_key,
            "has_passphrase": self.has_passphrase,
            "master_key": self.key_fingerprint,
            "created_at": iso_ms(self.created_at),
            "updated_at": iso_ms(self.updated_at),
            "rotated_at": iso_ms(self.rotated_at),
        }

    @classmethod
    def of(cls, record: CredentialRecord) -> CredentialInfo:
        return cls(
            id=record.id,
            venue=record.venue,
            label=record.label,
            sandbox=record.sandbox,
            api_key=record.api_key_masked,
            has_passphrase=record.passphrase_sealed is not None,
            key_fingerprint=record.key_fingerprint,
            created_at=record.created_at,
            updated_at=record.updated_at,
            rotated_at=record.rotated_at,
        )


@dataclass(frozen=True, slots=True)
class RekeyReport:
    resealed: int
    current: int
    fingerprint: str


class CredentialRepository(Protocol):
    def add(self, record: CredentialRecord) -> None: ...
    def get(self, credential_id: str) -> CredentialRecord | None: ...
    def find(self, venue: str, label: str) -> CredentialRecord | None: ...
    def list_all(self) -> list[CredentialRecord]: ...
    def update(self, record: CredentialRecord) -> bool: ...
    def delete(self, credential_id: str) -> bool: ...


def credential_repository(uow: UnitOfWork) -> CredentialRepository:
    """The credential repository bound to `uow`'s transaction.

    A unit of work that exposes `credentials` is used as is; the SQL unit of work does not (yet), so
    the repository is built on its connection."""
    repository: CredentialRepository | None = getattr(uow, "credentials", None)
    if repository is not None:
        return repository
    connection = getattr(uow, "connection", None)
    if connection is None:
        raise TypeError(f"{type(uow).__name__} has no credential storage")
    from tradeforge.adapters.sqlalchemy.credential_tables import SqlCredentialRepository

    return SqlCredentialRepository(connection)


@dataclass(frozen=True, slots=True)
class VenueRules:
    requires_passphrase: bool
    has_sandbox: bool


def venue_rules(venue: str) -> VenueRules:
    """What ccxt says a venue needs; an unknown venue is a ValidationError."""
    if not isinstance(venue, str) or not VENUE_PATTERN.match(venue):
        raise ValidationError("venue", "must be a lower-case ccxt exchange id, e.g. binance")
    import ccxt

    if venue not in ccxt.exchanges:
        raise ValidationError("venue", f"{venue!r} is not an exchange ccxt knows")
    exchange = getattr(ccxt, venue)()
    return VenueRules(
        requires_passphrase=bool(exchange.requiredCredentials.get("password")),
        has_sandbox=bool(exchange.urls.get("test")),
    )


def clean_token(name: str, value: str | None, *, blanks: bool = False) -> str:
    """A key, secret or passphrase without surrounding blanks, checked; the value is never echoed."""
    text = (value or "").strip()
    if not text:
        raise ValidationError(name, "must not be empty")
    if len(text) > MAX_SECRET_LENGTH:
        raise ValidationError(name, f"must be at most {MAX_SECRET_LENGTH} characters")
    if not (_PHRASE if blanks else _TOKEN).match(text):
        what = "control characters" if blanks else "blanks or control characters"
        raise ValidationError(name, f"must not contain {what}")
    return text


def _context(credential_id: str, part: str) -> str:
    return f"venue_credentials/{credential_id}/{part}"


def _seal(
    key: MasterKey, record: CredentialRecord, api_key: str, secret: str, phrase: str | None
) -> CredentialRecord:
    return replace(
        record,
        api_key_masked=mask(api_key) or ELLIPSIS,
        api_key_sealed=key.seal(api_key, _context(record.id, "api_key")),
        secret_sealed=key.seal(secret, _context(record.id, "secret")),
        passphrase_sealed=None if phrase is None else key.seal(phrase, _context(record.id, "passphrase")),
        key_fingerprint=key.fingerprint,
    )


def open_record(key: MasterKey, record: CredentialRecord) -> VenueCredentials:
    """The plaintext of a stored credential; WrongMasterKey names the credential and both keys."""
    try:
        phrase = record.passphrase_sealed
        return VenueCredentials(
            venue=record.venue,
            label=record.label,
            api_key=key.open(record.api_key_sealed, _context(record.id, "api_key")),
            secret=key.open(record.secret_sealed, _context(record.id, "secret")),
            passphrase=None if phrase is None else key.open(phrase, _context(record.id, "passphrase")),
            sandbox=record.sandbox,
        )
    except WrongMasterKey as error:
        raise WrongMasterKey(f"cannot decrypt credential {record.venue}/{record.label}: {error}") from None


def load_credentials(
    uow_factory: UnitOfWorkFactory, master_key: MasterKey, venue: str, label: str
) -> VenueCredentials:
    """The decrypted credential `venue`/`label` for a venue adapter (called by the composition root)."""
    with uow_factory() as uow:
        record = credential_repository(uow).find(venue, label)
    if record is None:
        raise CredentialNotFound(f"{venue}/{label}")
    return open_record(master_key, record)


class CredentialService:
    """Adds, lists, rotates, deletes and re-seals credentials, each change with its audit entry in the
    same transaction. Listing needs no master key; every write loads it from `keys`."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        keys: MasterKeySource,
        rules: Callable[[str], VenueRules] = venue_rules,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._keys = keys
        self._rules = rules
        self._ids = IdGenerator("c")
        self._audit_ids = IdGenerator("A")

    def list(self) -> list[CredentialInfo]:
        with self._uow_factory() as uow:
            return [CredentialInfo.of(r) for r in credential_repository(uow).list_all()]

    def get(self, ref: str) -> CredentialInfo:
        with self._uow_factory() as uow:
            return CredentialInfo.of(_resolve(credential_repository(uow), ref))

    def load(self, ref: str) -> VenueCredentials:
        with self._uow_factory() as uow:
            record = _resolve(credential_repository(uow), ref)
        return open_record(self._keys.load(), record)

    def add(
        self,
        venue: str,
        label: str,
        api_key: str,
        secret: str,
        passphrase: str | None = None,
        sandbox: bool = False,
        actor: str = "cli",
    ) -> CredentialInfo:
        venue = venue.strip().lower() if isinstance(venue, str) else venue
        rules = self._rules(venue)
        if not isinstance(label, str) or not LABEL_PATTERN.match(label):
            raise ValidationError("label", "must be 1-64 letters, digits, '_', '.' or '-'")
        api_key = clean_token("api_key", api_key)
        secret = clean_token("secret", secret)
        phrase = _passphrase(venue, rules, passphrase, required=True)
        if sandbox and not rules.has_sandbox:
            raise ValidationError("sandbox", f"{venue} has no sandbox or testnet")
        now = self._clock.now_ms()
        with self._uow_factory() as uow:
            repository = credential_repository(uow)
            if repository.find(venue, label) is not None:
                raise CredentialExists(venue, label)
            key = self._writable_key(repository)
            blank = CredentialRecord(
                self._ids.next(), venue, label, sandbox, "", "", "", None, "", now, now, None
            )
            record = _seal(key, blank, api_key, secret, phrase)
            repository.add(record)
            uow.audit.add_many([self._audit(now, actor, "credential.add", record)])
            uow.commit()
        return CredentialInfo.of(record)

    def rotate(
        self,
        ref: str,
        secret: str,
        api_key: str | None = None,
        passphrase: str | None = None,
        actor: str = "cli",
    ) -> CredentialInfo:
        """Replace the secret (and the API key or passphrase when given), keeping the id."""
        secret = clean_token("secret", secret)
        new_key = None if api_key is None else clean_token("api_key", api_key)
        now = self._clock.now_ms()
        with self._uow_factory() as uow:
            repository = credential_repository(uow)
            record = _resolve(repository, ref)
            phrase = (
                None
                if passphrase is None
                else _passphrase(record.venue, self._rules(record.venue), passphrase, required=False)
            )
            key = self._keys.load()
            current = open_record(key, record)
            changed = ["secret"] + (["api_key"] if new_key is not None else [])
            changed += ["passphrase"] if phrase is not None else []
            resealed = _seal(
                key,
                replace(record, updated_at=now, rotated_at=now),
                new_key if new_key is not None else current.api_key,
                secret,
                phrase if phrase is not None else current.passphrase,
            )
            repository.update(resealed)
            entry = self._audit(now, actor, "credential.rotate", resealed, changed=changed)
            uow.audit.add_many([entry])
            uow.commit()
        return CredentialInfo.of(resealed)

    def delete(self, ref: str, actor: str = "cli") -> CredentialInfo:
        now = self._clock.now_ms()
        with self._uow_factory() as uow:
            repository = credential_repository(uow)
            record = _resolve(repository, ref)
            repository.delete(record.id)
            uow.audit.add_many([self._audit(now, actor, "credential.delete", record)])
            uow.commit()
        return CredentialInfo.of(record)

    def rekey(self, key: MasterKey | None = None, actor: str = "cli") -> RekeyReport:
        """Seal every credential again with the primary key (one transaction: all or none)."""
        key = key or self._keys.load()
        now = self._clock.now_ms()
        resealed = current = 0
        with self._uow_factory() as uow:
            repository = credential_repository(uow)
            for record in repository.list_all():
                if record.key_fingerprint == key.fingerprint:
                    current += 1
                    continue
                plain = open_record(key, record)
                repository.update(
                    _seal(key, replace(record, updated_at=now), plain.api_key, plain.secret, plain.passphrase)
                )
                resealed += 1
            if resealed:
                details = dumps({"resealed": resealed, "master_key": key.fingerprint})
                entry = AuditEntry(
                    self._audit_ids.next(), now, actor, "credential.rekey", "master-key", details
                )
                uow.audit.add_many([entry])
            uow.commit()
        return RekeyReport(resealed, current, key.fingerprint)

    def _writable_key(self, repository: CredentialRepository) -> MasterKey:
        """The key to seal with. A new key file is created only while nothing is stored: a lost key
        must be restored, not silently replaced by one that cannot open the stored credentials."""
        stored = {record.key_fingerprint for record in repository.list_all()}
        key = self._keys.load() if stored else self._keys.load_or_create()
        unknown = stored - key.fingerprints
        if unknown:
            raise WrongMasterKey(
                f"stored credentials were sealed with master key {', '.join(sorted(unknown))}, which is not "
                f"configured (the current key is {key.fingerprint}, {key.origin}); restore that key "
                "or list it as a previous key before adding credentials"
            )
        return key

    def _audit(self, ts: int, actor: str, action: str, record: CredentialRecord, **extra: Any) -> AuditEntry:
        details = {
            "venue": record.venue,
            "label": record.label,
            "sandbox": record.sandbox,
            "api_key": record.api_key_masked,
            **extra,
        }
        return AuditEntry(self._audit_ids.next(), ts, actor, action, record.id, dumps(details))


def _passphrase(venue: str, rules: VenueRules, value: str | None, *, required: bool) -> str | None:
    if value is None or not value.strip():
        if required and rules.requires_passphrase:
            raise ValidationError("passphrase", f"{venue} API keys come with a passphrase; give it too")
        return None
    return clean_token("passphrase", value, blanks=True)


def _resolve(repository: CredentialRepository, ref: str) -> CredentialRecord:
    """A credential by id, or by `venue/label`."""
    venue, slash, label = ref.partition("/")
    record = repository.find(venue.lower(), label) if slash else repository.get(ref)
    if record is None:
        raise CredentialNotFound(ref)
    return record
