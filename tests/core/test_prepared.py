"""Queries built once and run with new values (hmis_portal/core/prepared.py)
answer what the same queryset built afresh answers, on either database; and
`{% url %}` without arguments answers what `reverse()` does."""

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organization
from hmis_portal.core.prepared import Param, Prepared, totals
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
