"""The shared store: one SQL database (SQLite by default, PostgreSQL for many replicas) for every process."""
