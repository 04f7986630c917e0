"""Django's PostgreSQL backend, with a health check that costs no round trip.

With persistent connections (CONN_MAX_AGE) and CONN_HEALTH_CHECKS, Django
asks the database `SELECT 1` at the start of every request that reuses a
connection: a round trip on every page, the barest included, before any of
its own. An idle connection has nothing to read, and one the server ended
(a restart, `pg_terminate_backend`, an idle timeout) has its notice and the
end of the stream to read: a look at the socket, without waiting, tells the
two apart. A connection found so is closed and a new one made, as Django's
own check does. After an error inside a request Django still asks `SELECT 1`
(`close_if_unusable_or_obsolete` calls `is_usable`), as before."""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        if not self._still_open():
            self.close()
        self.health_check_done = True

    def _still_open(self) -> bool:
        raw = self.connection
        try:
            if raw.closed:
                return False
            readable, _, _ = select.select([raw.fileno()], [], [], 0)
        except (OSError, ValueError, self.Database.Error):
            return False
        # Anything waiting on an idle connection is the server's goodbye (or
        # something unasked for): a new connection is the safe answer.
        return not readable
