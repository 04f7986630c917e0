"""At 11 PM on a Friday in Los Angeles it is Saturday in UTC: no page may say so.

Work done at that moment is rendered on the pages that show it, and every
page must say Friday, Nov 20 — never Nov 21, the UTC date."""

import datetime as dt
import re
import zoneinfo

import pytest
import time_machine
from django.urls import reverse

from hmis_portal.core.work import open_tasks_for
from tests.factories import StaffFactory
from tests.referrals.factories import make_referral, matcher, provider_staff
from tests.training.factories import finish_everything, identify, participating

pytestmark = pytest.mark.django_db
LA = zoneinfo.ZoneInfo("America/Los_Angeles")
FRIDAY_11PM = dt.datetime(2026, 11, 20, 23, 0, tzinfo=LA)  # Sat Nov 21, 07:00 UTC


def _text(response) -> str:
    assert response.status_code == 200
    return re.sub(r"<[^>]+>", " ", response.content.decode())


@pytest.fixture
def friday_night(organization):
    participating(organization, "access-center")
    trainer = StaffFactory(groups=["CoC training"])
    with time_machine.travel(FRIDAY_11PM, tick=False):
        ready = finish_everything(identify(organization, programs=list(organization.programs.all())), trainer)
        referral = make_referral()
    return ready, referral


def test_pages_show_the_local_date_of_work_done_at_11_pm(client, friday_night):
    ready, referral = friday_night
    provisioning = StaffFactory(groups=["CoC provisioning"])
    ces = matcher()
    provider = provider_staff(referral.program.organization)
    pages = [
        (provisioning, reverse("provisioning-queue")),
        (ces, reverse("referrals:detail", args=[referral.pk])),
        (ces, reverse("referrals:list")),
        (provider, reverse("referrals:detail", args=[referral.pk])),
        (ready.user, reverse("training:form-upload", args=[
            ready.user.form_submissions.first().form.code])),
    ]
    with time_machine.travel(FRIDAY_11PM + dt.timedelta(minutes=30), tick=False):
        for person, url in pages:
            client.force_login(person)
            text = _text(client.get(url))
            assert "Fri, Nov 20" in text, url
            assert "Nov 21" not in text, url
            assert not re.search(r"\bSat\b", text), url


def test_the_provisioning_home_task_says_the_local_ready_date(friday_night):
    provisioning = StaffFactory(groups=["CoC provisioning"])
    with time_machine.travel(FRIDAY_11PM + dt.timedelta(minutes=30), tick=False):
        details = [t.detail for t in open_tasks_for(provisioning) if t.section == "Provisioning"]
    assert details and all("Nov 21" not in d and "Nov 20" in d for d in details)
