"""The CES team sees every provider at once: overdue referrals by agency and
each month's share within standard, in a constant number of queries."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from referrals import selectors, services
from tests.referrals.factories import ProgramFactory, make_referral, matcher, provider_staff, status

pytestmark = pytest.mark.django_db


def test_overdue_by_agency_and_share_within_standard(client):
    ces = matcher()
    late, prompt = ProgramFactory(), ProgramFactory()
    start = timezone.now() - dt.timedelta(days=20)
    for program in (late, prompt):
        make_referral(program, actor=ces, at=start)
    fresh = make_referral(prompt, actor=ces)
    services.referral_change_status(actor=provider_staff(prompt.organization), referral_id=fresh.pk,
                                    to_status=status("attempting-contact"))
    scores, months = selectors.provider_scorecard(ces)
    by_agency = {s.organization: s for s in scores}
    assert scores[0].organization == late.organization  # most overdue first
    assert (by_agency[late.organization].open, by_agency[late.organization].overdue) == (1, 1)
    assert by_agency[prompt.organization].share == 100
    client.force_login(ces)
    page = client.get(reverse("referrals:providers")).content.decode()
    assert str(late.organization) in page and "100%" in page


def test_the_scorecard_costs_the_same_at_any_number_of_providers(client, django_assert_max_num_queries):
    ces = matcher()
    for _ in range(3):
        make_referral(ProgramFactory(), actor=ces)
    client.force_login(ces)
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("referrals:providers"))
    for _ in range(12):
        make_referral(ProgramFactory(), actor=ces)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("referrals:providers"))


def test_the_export_takes_a_date_range_from_the_page(client):
    ces = matcher()
    old = make_referral(ProgramFactory(), actor=ces, at=timezone.now() - dt.timedelta(days=60))
    new = make_referral(ProgramFactory(), actor=ces)
    client.force_login(ces)
    page = client.get(reverse("referrals:providers")).content.decode()
    assert 'name="from"' in page and 'name="to"' in page
    since = (timezone.localdate() - dt.timedelta(days=7)).isoformat()
    body = b"".join(client.get(reverse("referrals:export"), {"from": since}).streaming_content).decode()
    assert new.hmis_client_id in body and old.hmis_client_id not in body
