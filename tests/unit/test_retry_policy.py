"""Which failures the consumer runner and relay retry forever, and which count towards the DLQ."""

from aiokafka.errors import KafkaConnectionError
from sqlalchemy.exc import OperationalError

from leadloop.retry import is_transient


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def test_database_connection_loss_is_transient() -> None:
    assert is_transient(OperationalError("SELECT 1", {}, ConnectionRefusedError()))


def test_broker_unreachable_is_transient() -> None:
    assert is_transient(KafkaConnectionError())


def test_serialization_failure_and_admin_shutdown_are_transient() -> None:
    assert is_transient(_PgError("40001"))
    assert is_transient(_PgError("57P01"))


def test_cause_chain_is_followed() -> None:
    try:
        try:
            raise ConnectionResetError()
        except ConnectionResetError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert is_transient(wrapped)


def test_bug_in_a_handler_is_not_transient() -> None:
    assert not is_transient(KeyError("profile"))
    assert not is_transient(_PgError("23505"))  # unique violation: retrying will not help
