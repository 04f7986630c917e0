"""The agency's participation page at a large agency's size: its history is
a page at a time, newest first, with every kind of event the agency's story
holds and nothing of another agency; the page stays small and quick."""

import datetime as dt
import re
import time
from urllib.parse import unquote

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from hmis_access.models import AccessRequest, HMISAccount
from hmis_portal.core.audit import HISTORY_PAGE
from hmis_portal.core.models import AuditEvent
from onboarding.models import OrganizationAgreement, Program
from partnerships.models import DataPartnership
from tests.factories import OrganizationFactory, StaffFactory
from tests.scale import grow
from tests.training.factories import manager_of, participating

pytestmark = pytest.mark.django_db

# Every kind of object whose events make up an agency's history (the
# providers of `registry.agency_history_subjects`, and the agency itself).
KINDS = {"agency": None, "program": Program, "agreement": OrganizationAgreement,
         "request": AccessRequest, "account": HMISAccount, "partnership": DataPartnership}

VERB = re.compile(r"<strong>(Did [a-z]+ [a-z]*\d+)</strong>")


def _objects(organization, kind):
    if kind == "agency":
        return [organization]
    model = KINDS[kind]
    if model is DataPartnership:
        return list(DataPartnership.objects.filter(partner=organization).order_by("pk"))
    return list(model.objects.filter(organization=organization).order_by("pk"))


def _events(organization, per_kind, start, tag=""):
    """`per_kind` events for objects of each kind, one moment apart, the
    kinds interleaved; returns (verb, moment) newest first."""
    made, moment = [], start
    rows = []
    objects = {kind: _objects(organization, kind) for kind in KINDS}
    for n in range(per_kind):
        for kind, subjects in objects.items():
            subject = subjects[n % len(subjects)]
            moment += dt.timedelta(seconds=1)
            verb = f"did {kind} {tag}{n}"
            rows.append(AuditEvent(verb=verb, content_type=ContentType.objects.get_for_model(subject),
                                   object_id=str(subject.pk), object_repr=str(subject)[:200], created_at=moment))
            made.append((verb, moment))
    AuditEvent.objects.bulk_create(rows, batch_size=1000)
    return [verb for verb, _ in sorted(made, key=lambda row: row[1], reverse=True)]


def _verbs(response):
    return [verb.lower() for verb in VERB.findall(response.content.decode())]


def _older_link(response):
    found = re.search(r'href="\?before=([^"#]+)#timeline-heading"', response.content.decode())
    return found and unquote(found.group(1))


def _other_agency_events():
    """Events of another agency's objects of every kind, newer than any of ours."""
    other = OrganizationFactory()
    participating(other, "permanent-housing")
    grow(other, 5000, 5003)
    later = timezone.now() + dt.timedelta(days=30)
    return other, _events(other, 3, later, tag="other")


def test_the_history_pages_through_every_kind_newest_first_and_nothing_of_another_agency(client, organization):
    participating(organization, "permanent-housing")
    grow(organization, 0, 3)
    AuditEvent.objects.filter(verb="grown").delete()
    ours = _events(organization, 10, timezone.now() - dt.timedelta(days=1))
    _, theirs = _other_agency_events()
    client.force_login(manager_of(organization))
    url = reverse("onboarding:participation", args=[organization.slug])
    seen, pages, response = [], 0, client.get(url)
    while True:
        assert response.status_code == 200
        page = _verbs(response)
        assert len(page) <= HISTORY_PAGE
        seen += page
        pages += 1
        older = _older_link(response)
        if not older:
            break
        response = client.get(url, {"before": older})
    assert pages == -(-len(ours) // HISTORY_PAGE) > 1
    # Every kind of the agency's events, each once, newest first across the pages.
    assert seen == ours
    assert {verb.split()[1] for verb in seen} == set(KINDS)
    assert not set(seen) & set(theirs)


def test_the_history_shows_each_reader_only_the_kinds_they_may_read(client, organization):
    from tests.factories import MembershipFactory

    participating(organization, "permanent-housing")
    grow(organization, 0, 3)
    _events(organization, 2, timezone.now() - dt.timedelta(days=1))
    staff_member = MembershipFactory(organization=organization, persona="staff").user
    client.force_login(staff_member)
    response = client.get(reverse("onboarding:participation", args=[organization.slug]))
    kinds = {verb.split()[1] for verb in _verbs(response)}
    # An end user reads the agency's programs and partnerships, not its
    # agreements nor its people's access requests and accounts.
    assert kinds == {"agency", "program", "partnership"}


def test_a_bad_cursor_shows_the_newest_page(client, organization):
    participating(organization, "permanent-housing")
    client.force_login(manager_of(organization))
    url = reverse("onboarding:participation", args=[organization.slug])
    for cursor in ["nonsense", "2026-01-01T00:00:00_x", "2026-01-01T00:00:00_5", "_", "9" * 400]:
        assert client.get(url, {"before": cursor}).status_code == 200


def test_another_agencys_page_is_not_found(client, organization):
    participating(organization, "permanent-housing")
    other, _ = _other_agency_events()
    client.force_login(manager_of(organization))
    assert client.get(reverse("onboarding:participation", args=[other.slug])).status_code == 404


def test_the_participation_page_at_1000_objects_is_small_quick_and_paged(client, organization):
    participating(organization, "permanent-housing")
    grow(organization, 0, 1000)
    AuditEvent.objects.filter(verb="grown").delete()
    # Two events for every program, request, account and partnership, and the agency's own.
    ours = _events(organization, 2000, timezone.now() - dt.timedelta(days=2))
    client.force_login(manager_of(organization))
    url = reverse("onboarding:participation", args=[organization.slug])
    client.get(url)
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    took = time.perf_counter() - started
    assert response.status_code == 200
    assert len(captured) <= 12
    assert len(response.content) < 60_000, len(response.content)
    # 0.3 s on a quiet machine; the bound leaves room for a loaded test run.
    assert took < 1.5, took
    print(f"participation page at 1,000 objects: {took:.3f} s, {len(response.content) / 1000:.1f} KB, "
          f"{len(captured)} queries")
    first = _verbs(response)
    assert first == ours[:HISTORY_PAGE]
    second = client.get(url, {"before": _older_link(response)})
    assert _verbs(second) == ours[HISTORY_PAGE:2 * HISTORY_PAGE]
    assert "Newest events" in second.content.decode()
    # The programs are paged too, and the next page follows.
    page = response.content.decode()
    assert page.count("Grown program") <= 60
    assert "?programs=2#step2-heading" in page
    assert "Grown program" in client.get(url, {"programs": 2}).content.decode()
