"""The database: engines and sessions (session.py) and the schema under Alembic (schema.py, migrations/)."""
