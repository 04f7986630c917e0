"""Running state changes at the same moment, for the PostgreSQL race tests."""

import threading

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection


def race(*calls) -> list[str]:
    """Run the calls at once, each in its own thread and database connection.
    Each outcome is "done", the message of its refusal, or "error: …" for any
    other exception (which the tests never accept)."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            call()
            outcomes[index] = "done"
        except (ValidationError, PermissionDenied) as exc:
            outcomes[index] = " ".join(getattr(exc, "messages", [str(exc)]))
        except Exception as exc:  # noqa: BLE001 - any other exception is the failure under test
            outcomes[index] = f"error: {exc.__class__.__name__}: {exc}"
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes
