"""API keys: generated once, shown once, stored only as a SHA-256 hash; lookup with a small cache."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import replace

from tradeforge.bus.codec import dumps
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.identifiers import IdGenerator
from tradeforge.ports.clock import Clock
from tradeforge.ports.persistence import ApiKeyRecord, AuditEntry, UnitOfWorkFactory
from tradeforge.security.rbac import Role

KEY_PREFIX = "tf"

ACCOUNT_PATTERN = re.compile(r"[A-Za-z0-9_\-]{1,32}")


def hash_key(secret: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeyService:
    """Creates, lists, revokes and authenticates keys. Reads go through an in-memory cache that a
    revoke in this process clears at once."""

    def __init__(
        self, uow_factory: UnitOfWorkFactory, clock: Clock, account_id: str, cache_seconds: float = 2.0
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._account_id = account_id
        # Short-lived, because a key revoked by another process (the CLI) must stop working quickly.
        self._cache: dict[str, tuple[float, ApiKeyRecord | None]] = {}
        self._cache_seconds = cache_seconds
        self._audit_ids = IdGenerator("A")
        # Time-sortable, so listings follow creation order even within one millisecond.
        self._key_ids = IdGenerator("k")

    def _audit(self, ts: int, actor: str, action: str, record: ApiKeyRecord) -> AuditEntry:
        details = dumps({"name": record.name, "role": record.role, "account_id": record.account_id})
        return AuditEntry(self._audit_ids.next(), ts, actor, action, record.id, details)

    def create(
        self, name: str, role: str, actor: str = "cli", account_id: str | None = None
    ) -> tuple[ApiKeyRecord, str]:
        """A new key for `account_id` (default: the service's account), its secret shown once."""
        try:
            parsed = Role(role)
        except ValueError:
            raise ValidationError("role", f"must be one of {', '.join(r.value for r in Role)}") from None
        if not name or len(name) > 64:
            raise ValidationError("name", "must be 1-64 characters")
        account = self._account_id if account_id is None else account_id
        if not ACCOUNT_PATTERN.fullmatch(account):
            raise ValidationError("account_id", "must be 1-32 of A-Z a-z 0-9 _ -")
        key_id = self._key_ids.next()
        secret = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKeyRecord(
            id=key_id,
            name=name,
            role=parsed.value,
            account_id=account,
            key_hash=hash_key(secret),
            created_at=self._clock.now_ms(),
        )
        with self._uow_factory() as uow:
            uow.api_keys.add(record)
            uow.audit.add_many([self._audit(record.created_at, actor, "key.create", record)])
            uow.commit()
        return record, secret

    def authenticate(self, secret: str) -> ApiKeyRecord | None:
        digest = hash_key(secret)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        with self._uow_factory() as uow:
            record = uow.api_keys.get_by_hash(digest)
        if record is not None and record.revoked_at is not None:
            record = None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now, record)
        return record

    def list(self) -> list[ApiKeyRecord]:
        with self._uow_factory() as uow:
            return uow.api_keys.list_all()

    def revoke(self, key_id: str, actor: str = "cli") -> ApiKeyRecord | None:
        with self._uow_factory() as uow:
            record = uow.api_keys.get(key_id)
            if record is None:
                return None
            now = self._clock.now_ms()
            if record.revoked_at is None:
                uow.api_keys.revoke(key_id, now)
                uow.audit.add_many([self._audit(now, actor, "key.revoke", record)])
                uow.commit()
                record = replace(record, revoked_at=now)
        self._cache.clear()
        return record
