"""Queries built once and run with new values (hmis_portal/core/prepared.py)
answer what the same queryset built afresh answers, on either database; and
`{% url %}` without arguments answers what `reverse()` does."""

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, Value
from django.db.models.functions import TruncDate
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organization
from hmis_portal.core.prepared import Param, Prepared, answer, answer_all, ask_built, total_n, totals
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def _fresh(names, created_before):
    return list(Organization.objects.filter(name__in=names, created_at__lte=created_before).order_by("name")
                .values("name"))


def test_a_prepared_query_answers_as_the_queryset_built_afresh_and_is_built_once():
    for name in ("Alder", "Birch", "Cedar"):
        OrganizationFactory(name=name)
    builds = []

    def build():
        builds.append(1)
        return (Organization.objects.filter(name__in=Param("names", many=True), created_at__lte=Param("before"))
                .order_by("name").values("name"))

    query = Prepared(build)
    now = timezone.now() + dt.timedelta(seconds=1)
    for names in (["Alder"], ["Alder", "Cedar"], ["Birch", "Cedar", "Nobody"], []):
        with CaptureQueriesContext(connection) as captured:
            rows = query(names=names, before=now)
        assert rows == _fresh(names, now), names
        assert len(captured) == 1
    assert query(names=["Alder"], before=now - dt.timedelta(days=1)) == []
    assert len(builds) == 1


def test_totals_are_one_row_with_the_database_values_converted():
    OrganizationFactory(name="Alder")
    OrganizationFactory(name="Birch")
    query = Prepared(lambda: totals(Organization.objects.all(),
                                    named=Count("pk", filter=Q(name=Param("name"))), every=Count("pk"),
                                    first=Count("pk", filter=Q(created_at__lte=Param("at")))))
    [row] = query(name="Alder", at=timezone.now() + dt.timedelta(seconds=1))
    assert (row["named"], row["every"], row["first"]) == (1, Organization.objects.count(), Organization.objects.count())
    [none] = query(name="Nobody", at=timezone.now() - dt.timedelta(days=1))
    assert (none["named"], none["first"]) == (0, 0)


# Questions of every kind of column a home page reads: text, moments, days,
# counts, yes/no, nothing (NULL), and none or several rows in their order.
_NAMED = Prepared(lambda: Organization.objects.filter(name__in=Param("names", many=True)).order_by("-name")
                  .values("pk", "name", "slug", "created_at").annotate(day=TruncDate("created_at")))
_COUNTED = Prepared(lambda: totals(Organization.objects.all(), named=Count("pk", filter=Q(name=Param("name"))),
                                   before=Count("pk", filter=Q(created_at__lte=Param("at")))))
_FLAGGED = Prepared(lambda: Organization.objects.filter(pk__in=Param("ids", many=True)).order_by("pk").values("pk")
                    .annotate(has_twin=Exists(Organization.objects.filter(name=OuterRef("name")).exclude(pk=OuterRef("pk"))),
                              nothing=Value(None, output_field=Organization._meta.get_field("created_at")),
                              alder=Q(name="Alder"))[:2])


def test_questions_asked_together_answer_as_each_asked_alone_in_one_round_trip():
    organizations = [OrganizationFactory(name=name) for name in ("Alder", "Birch", "Cedar")]
    at = timezone.now() + dt.timedelta(seconds=1)
    questions = [
        (_NAMED, {"names": ["Alder", "Cedar", "Nobody"]}), (_NAMED, {"names": []}),
        (_COUNTED, {"name": "Birch", "at": at}),
        (_FLAGGED, {"ids": [organization.pk for organization in organizations]})]
    alone = [query(**values) for query, values in questions]
    assert [row["name"] for row in alone[0]] == ["Cedar", "Alder"] and alone[1] == []
    assert alone[3][0]["nothing"] is None and alone[3][0]["alder"] is True and len(alone[3]) == 2

    def steps():
        first, second = yield (questions[0][0].ask(**questions[0][1]), questions[1][0].ask(**questions[1][1]))
        third = yield questions[2][0].ask(**questions[2][1])
        return first, second, third

    with CaptureQueriesContext(connection) as captured:
        together = answer_all([steps(), questions[3][0].ask(**questions[3][1]).then(len), ["as given"]])
    assert together == [tuple(alone[:3]), len(alone[3]), ["as given"]]
    for (first, second) in zip(together[0][0], alone[0]):
        assert [type(value) for value in first.values()] == [type(value) for value in second.values()]
        assert first["created_at"].tzinfo is not None and first["created_at"] == second["created_at"]
    if connection.vendor == "postgresql":
        # The first questions of every step in one statement, then the second's.
        assert len(captured) == 2, [query["sql"] for query in captured.captured_queries]
    assert answer(steps()) == tuple(alone[:3])


def test_the_same_question_from_two_steps_is_asked_once():
    OrganizationFactory(name="Alder")

    def steps():
        return (yield _NAMED.ask(names=["Alder"]))

    with CaptureQueriesContext(connection) as captured:
        first, second, counted = answer_all([steps(), steps(), _COUNTED.ask(name="Alder", at=timezone.now())])
    assert first == second == _NAMED(names=["Alder"]) and counted[0]["named"] == 1
    if connection.vendor == "postgresql":
        [statement] = captured.captured_queries
        assert statement["sql"].count("ORDER BY") == 1, statement["sql"]  # _NAMED's, once


def test_a_statement_around_prepared_querysets_answers_as_they_do_and_is_built_once():
    """A statement the ORM cannot write holds each queryset's SQL once, in
    order, and takes each one's params where it stands."""
    for name in ("Alder", "Birch", "Cedar"):
        OrganizationFactory(name=name)
    builds = []

    def build():
        builds.append(1)
        return (Organization.objects.filter(name__in=Param("names", many=True)).order_by().values("pk"),
                Organization.objects.filter(name=Param("name")).order_by().values("pk"))

    query = Prepared(build, around=lambda named, one: f"SELECT (SELECT COUNT(*) FROM ({named}) a), "
                                                       f"(SELECT COUNT(*) FROM ({one}) b)")
    assert query(names=["Alder", "Birch"], name="Cedar") == [(2, 1)]
    assert query(names=[], name="Nobody") == [(0, 0)]
    assert len(builds) == 1
    backwards = Prepared(build, around=lambda named, one: f"SELECT * FROM ({one}) b, ({named}) a")
    with pytest.raises(ValueError, match="once, in order"):
        backwards(names=["Alder"], name="Alder")


def test_a_url_without_arguments_is_the_one_reverse_gives_whatever_the_prefix():
    from django.urls import set_script_prefix

    template = Template("{% url 'home' %}|{% url 'organization-detail' 'x' %}|{% url 'home' as home %}{{ home }}")
    assert template.render(Context()) == f"{reverse('home')}|{reverse('organization-detail', args=['x'])}|" \
                                         f"{reverse('home')}"
    set_script_prefix("/portal/")
    try:
        assert template.render(Context()).startswith("/portal/")
    finally:
        set_script_prefix("/")
    assert template.render(Context()).split("|")[0] == reverse("home")


postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PREPARE is PostgreSQL's")


def _prepared_on(wrapper) -> list[str]:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'portal_prepared_%%'")
        return [row[0] for row in cursor.fetchall()]


@postgresql_only
def test_the_database_prepares_a_query_once_per_connection_and_runs_it_with_new_values():
    for name in ("Alder", "Birch"):
        OrganizationFactory(name=name)
    query = Prepared(lambda: Organization.objects.filter(name=Param("name")).values("name"))
    with CaptureQueriesContext(connection) as captured:
        assert query(name="Alder") == [{"name": "Alder"}]
        assert query(name="Birch") == [{"name": "Birch"}]
        assert query(name="Nobody") == []
    sent = [entry["sql"] for entry in captured]
    assert sent[0].startswith("PREPARE ") and all(sql.startswith("EXECUTE ") for sql in sent[1:]), sent
    # The server holds it once, as the first call sent it.
    assert _prepared_on(connection).count(sent[0]) == 1
    # What each call ran reads as the query's own SQL, its values as %s (for EXPLAIN and the tests that read it).
    from hmis_portal.core.prepared import statement_of

    texts = {statement_of(connection, sql) for sql in sent}
    assert len(texts) == 1 and next(iter(texts)).startswith("SELECT ") and "= (%s)" in next(iter(texts)), texts


@postgresql_only
def test_another_connection_prepares_the_statement_itself():
    from django.db import connections

    from hmis_portal.core.prepared import execute

    other = connections.create_connection("default")
    try:
        for wrapper in (connection, other, other):
            with wrapper.cursor() as cursor:
                execute(wrapper, cursor, "SELECT %s::int + 1", [41])
                assert cursor.fetchone() == (42,)
        # Prepared on the other connection too, once, whatever the first had prepared.
        assert [sql.split(";")[0] for sql in _prepared_on(other)] == ["PREPARE portal_prepared_0 AS SELECT $1::int + 1"]
    finally:
        other.close()


@postgresql_only
def test_a_statement_that_cannot_be_prepared_is_sent_as_text_from_then_on():
    from django.db import DatabaseError, transaction

    from hmis_portal.core.prepared import execute

    # The server cannot tell the parameter's type, so PREPARE fails; sent as text, the value is a literal.
    sql = "SELECT %s IS NULL"
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        execute(connection, cursor, sql, [None])
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        execute(connection, cursor, sql, [None])
        assert cursor.fetchone() == (True,)
    assert [entry["sql"] for entry in captured] == ["SELECT NULL IS NULL"]


def test_a_question_built_for_the_person_is_answered_with_the_prepared_ones():
    """`ask_built`: a queryset whose shape depends on who asks (here, whether
    a name narrows it) answers as the queryset itself does, in the same round
    trip as the prepared questions on PostgreSQL."""
    for name in ("Alder", "Birch", "Cedar"):
        OrganizationFactory(name=name)
    narrowed = Organization.objects.filter(name__in=["Alder", "Birch"])

    def steps(queryset):
        counted, named = yield (ask_built(totals(queryset, n=Count("pk"))).then(total_n),
                                _NAMED.ask(names=["Cedar"]))
        return counted, [row["name"] for row in named]

    with CaptureQueriesContext(connection) as captured:
        narrow, every = answer_all([steps(narrowed), steps(Organization.objects.all())])
    assert narrow == (2, ["Cedar"]) and every == (Organization.objects.count(), ["Cedar"])
    assert len(captured) == (1 if connection.vendor == "postgresql" else 3)
