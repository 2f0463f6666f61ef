"""What a PostgreSQL failure says to the operator (`storage/postgres/pool.translate`)."""

from __future__ import annotations

from psycopg import errors

from surge.core.errors import StorageError, StorageUnavailable
from surge.storage.postgres.pool import translate


def test_a_prepared_statement_gone_points_at_a_transaction_mode_pooler() -> None:
    # What PostgreSQL answers when PgBouncer hands a transaction another server connection.
    error = translate(errors.InvalidSqlStatementName('prepared statement "surge_3" does not exist'))
    assert type(error) is StorageError
    assert 'prepared statement "surge_3" does not exist' in str(error)
    assert "pooler in transaction mode" in str(error)
    assert "--postgres-session-uri" in str(error)


def test_other_failures_keep_their_own_message() -> None:
    error = translate(errors.UniqueViolation("duplicate key value violates unique constraint"))
    assert str(error) == "postgres: duplicate key value violates unique constraint"
    assert isinstance(translate(errors.AdminShutdown("terminating")), StorageUnavailable)
