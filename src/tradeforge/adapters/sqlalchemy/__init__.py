"""SQLAlchemy Core persistence adapter: tables, repositories, unit of work and Alembic migrations."""
