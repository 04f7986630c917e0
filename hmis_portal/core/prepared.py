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

A page made of parts that each ask a few such counts pays a round trip per
question; asked together they cost one. `open_requests.ask(user=user.pk)`
is the question, and a part written as a generator yields its questions
(`rows = yield question`, or a tuple of them) and returns its result:
`answer_all(parts)` runs the parts side by side and sends the questions
they have all reached in one statement (PostgreSQL), until every part is
done; `answer(part)` runs one alone. A question whose query is built for
the person asking (narrowed to what they may see) is `ask_built(queryset)`:
compiled on each request, asked with the rest.

A statement the ORM cannot write (the counts report joins names to an
aggregate's few rows) is `Prepared(build, around=statement)`: `build()` gives
its querysets, `statement(*their_sql)` the SQL run, each queryset's SQL placed
once, in order, with no placeholder of its own; its rows come back as tuples,
as the database gives them.
"""

import datetime as dt
import inspect
import json
import threading
import weakref

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


# What each kind of column is in JSON (PostgreSQL's json_agg): moments and
# days as ISO text (in the connection's time zone, UTC), the rest as the
# driver gives them. Kinds not listed (numbers with decimals, UUIDs, JSON,
# durations...) would not come back the same: their queries go alone.
_UNSAFE = object()
_FROM_JSON = {
    "DateTimeField": dt.datetime.fromisoformat, "DateField": dt.date.fromisoformat,
    **dict.fromkeys(("AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField",
                     "SmallIntegerField", "PositiveIntegerField", "PositiveBigIntegerField",
                     "PositiveSmallIntegerField", "BooleanField", "CharField", "TextField", "SlugField",
                     "EmailField", "URLField", "FileField"))}


def _json_reader(column):
    field = column.output_field
    while field.is_relation:
        field = field.target_field
    return _FROM_JSON.get(field.get_internal_type(), _UNSAFE)


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
            # Its own rows, always asked alone (`answer_all` reads no JSON of it).
            self.converters, self.readers = None, None
            return
        self.select = [column for column, _sql, _alias in compiler.select]
        self.names = [*query.extra_select, *query.values_select, *query.annotation_select]
        if len(self.names) != len(self.select):
            raise ValueError("Prepared queries are values() querysets")
        # Which columns Django converts, and how, depends only on the
        # columns and the database's kind: found once, not per call.
        self.converters = compiler.get_converters(self.select)
        readers = [_json_reader(column) for column in self.select]
        # How each column reads back from JSON, or None when one of them
        # would not come back as the database driver gives it (then the
        # query is always asked alone).
        self.readers = None if _UNSAFE in readers else readers

    def statement(self, connection, values: dict) -> tuple[str, list]:
        """The SQL and its parameters with `values` in place of the params."""
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
        return "".join(text), params

    def rows(self, connection, rows) -> list[dict]:
        """The database's rows as dicts, their values converted as Django converts them
        (a statement around querysets: its rows as the database gives them)."""
        if self.query is None:
            return rows
        if self.converters:
            rows = [self._convert(connection, row) for row in rows]
        names = self.names
        return [dict(zip(names, row)) for row in rows]

    def _convert(self, connection, row) -> list:
        """`SQLCompiler.apply_converters` for one row, with this call's connection."""
        row = list(row)
        for position, (converters, expression) in self.converters.items():
            value = row[position]
            for converter in converters:
                value = converter(value, expression, connection)
            row[position] = value
        return row

    def run(self, connection, values: dict) -> list[dict]:
        sql, params = self.statement(connection, values)
        with connection.cursor() as cursor:
            execute(connection, cursor, sql, params)
            rows = cursor.fetchall()
        return self.rows(connection, rows)


# Statements a connection keeps prepared at most; past them, the rest are sent as text.
PREPARED_PER_CONNECTION = 200
_NOT_PREPARED = ""  # a statement whose preparing failed on this connection: sent as text
# The statements each database connection (the driver's, whichever wrapper
# uses it) has prepared, by SQL: gone with the connection.
_prepared: "weakref.WeakKeyDictionary[object, dict[str, str]]" = weakref.WeakKeyDictionary()


def execute(connection, cursor, sql: str, params: list) -> None:
    """`cursor.execute(sql, params)`, and on PostgreSQL through a statement the
    connection prepared (PREPARE) the first time it ran `sql`: the server
    parses and plans it once per connection, not on every call. Planning the
    home page's to-dos (a dozen small queries in one statement) cost the
    database more than running them, on every request.

    A prepared statement lives as long as its connection (a rollback does not
    undo it), so the names are kept per connection: a new connection prepares
    again. The PREPARE rides with its first EXECUTE, in one round trip. Should
    preparing fail, or any call of it (a table changed under a kept plan), the
    statement is sent as text on that connection from then on: which part
    failed is not known, and a name prepared twice is an error. (A pooler
    that shares one server connection between clients, pgbouncer in
    transaction mode, would need this off.)"""
    if connection.vendor != "postgresql":
        cursor.execute(sql, params)
        return
    names = _prepared.setdefault(connection.connection, {})
    name = names.get(sql)
    if name is None and len(names) >= PREPARED_PER_CONNECTION or name == _NOT_PREPARED:
        cursor.execute(sql, params)
        return
    arguments = f"({', '.join(['%s'] * len(params))})" if params else ""
    if name is None:
        name = f"portal_prepared_{len(names)}"
        # The placeholders numbered as the server's ($1, $2…); the SQL holds no
        # literal % (`_Compiled` refuses one), so every %s is a parameter.
        parts = sql.split("%s")
        numbered = "".join(part + (f"${index}" if index < len(parts) else "") for index, part in enumerate(parts, 1))
        statement = f"PREPARE {name} AS {numbered}; EXECUTE {name}{arguments}"
    else:
        statement = f"EXECUTE {name}{arguments}"
    names[sql] = _NOT_PREPARED  # until it answers: an error leaves it so
    cursor.execute(statement, params)
    names[sql] = name


def statement_of(connection, sql: str) -> str:
    """The SQL behind a query as captured on `connection` (CaptureQueriesContext,
    connection.queries): for a statement `execute` prepared (its PREPARE with
    the first EXECUTE, or a later EXECUTE), that statement's own text, with
    its %s placeholders; else `sql` itself. For the tests and benchmarks that
    read or EXPLAIN what a page asked."""
    if not sql.startswith(("EXECUTE ", "PREPARE ")):
        return sql
    name = sql.split()[1].split("(", 1)[0]
    texts = {kept: text for text, kept in _prepared.get(connection.connection, {}).items()}
    return texts.get(name, sql)


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
        return self.compiled(connection).run(connection, values)

    def ask(self, **values) -> "Ask":
        """This query with these values, to be answered with others (`answer_all`)."""
        return Ask(self, values)

    def compiled(self, connection) -> _Compiled:
        compiled = self._compiled.get(connection.vendor)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(connection.vendor)
                if compiled is None:
                    compiled = self._compiled[connection.vendor] = _Compiled(self._build(), connection, self._around)
        return compiled


class Ask:
    """A `Prepared` query with its values, asked with others by `answer_all`;
    `then(shape)` makes its answer `shape(rows)`."""

    __slots__ = ("query", "values", "shape")

    def __init__(self, query: Prepared, values: dict, shape=None):
        self.query, self.values, self.shape = query, values, shape

    def then(self, shape) -> "Ask":
        first = self.shape
        return Ask(self.query, self.values, shape if first is None else lambda rows: shape(first(rows)))

    def answer(self, rows: list[dict]):
        return rows if self.shape is None else self.shape(rows)


class _BuiltNow:
    """A queryset built for one request, compiled when it is asked (`ask_built`)."""

    __slots__ = ("queryset", "_compiled")

    def __init__(self, queryset):
        self.queryset, self._compiled = queryset, None

    def compiled(self, connection) -> _Compiled:
        if self._compiled is None:
            self._compiled = _Compiled(self.queryset, connection)
        return self._compiled


def ask_built(queryset) -> Ask:
    """A `values()` queryset whose shape depends on the person (what they may
    see narrows it), as a question answered with the others (`answer_all`):
    compiled on each request, as the ORM would compile it, but asked in the
    same round trip as the rest. A query the same for everyone is a `Prepared`."""
    return Ask(_BuiltNow(queryset), {})


def ask_count(queryset) -> Ask:
    """How many rows `queryset` (built for the person asking) has, as a
    question answered with the others: `ask_built` of its count."""
    from django.db.models import Count

    return ask_built(totals(queryset, n=Count("pk"))).then(total_n)


def answer(step):
    """`answer_all` of one step: its questions asked as it reaches them."""
    return answer_all([step])[0]


def answer_all(steps: list) -> list:
    """The answer of each step: an `Ask`; a generator that yields an `Ask`
    (or a tuple of them, where anything else is an answer already, so a
    question asked only sometimes keeps its place), is sent its answer (or
    theirs, as a tuple) and returns its own; or anything else, its own
    answer already.

    The generators run side by side: the questions each has reached when all
    of them wait go to the database together, in one statement on PostgreSQL,
    so a page whose parts each ask a few small questions (the home page's
    to-dos) pays one round trip a round instead of one a question. A step
    still asks the database directly what it needs before its next question."""
    results = list(steps)
    waiting = {}

    def advance(index, steps_, sent):
        try:
            asked = steps_.send(sent)
        except StopIteration as done:
            results[index] = done.value
            waiting.pop(index, None)
        else:
            waiting[index] = (steps_, asked)

    for index, step in enumerate(steps):
        if isinstance(step, Ask):
            waiting[index] = (None, step)
        elif inspect.isgenerator(step):
            advance(index, step, None)
    while waiting:
        round_ = list(waiting.items())
        asks = [ask for _index, (_steps, asked) in round_ for ask in (asked if isinstance(asked, tuple) else (asked,))
                if isinstance(ask, Ask)]
        answers = iter(_together(asks))
        for index, (steps_, asked) in round_:
            got = (tuple(next(answers) if isinstance(ask, Ask) else ask for ask in asked) if isinstance(asked, tuple)
                   else next(answers) if isinstance(asked, Ask) else asked)
            if steps_ is None:
                results[index] = got
                del waiting[index]
            else:
                advance(index, steps_, got)
    return results


def _together(asks: list[Ask]) -> list:
    """The answers of `asks`: on PostgreSQL those that read back from JSON in
    one statement, each query's rows aggregated in one column, the others
    (and on other databases every one) alone."""
    # The same question from two steps (where a person holds HMIS access,
    # which two apps' to-dos read) is asked once.
    distinct: list[Ask] = []
    which = []
    for ask in asks:
        for position, seen in enumerate(distinct):
            if ask.query is seen.query and ask.values == seen.values:
                break
        else:
            position = len(distinct)
            distinct.append(ask)
        which.append(position)
    rows = _together_rows(distinct)
    return [ask.answer(rows[position]) for ask, position in zip(asks, which)]


def _together_rows(asks: list[Ask]) -> list[list[dict]]:
    connection = connections[DEFAULT_DB_ALIAS]
    compiled = [ask.query.compiled(connection) for ask in asks]
    rows: list = [None] * len(asks)
    joint = [index for index, query in enumerate(compiled) if query.readers is not None]
    if connection.vendor == "postgresql" and len(joint) > 1:
        columns, params = [], []
        for index in joint:
            sql, values = compiled[index].statement(connection, asks[index].values)
            names = ", ".join(f'"c{n}"' for n in range(len(compiled[index].select)))
            # json_agg takes the rows in the order the query gives them (its
            # ORDER BY): an aggregate over a sorted subquery keeps its order.
            columns.append(f"(SELECT COALESCE(json_agg(json_build_array({names})), '[]') FROM ({sql}) AS q({names}))")
            params.extend(values)
        with connection.cursor() as cursor:
            execute(connection, cursor, "SELECT " + ", ".join(columns), params)
            found = cursor.fetchone()
        for index, value in zip(joint, found):
            readers = compiled[index].readers
            if isinstance(value, str):
                value = json.loads(value)
            rows[index] = compiled[index].rows(connection, [
                tuple(item if item is None or read is None else read(item) for read, item in zip(readers, row))
                for row in value])
    for index, ask in enumerate(asks):
        if rows[index] is None:
            rows[index] = compiled[index].run(connection, ask.values)
    return rows


def totals(queryset, **aggregates):
    """`queryset.aggregate(**aggregates)` as a `values()` queryset for `Prepared`:
    one row, whatever the number of rows counted (no GROUP BY)."""
    from django.db.models import Value

    return queryset.order_by().values(totals=Value(1)).annotate(**aggregates)


def total_n(rows: list[dict]) -> int:
    """The `n` of the one row `totals(queryset, n=...)` gives: `ask.then(total_n)`."""
    return rows[0]["n"]
