"""Queries a page runs on every request with only their values changing (the
home page's to-dos), written with the ORM and turned into SQL once per
process and database, not on each request.

Building a queryset and compiling it costs more than running it for the small
counts a home page asks: `Prepared(build)` calls `build()` once, a `values()`
queryset whose changing values are `Param("name")` (`many=True` for an
`__in` list), keeps its SQL, and on each call puts the values given by name
in place of the params and runs it, rows as dicts (the database's values
converted as Django converts them). Everything else in the queryset (statuses,
joins, the limit) is fixed when it is built: what varies must be a `Param`.

    open_requests = Prepared(lambda: AccessRequest.objects.filter(
        status=AccessRequest.Status.OPEN, user_id=Param("user")).values("organization_id"))
    open_requests(user=user.pk)

A statement the ORM cannot write (the counts report joins names to an
aggregate's few rows) is `Prepared(build, around=statement)`: `build()` gives
its querysets, `statement(*their_sql)` the SQL run, each queryset's SQL placed
once, in order, with no placeholder of its own; its rows come back as tuples,
as the database gives them.
"""

import datetime as dt
import threading

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Expression, fields


class _Slot:
    """Where a param's value goes in the compiled SQL."""

    __slots__ = ("name", "many")

    def __init__(self, name: str, many: bool):
        self.name, self.many = name, many


class Param(Expression):
    """A value given at each call of a `Prepared` query, by name."""

    def __init__(self, name: str, *, many: bool = False, output_field=None):
        super().__init__(output_field=output_field or fields.Field())
        self.name, self.many = name, many

    def as_sql(self, compiler, connection):
        # `x IN (%s)` when many: the call writes as many placeholders as values.
        return "%s", [_Slot(self.name, self.many)]

    def get_group_by_cols(self):
        return []

    def __repr__(self):
        return f"Param({self.name!r})"


def _adapt(value, connection):
    """A value as the ORM would pass it to the database driver."""
    if isinstance(value, dt.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, dt.date):
        return connection.ops.adapt_datefield_value(value)
    return value


def _statement(querysets, around, connection) -> tuple[str, list]:
    """The SQL of `around` over the querysets' own, with their params in order."""
    texts, params = [], []
    for queryset in querysets:
        sql, found = queryset.query.get_compiler(connection=connection).as_sql()
        texts.append(sql)
        params.extend(found)
    sql = around(*texts)
    at = 0
    for text in texts:
        found = sql.find(text, at)
        if found < 0:
            raise ValueError("Prepared: the statement must hold each queryset's SQL once, in order")
        at = found + len(text)
    return sql, params


class _Compiled:
    def __init__(self, built, connection, around=None):
        if around is None:
            query = built.query
            compiler = query.get_compiler(connection=connection)
            sql, params = compiler.as_sql()
        else:
            query = compiler = None
            sql, params = _statement(built, around, connection)
        if "%%" in sql:
            raise ValueError("Prepared queries take no literal % (write it as a Param)")
        self.query = query
        self.parts = sql.split("%s")
        self.params = list(params)
        if len(self.parts) != len(self.params) + 1:
            raise ValueError("Prepared: the SQL's placeholders do not match its parameters")
        if query is None:
            return
        self.select = [column for column, _sql, _alias in compiler.select]
        self.names = [*query.extra_select, *query.values_select, *query.annotation_select]
        if len(self.names) != len(self.select):
            raise ValueError("Prepared queries are values() querysets")

    def run(self, connection, values: dict) -> list:
        text, params = [self.parts[0]], []
        for param, part in zip(self.params, self.parts[1:]):
            if isinstance(param, _Slot):
                value = values[param.name]
                if param.many:
                    value = [_adapt(item, connection) for item in value]
                    # An empty list matches nothing, as `__in=[]` does.
                    text.append(", ".join(["%s"] * len(value)) or "NULL")
                    params.extend(value)
                else:
                    text.append("%s")
                    params.append(_adapt(value, connection))
            else:
                text.append("%s")
                params.append(param)
            text.append(part)
        with connection.cursor() as cursor:
            cursor.execute("".join(text), params)
            rows = cursor.fetchall()
        if self.query is None:  # a statement around querysets: its own rows
            return rows
        compiler = self.query.get_compiler(connection=connection)
        converters = compiler.get_converters(self.select)
        if converters:
            rows = compiler.apply_converters(rows, converters)
        names = self.names
        return [dict(zip(names, row)) for row in rows]


class Prepared:
    """`build()`'s queryset, compiled once per database and run with new values
    (with `around`, the statement around `build()`'s querysets)."""

    def __init__(self, build, *, around=None):
        self._build = build
        self._around = around
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def __call__(self, **values) -> list:
        connection = connections[DEFAULT_DB_ALIAS]
        compiled = self._compiled.get(connection.vendor)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(connection.vendor)
                if compiled is None:
                    compiled = self._compiled[connection.vendor] = _Compiled(self._build(), connection, self._around)
        return compiled.run(connection, values)


def totals(queryset, **aggregates):
    """`queryset.aggregate(**aggregates)` as a `values()` queryset for `Prepared`:
    one row, whatever the number of rows counted (no GROUP BY)."""
    from django.db.models import Value

    return queryset.order_by().values(totals=Value(1)).annotate(**aggregates)
