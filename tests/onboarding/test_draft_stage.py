"""An agreement kept as a draft is step 1 under way, not an agency that has
not started: the page's stage, the status list and its filter, the download
and the read API all say "Agreement in draft", and step 2 waits for step 1."""

import html

import pytest
from django.urls import reverse

from onboarding.models import OrganizationAgreement, ParticipationStage
from onboarding.selectors import participation_stage
from tests.api_keys import bearer, make_key
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory
from tests.onboarding.factories import AgreementFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def drafting():
    organization = OrganizationFactory(name="Willow Lane Youth Services")
    AgreementFactory(organization=organization, status=OrganizationAgreement.Status.DRAFT)
    return organization


def test_a_draft_agreement_is_its_own_stage_on_the_agency_s_page(client, drafting):
    assert participation_stage(drafting) == ParticipationStage.AGREEMENT_DRAFT
    manager = MembershipFactory(organization=drafting, persona="program_manager").user
    client.force_login(manager)
    page = html.unescape(client.get(reverse("onboarding:participation", args=[drafting.slug])).content.decode())
    assert "Participation stage: <span" in page and ">Agreement in draft<" in page
    assert "Not started" not in page
    assert "Draft, not yet submitted" in page  # step 1
    assert "Can start once the Organization Agreement is submitted" in page  # step 2 waits for step 1


def test_the_status_list_its_filter_and_download_say_draft_not_not_started(client, drafting):
    never = OrganizationFactory(name="Yarrow Street Shelter")
    reader = MembershipFactory(organization=never, persona="staff").user
    client.force_login(reader)

    def listed(**query):
        content = client.get(reverse("onboarding:status-list"), query).content.decode()
        return content[content.index("<main"):]

    page = listed()
    assert "Agreement in draft" in page
    drafts = listed(stage="agreement_draft")
    assert "Willow Lane Youth Services" in drafts and "Yarrow Street Shelter" not in drafts
    not_started = listed(stage="not_started")
    assert "Yarrow Street Shelter" in not_started and "Willow Lane Youth Services" not in not_started
    csv = client.get(reverse("onboarding:status-list-csv")).getvalue().decode()
    (row,) = [line for line in csv.splitlines() if line.startswith("Willow Lane")]
    assert row.endswith("Agreement in draft")


def test_the_read_api_gives_the_draft_stage(client, drafting):
    key = make_key(StaffFactory(groups=["CoC implementation"]), "read")
    response = client.get(reverse("api:agency-list"), {"q": "Willow Lane"}, **bearer(key))
    (row,) = response.json()["results"]
    assert (row["participation_stage"], row["participation_stage_label"]) == ("agreement_draft",
                                                                              "Agreement in draft")
