import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from hmis_portal.core.audit import events_for
from hmis_portal.core.models import Notification
from onboarding import selectors, services
from onboarding.models import CESOrganizationRole, OrganizationAgreement, OrganizationCESRole, Program, ProgramType
from tests.factories import MembershipFactory, StaffFactory
from tests.onboarding.factories import AgreementFactory, ProgramFactory, executed_agreement

SetupStatus = Program.SetupStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(organization):
    return MembershipFactory(organization=organization, persona="program_manager",
                             user__email="pm@agency.example.org").user


@pytest.fixture
def implementer():
    return StaffFactory(groups=["CoC implementation"], email="impl@example.org")


def ptype(code):
    return ProgramType.objects.get(code=code)


def test_ces_roles_are_data_with_the_three_from_seed_000():
    assert list(CESOrganizationRole.objects.values_list("name", flat=True)) == [
        "Assessment Only", "Housing Navigation/Case Management", "Housing Provider"]


def test_the_program_manager_names_one_or_more_ces_roles(client, organization, manager):
    client.force_login(manager)
    url = reverse("onboarding:ces-roles", args=[organization.slug])
    response = client.post(url, {})
    assert "Choose at least one CES role." in response.content.decode()
    roles = CESOrganizationRole.objects.filter(code__in=["housing-navigation", "housing-provider"])
    client.post(url, {"roles": [r.pk for r in roles]})
    assert set(selectors.ces_roles(organization).values_list("role__code", flat=True)) == {
        "housing-navigation", "housing-provider"}
    client.post(url, {"roles": [roles[0].pk]})
    assert OrganizationCESRole.objects.filter(organization=organization).count() == 1
    assert [e.verb for e in events_for(organization)] == ["named CES roles", "named CES roles"]


def test_program_setup_cannot_be_requested_before_the_agreement_is_submitted(client, organization, manager):
    client.force_login(manager)
    url = reverse("onboarding:program-request", args=[organization.slug])
    assert "once the Organization Agreement is submitted" in client.get(url).content.decode()
    response = client.post(url, {"name": "Shelter", "program_type": ptype("emergency-shelter").pk,
                                 "request_kind": "create"})
    assert "once the Organization Agreement is submitted" in response.content.decode()
    AgreementFactory(organization=organization, status=OrganizationAgreement.Status.DRAFT)
    with pytest.raises(ValidationError):
        services.program_setup_request(actor=manager, organization=organization, name="Shelter",
                                       program_type=ptype("emergency-shelter"))
    assert not Program.objects.exists()


def test_the_whole_setup_cycle_with_a_question(client, organization, manager, implementer):
    AgreementFactory(organization=organization)  # submitted is enough to request
    client.force_login(manager)
    response = client.post(reverse("onboarding:program-request", args=[organization.slug]),
                           {"name": "Eastside Shelter", "program_type": ptype("emergency-shelter").pk,
                            "request_kind": "create", "details": "60 beds"})
    program = Program.objects.get()
    assert response["Location"] == reverse("onboarding:program-detail", args=[program.pk])
    assert program.setup_status == SetupStatus.REQUESTED and program.requested_by == manager
    assert Notification.objects.filter(to_email="impl@example.org", subject__contains="Eastside Shelter").exists()

    services.program_setup_start(actor=implementer, program=program)
    services.program_setup_ask(actor=implementer, program=program, question="How many beds are CES-linked?")
    assert Notification.objects.filter(recipient=manager, body__contains="How many beds").exists()
    page = client.get(reverse("onboarding:program-detail", args=[program.pk])).content.decode()
    assert "How many beds are CES-linked?" in page
    client.post(reverse("onboarding:program-answer", args=[program.pk]), {"answer": "All 60."})
    program.refresh_from_db()
    assert (program.setup_status, program.answer) == (SetupStatus.IN_PROGRESS, "All 60.")
    # A second answer (double submit) finds no open question and changes nothing.
    response = client.post(reverse("onboarding:program-answer", args=[program.pk]), {"answer": "All 60."},
                           follow=True)
    assert "no open question" in response.content.decode()

    services.program_setup_complete(actor=implementer, program=program, hmis_program_id="ES-77")
    program.refresh_from_db()
    assert program.setup_status == SetupStatus.SETUP_COMPLETE
    client.post(reverse("onboarding:program-confirm", args=[program.pk]))
    program.refresh_from_db()
    assert program.setup_status == SetupStatus.CONFIRMED and program.confirmed_by == manager
    assert list(selectors.confirmed_programs(organization)) == [program]
    with pytest.raises(ValidationError, match="already confirmed"):
        services.program_setup_confirm(actor=manager, program=program)
    assert [e.verb for e in events_for(program)] == [
        "confirmed program setup", "completed program setup", "answered question", "asked for information",
        "started program setup", "requested program setup"]


def test_permanent_housing_needs_no_setup_and_is_ready_to_confirm(organization, manager, implementer):
    AgreementFactory(organization=organization)
    program = services.program_setup_request(actor=manager, organization=organization, name="Maple Apartments",
                                             program_type=ptype("permanent-housing"))
    assert program.setup_status == SetupStatus.SETUP_COMPLETE
    assert not Notification.objects.filter(to_email="impl@example.org").exists()
    assert Notification.objects.filter(recipient=manager, subject__contains="Confirm").exists()


def test_the_program_manager_may_send_a_wrong_setup_back(organization, manager, implementer):
    program = ProgramFactory(organization=organization, setup_status=SetupStatus.SETUP_COMPLETE)
    with pytest.raises(ValidationError):
        services.program_setup_report_problem(actor=manager, program=program, problem="")
    services.program_setup_report_problem(actor=manager, program=program, problem="Wrong project type.")
    program.refresh_from_db()
    assert program.setup_status == SetupStatus.IN_PROGRESS


def test_only_the_implementation_team_works_the_queue_and_only_the_pm_confirms(organization, manager):
    program = ProgramFactory(organization=organization)
    with pytest.raises(PermissionDenied):
        services.program_setup_complete(actor=StaffFactory(groups=["CoC training"]), program=program)
    with pytest.raises(PermissionDenied):
        services.program_setup_complete(actor=manager, program=program)
    owner = MembershipFactory(organization=organization, persona="executive_director").user
    program.setup_status = SetupStatus.SETUP_COMPLETE
    program.save()
    with pytest.raises(PermissionDenied):
        services.program_setup_confirm(actor=owner, program=program)
    program.refresh_from_db()
    assert program.setup_status == SetupStatus.SETUP_COMPLETE


def test_admin_buttons_move_the_setup_and_a_double_click_is_harmless(client, organization, implementer):
    program = ProgramFactory(organization=organization)
    client.force_login(implementer)
    start = reverse("admin:onboarding_program_start", args=[program.pk])
    client.post(start)
    second = client.post(start, follow=True)
    assert "already in progress" in second.content.decode()
    response = client.post(reverse("admin:onboarding_program_ask", args=[program.pk]), {"question": ""})
    assert "This field is required" in response.content.decode()
    client.post(reverse("admin:onboarding_program_complete", args=[program.pk]), {"hmis_program_id": "X-1"})
    program.refresh_from_db()
    assert (program.setup_status, program.hmis_program_id) == (SetupStatus.SETUP_COMPLETE, "X-1")
    assert [e.verb for e in events_for(program)] == ["completed program setup", "started program setup"]


@pytest.mark.parametrize(
    "agreement,programs,stage",
    [
        (None, [], "not_started"),
        ("draft", [], "agreement_draft"),
        ("submitted", [], "agreement_submitted"),
        ("returned", [], "agreement_returned"),
        ("submitted", ["requested"], "agreement_submitted"),
        ("executed", [], "agreement_executed"),
        ("executed", ["in_progress"], "program_setup"),
        ("executed", ["setup_complete", "requested"], "program_setup"),
        ("executed", ["confirmed", "requested"], "participating"),
        ("submitted", ["confirmed"], "agreement_submitted"),
        ("expired", ["confirmed"], "agreement_expired"),
    ],
)
def test_the_participation_stage_is_derived(organization, agreement, programs, stage):
    if agreement:
        AgreementFactory(organization=organization, status=agreement)
    for status in programs:
        ProgramFactory(organization=organization, setup_status=status)
    assert selectors.participation_stage(organization) == stage


def test_participating_needs_an_executed_agreement_and_a_confirmed_program(organization):
    executed_agreement(organization)
    assert selectors.agreement_executed(organization)
    assert not selectors.confirmed_programs(organization).exists()
    ProgramFactory(organization=organization, setup_status=SetupStatus.CONFIRMED)
    assert selectors.participation_stage(organization) == "participating"


def test_admin_pages_render_for_the_implementation_team(client, organization, implementer):
    from tests.onboarding.factories import add_copy

    agreement = AgreementFactory(organization=organization)
    add_copy(agreement)
    program = ProgramFactory(organization=organization)
    client.force_login(implementer)
    for url in (reverse("admin:onboarding_organizationagreement_changelist"),
                reverse("admin:onboarding_organizationagreement_change", args=[agreement.pk]),
                reverse("admin:onboarding_organizationagreement_return", args=[agreement.pk]),
                reverse("admin:onboarding_program_changelist") + "?setup_status__exact=requested",
                reverse("admin:onboarding_program_change", args=[program.pk]),
                reverse("admin:onboarding_program_complete", args=[program.pk]),
                reverse("admin:onboarding_cesorganizationrole_changelist"),
                reverse("admin:onboarding_onboardingpolicy_changelist")):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(reverse("admin:onboarding_organizationagreement_change", args=[agreement.pk])).content.decode()
    assert "Countersign (execute)" in page and "Download copy 1" in page
    # CES team staff may look but not countersign.
    client.force_login(StaffFactory(groups=["CES team"]))
    page = client.get(reverse("admin:onboarding_organizationagreement_change", args=[agreement.pk])).content.decode()
    assert "Countersign (execute)" not in page
    assert client.post(reverse("admin:onboarding_organizationagreement_countersign",
                               args=[agreement.pk])).status_code == 403
    agreement.refresh_from_db()
    assert agreement.status == OrganizationAgreement.Status.SUBMITTED
