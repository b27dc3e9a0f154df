"""Fixtures of the reconciliation tests: a migrated SQLite store, so audit entries are really stored."""

from __future__ import annotations

import pytest

from tradeforge.adapters.sqlalchemy.database import make_engine
from tradeforge.adapters.sqlalchemy.migrate import upgrade
from tradeforge.adapters.sqlalchemy.uow import SqlAlchemyUnitOfWorkFactory
from tradeforge.ports.persistence import UnitOfWorkFactory


@pytest.fixture
def sql_store(sqlite_url: str) -> UnitOfWorkFactory:
    upgrade(sqlite_url)
    return SqlAlchemyUnitOfWorkFactory(make_engine(sqlite_url))
