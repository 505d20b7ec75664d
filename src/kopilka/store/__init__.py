"""Storage: SQLAlchemy Core tables, migrations, repositories and the unit of work.

SQLite (the embedded default, WAL mode) and PostgreSQL (production) sit behind the
same interface; callers never see which one they are on.
"""
