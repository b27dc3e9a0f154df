"""SQL storage of venue credentials (tables.venue_credentials): the credential repository on a connection.

Rows hold only sealed values and the masked API key; sealing and opening happen in
security/credentials.py, so nothing here ever sees a plaintext secret.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tradeforge.adapters.sqlalchemy.sql_base import Row, SqlRepository
from tradeforge.adapters.sqlalchemy.tables import venue_credentials
from tradeforge.security.credentials import CredentialExists, CredentialRecord

_COLUMNS = tuple(column.name for column in venue_credentials.columns)


def _to_row(record: CredentialRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in _COLUMNS}


def _from_row(row: Row) -> CredentialRecord:
    values = row._asdict()
    values["sandbox"] = bool(values["sandbox"])
    return CredentialRecord(**values)


class SqlCredentialRepository(SqlRepository):
    """Implements security.credentials.CredentialRepository inside the caller's transaction."""

    def add(self, record: CredentialRecord) -> None:
        try:
            self._connection.execute(sa.insert(venue_credentials), [_to_row(record)])
        except sa.exc.IntegrityError as error:
            # Another writer took the same venue/label between our check and this insert.
            raise CredentialExists(record.venue, record.label) from error

    def get(self, credential_id: str) -> CredentialRecord | None:
        stmt = sa.select(venue_credentials).where(venue_credentials.c.id == credential_id)
        row = self._connection.execute(stmt).first()
        return None if row is None else _from_row(row)

    def find(self, venue: str, label: str) -> CredentialRecord | None:
        c = venue_credentials.c
        stmt = sa.select(venue_credentials).where(c.venue == venue, c.label == label)
        row = self._connection.execute(stmt).first()
        return None if row is None else _from_row(row)

    def list_all(self) -> list[CredentialRecord]:
        c = venue_credentials.c
        stmt = sa.select(venue_credentials).order_by(c.venue, c.label, c.id)
        return [_from_row(row) for row in self._connection.execute(stmt)]

    def update(self, record: CredentialRecord) -> bool:
        values = {name: value for name, value in _to_row(record).items() if name != "id"}
        stmt = sa.update(venue_credentials).where(venue_credentials.c.id == record.id).values(**values)
        return self._connection.execute(stmt).rowcount > 0

    def delete(self, credential_id: str) -> bool:
        stmt = sa.delete(venue_credentials).where(venue_credentials.c.id == credential_id)
        return self._connection.execute(stmt).rowcount > 0
