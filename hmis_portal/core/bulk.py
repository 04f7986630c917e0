"""Set-based writes for the sweeps and the services that change many rows at
once (STYLE §5): claim a bounded batch, then write its audit events and its
outbox rows with one `INSERT … SELECT` each over the claimed ids.

The statements are the same on PostgreSQL and SQLite ≥ 3.35 (RETURNING,
ON CONFLICT), except where this module says otherwise; `postgres()` is the
one place that tells them apart. SQLite has no row locks (a writer holds the
whole database), so a claim there takes no `FOR UPDATE SKIP LOCKED`.

A fragment of SQL travels with its own parameters as `Sql(text, params)`;
where a helper takes a column's value, a plain Python value is a parameter
and an `Sql` is an expression over the statement's tables. Each helper puts
the parameters in the order of its statement, so callers never count `%s`.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from .models import AuditEvent, Notification, WebhookDelivery, WebhookSubscription

EVENTS = AuditEvent._meta.db_table
OUTBOX = Notification._meta.db_table
WEBHOOKS = WebhookDelivery._meta.db_table
SUBSCRIPTIONS = WebhookSubscription._meta.db_table


@dataclass(frozen=True)
class Sql:
    """An SQL expression (or clause) and the parameters of its `%s`."""

    text: str
    params: tuple = ()

    def __str__(self) -> str:
        return self.text


def _sql(value) -> Sql:
    """A value as a parameter; an `Sql` as it is."""
    return value if isinstance(value, Sql) else Sql("%s", (value,))


def _join(parts: Iterable[Sql], separator: str = ", ") -> Sql:
    parts = list(parts)
    return Sql(separator.join(part.text for part in parts), tuple(p for part in parts for p in part.params))


# --- the dialect ----------------------------------------------------------------

def postgres() -> bool:
    """The one switch between the two databases' SQL."""
    return connection.vendor == "postgresql"


def wait_for_key(key: str) -> None:
    """Inside a transaction: wait until no other transaction holds `key` (a
    hex digest), and hold it until this one ends, so two requests that check
    and write for the same key run one after the other. PostgreSQL: an
    advisory lock; SQLite lets one writer in at a time anyway."""
    if postgres():
        execute("SELECT pg_advisory_xact_lock(%s)", [int(key[:15], 16)])


def moment(value: dt.datetime | None):
    """A datetime as the database takes it in a raw statement."""
    return connection.ops.adapt_datetimefield_value(value)


def day(value: dt.date | None):
    """A date as the database takes it in a raw statement."""
    return connection.ops.adapt_datefield_value(value)


def read_day(value) -> dt.date | None:
    """A date column as a raw cursor returns it (SQLite: text)."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def isoformat(column: str) -> str:
    """SQL for Python's `isoformat()` of a stored (UTC) timestamp, as the
    outbox's dedupe keys written by `notify` carry it."""
    if postgres():
        return (f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
                f"CASE WHEN extract(microseconds FROM {column})::bigint %% 1000000 <> 0 "
                f"THEN to_char({column} AT TIME ZONE 'UTC', '.US') ELSE '' END || '+00:00'")
    # SQLite stores UTC as isoformat(" ") without an offset.
    return f"REPLACE({column}, ' ', 'T') || '+00:00'"


def days_since(column: str, at: dt.datetime) -> Sql:
    """round((at - column) in days, 3), as Python computes it from two datetimes."""
    if postgres():
        return Sql(f"ROUND(CAST(EXTRACT(EPOCH FROM (%s - {column})) / 86400 AS NUMERIC), 3)", (moment(at),))
    return Sql(f"ROUND(julianday(%s) - julianday({column}), 3)", (moment(at),))


def skip_locked() -> str:
    """Rows another transaction holds are left for the next run, not waited for."""
    return " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""


# --- statements -------------------------------------------------------------------

def among(column: str, ids: Iterable) -> Sql:
    """`column IN (…)` for these ids (never empty: callers return early)."""
    ids = list(ids)
    return Sql(f"{column} IN ({', '.join(['%s'] * len(ids))})", tuple(ids))


def all_of(*conditions) -> Sql:
    """Conditions (`Sql`, or plain SQL text without parameters) joined with AND."""
    return _join((Sql(f"({c.text})", c.params) if isinstance(c, Sql) else Sql(f"({c})") for c in conditions),
                 " AND ")


def values(rows: Sequence[Sequence]) -> Sql:
    """A VALUES list to join as a table; its columns are column1, column2, …
    on both databases."""
    one = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    return Sql("(VALUES " + ", ".join([one] * len(rows)) + ")", tuple(value for row in rows for value in row))


def rows_first(name: str, table: str, ids: Iterable, *, columns: Sequence[str]) -> Sql:
    """The rows of `table` with these ids (never empty: callers return
    early), as a table `name` of their `columns` that the statement reads
    first, by primary key: a `WITH` item for `insert_notifications(first=…)`.

    Materialized, so the planner cannot turn the join around. Joined to a
    small in-query list (VALUES), the planner estimates the list and its
    joins at a handful of rows and may start from them, reading for each
    list row every row of the big table that matches it (a program's whole
    referral history) to find the few ids of the batch. Read first, the
    batch costs its own rows whatever the table's size."""
    chosen = among("id", ids)
    return Sql(f"{name} AS MATERIALIZED (SELECT {', '.join(columns)} FROM {table} WHERE {chosen.text})",
               chosen.params)


def execute(sql, params=()) -> list:
    """Run one statement; its rows, if it returns any."""
    if isinstance(sql, Sql):
        sql, params = sql.text, [*sql.params, *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall() if cursor.description else []


def claim(table: str, *, due: Sql, order: str, size: int, changes: Sql, returning: Sequence[str] = ("id",),
          carry: Sequence[str] = ()) -> list[tuple]:
    """Change up to `size` rows of `table` that are `due`, first in `order`
    (which ends with `id`, so the batch is well defined), and return each
    changed row's `returning` columns as they are after the change, then its
    `carry` columns as they were before it; sorted.

    One statement on PostgreSQL: the rows are selected `FOR UPDATE SKIP
    LOCKED`, so a row someone is changing right now is left for the next run
    rather than waited for, two workers take disjoint batches, and a sweep
    never waits for a lock (it cannot deadlock). `due` sees the table
    unaliased; put a range of ids or a keyset position in it for a chunk or
    the next batch. On SQLite a writer has the whole database."""
    selected = Sql(f"SELECT id{''.join(', ' + c for c in carry)} FROM {table} WHERE {due.text} "
                   f"ORDER BY {order} LIMIT %s", (*due.params, size))
    if not carry:
        rows = execute(Sql(f"UPDATE {table} SET {changes.text} WHERE id IN ({selected.text}{skip_locked()}) "
                           f"RETURNING {', '.join(returning)}", (*changes.params, *selected.params)))
        return sorted(rows)
    if postgres():
        names = ", ".join(f"carried_{i}" for i in range(len(carry)))
        rows = execute(Sql(
            f"UPDATE {table} SET {changes.text} FROM ({selected.text}{skip_locked()}) claimed (claimed_id, {names}) "
            f"WHERE {table}.id = claimed.claimed_id RETURNING "
            + ", ".join([*(f"{table}.{c}" for c in returning), *(f"claimed.carried_{i}" for i in range(len(carry)))]),
            (*changes.params, *selected.params)))
        return sorted(rows)
    # SQLite: RETURNING names only the changed table, so the selection is read first.
    before = {row[0]: row[1:] for row in execute(selected)}
    if not before:
        return []
    key = list(returning).index("id")
    changed = execute(Sql(f"UPDATE {table} SET {changes.text} WHERE {among('id', sorted(before)).text} "
                          f"RETURNING {', '.join(returning)}", (*changes.params, *sorted(before))))
    return sorted((*row, *before[row[key]]) for row in changed)


@dataclass(frozen=True)
class Batch:
    """A sweep's batch, as a set of rows a transition's service changes: up
    to `size` rows that are `due`, first in `order` (ending with `id`), taken
    by the statement that changes them (`claim`: a row another transaction
    holds is left for the next run); `carry`: columns the service returns as
    they were before the change (e.g. the clock a message names)."""

    due: Sql
    order: str
    size: int
    carry: tuple[str, ...] = ()


def change(table: str, rows: "Iterable[int] | Batch", *, allowed, changes: Sql,
           returning: Sequence[str] = ("id",)) -> list[tuple]:
    """A transition's one statement over a set of rows: the rows with these
    ids (the caller holds their locks), or a sweep's `Batch` (claimed by this
    very statement). Only rows where `allowed` holds change, so a row that
    has already moved is left as it is. Returns each changed row's
    `returning` columns, then a batch's `carry` columns; sorted."""
    if isinstance(rows, Batch):
        return claim(table, due=all_of(allowed, rows.due), order=rows.order, size=rows.size, changes=changes,
                     returning=returning, carry=rows.carry)
    ids = sorted(set(rows))
    if not ids:
        return []
    where = all_of(allowed, among("id", ids))
    return sorted(execute(Sql(f"UPDATE {table} SET {changes.text} WHERE {where.text} "
                              f"RETURNING {', '.join(returning)}", (*changes.params, *where.params))))


def insert_events(*, source: str, key: str, ids: Iterable[int], content_type: int, verb: str, object_repr: Sql,
                  from_state="", to_state="", reason="", actor_id: int | None = None, ordered: bool = False) -> int:
    """One audit event per id (as `record_event`): `INSERT … SELECT` from
    `source` (a FROM clause whose `key` column is the subject's id), in the
    order of the ids with `ordered` (a sort: leave it out where the events'
    order does not matter). `object_repr` is the subject's `str()` in SQL;
    the states and the reason are values or `Sql` over `source`."""
    ids = list(ids)
    if not ids:
        return 0
    columns = _join([_sql(actor_id), _sql(verb), _sql(content_type), Sql(f"CAST({key} AS TEXT)"),
                     Sql(f"SUBSTR({object_repr.text}, 1, 200)", object_repr.params), _sql(from_state),
                     _sql(to_state), _sql(reason), Sql("'{}'"), _sql(moment(timezone.now()))])
    execute(Sql(f"INSERT INTO {EVENTS} (actor_id, verb, content_type_id, object_id, object_repr, from_state, "
                f"to_state, reason, data, created_at) SELECT {columns.text} FROM {source} "
                f"WHERE {among(key, ids).text}{' ORDER BY ' + key if ordered else ''}", (*columns.params, *ids)))
    return len(ids)


def insert_notifications(*, source: Sql, where: Sql, recipient: Sql, email: Sql, subject, body, link,
                         dedupe_key, order: str = "", first: Sql | None = None) -> list[int]:
    """One outbox row per row of `source` that passes `where` (as `notify`
    with a dedupe key): `INSERT … SELECT … ON CONFLICT (dedupe_key) DO
    NOTHING`, so a key already in the outbox (an earlier run, another worker)
    is skipped. `subject` and `dedupe_key` are cut to 200 characters, as
    `notify` cuts them; `body` is the whole text, link included. A
    `dedupe_key` of None writes messages that are never deduplicated.
    `first`: a batch's rows read before `source` joins them (`rows_first`),
    which `source` names as a table.

    Returns the new rows' ids: hand them to `outbox.deliver_after_commit`."""
    stamp = moment(timezone.now())
    subject, key = _sql(subject), _sql(dedupe_key) if dedupe_key is not None else Sql("NULL")
    columns = _join([recipient, email, Sql(f"SUBSTR({subject.text}, 1, 200)", subject.params), _sql(body),
                     _sql(link), Sql(f"SUBSTR({key.text}, 1, 200)", key.params),
                     _sql(Notification.Status.PENDING.value), _sql(0), _sql(stamp), Sql("NULL"), _sql(""),
                     _sql(stamp), Sql("NULL")])
    head = Sql(f"WITH {first.text} ", first.params) if first is not None else Sql("")
    rows = execute(Sql(
        f"INSERT INTO {OUTBOX} (recipient_id, to_email, subject, body, link, dedupe_key, status, attempts, "
        f"next_attempt_at, claimed_at, last_error, created_at, sent_at) "
        f"{head.text}SELECT {columns.text} FROM {source.text} WHERE {where.text}"
        f"{' ORDER BY ' + order if order else ''} ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        (*head.params, *columns.params, *source.params, *where.params)))
    return [row[0] for row in rows]


def json_object(pairs: Sequence[tuple[str, object]]) -> Sql:
    """A JSON object built in SQL: each key (a name written in the code) with
    its value (a parameter, or an `Sql` over the statement's tables, which may
    itself be a `json_object`)."""
    parts = []
    for name, value in pairs:
        if not name.replace("_", "").isalnum():
            raise ValueError(f"Not a JSON key for SQL: {name!r}")
        value = value if isinstance(value, Sql) else Sql("CAST(%s AS TEXT)", (value,)) if isinstance(value, str) \
            else _sql(value)
        parts.append(Sql(f"'{name}', {value.text}", value.params))
    inner = _join(parts)
    function = "jsonb_build_object" if postgres() else "json_object"
    return Sql(f"{function}({inner.text})", inner.params)


def insert_webhook_deliveries(*, source: str, key: str, ids: Iterable[int], event_type: str, event_prefix: str,
                              subject_prefix: str, timestamp: str, data: Sequence[tuple[str, object]]) -> int:
    """One webhook delivery per row of `source` (whose `key` is the subject's
    id, among `ids`) and subscription to `event_type` (as
    `webhooks.emit`): `INSERT … SELECT` over the subscriptions, each event's
    id `event_prefix` + the subject's id. `data` are the payload's `data`
    members: values, or `Sql` over `source`. Returns how many were written."""
    ids = list(ids)
    if not ids:
        return 0
    payload = json_object([("type", event_type), ("timestamp", timestamp), ("data", json_object(data))])
    stamp = moment(timezone.now())
    columns = _join([Sql("w.id"), Sql(f"CAST(%s AS TEXT) || CAST({key} AS TEXT)", (event_prefix,)),
                     _sql(event_type), Sql(f"CAST(%s AS TEXT) || CAST({key} AS TEXT)", (subject_prefix,)),
                     payload, _sql(WebhookDelivery.Status.PENDING.value), _sql(0), _sql(stamp), Sql("NULL"),
                     Sql("NULL"), _sql(""), _sql(stamp), Sql("NULL")])
    rows = execute(Sql(
        f"INSERT INTO {WEBHOOKS} (subscription_id, event_id, event_type, subject, payload, status, attempts, "
        f"next_attempt_at, claimed_at, last_status, last_error, created_at, delivered_at) "
        f"SELECT {columns.text} FROM {source} CROSS JOIN {SUBSCRIPTIONS} w "
        f"WHERE w.event_types LIKE %s AND {among(key, ids).text} ORDER BY {key}, w.id RETURNING id",
        (*columns.params, f"% {event_type} %", *ids)))
    return len(rows)
