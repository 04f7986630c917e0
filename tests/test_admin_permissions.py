"""Every admin page of the portal's own models, as every CoC group and as an
agency user: who may open the list, who may change, which actions each sees.

The table below is written out by hand (not read from accounts.access), so a
change of rule shows up here as a failing row. A model registered in the
admin without a row fails the suite."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from tests.factories import MembershipFactory, StaffFactory

IMPL, TRAIN, PROV, CES, SYS = ("CoC implementation", "CoC training", "CoC provisioning", "CES team",
                               "CoC system admin")
EVERY = {IMPL, TRAIN, PROV, CES, SYS}
OURS = {"accounts", "signin", "apikeys", "core", "onboarding", "training", "hmis_access", "hmis_accounts", "referrals",
        "partnerships"}

# model: (groups who open the list, groups who may change, {action: groups who see it})
EXPECTED = {
    "accounts.user": ({IMPL, SYS}, {IMPL, SYS}, {}),
    "accounts.organization": (EVERY, {IMPL, SYS}, {}),
    "accounts.invitation": ({IMPL, SYS}, {IMPL, SYS}, {"resend_selected": {IMPL, SYS}, "revoke_selected": {IMPL, SYS}}),
    "signin.signinpolicy": (EVERY, {SYS}, {}),
    "apikeys.apikey": ({SYS}, {SYS}, {"revoke_selected": {SYS}}),
    "core.auditevent": (EVERY, set(), {}),
    "core.notification": ({SYS}, {SYS}, {"retry_now": {SYS}}),
    "core.holiday": (EVERY, {SYS}, {}),
    "core.mailpolicy": (EVERY, {SYS}, {}),
    "onboarding.organizationagreement": ({IMPL, SYS}, {IMPL, SYS}, {"countersign_selected": {IMPL, SYS}}),
    "onboarding.agreementtemplate": ({IMPL, SYS}, {IMPL, SYS}, {}),
    "onboarding.program": ({IMPL, SYS}, {IMPL, SYS}, {"start_selected": {IMPL, SYS}}),
    "onboarding.programtype": (EVERY, {IMPL, SYS}, {}),
    "onboarding.cesorganizationrole": (EVERY, {IMPL, SYS}, {}),
    "onboarding.organizationcesrole": ({IMPL, SYS}, set(), {}),
    "onboarding.onboardingpolicy": (EVERY, {IMPL, SYS}, {}),
    "onboarding.joinrequest": ({IMPL, SYS}, {IMPL, SYS}, {}),
    "training.course": (EVERY, {TRAIN, SYS}, {}),
    "training.cesrole": (EVERY, {TRAIN, SYS}, {}),
    "training.accesscapability": (EVERY, {TRAIN, SYS}, {}),
    "training.requiredform": (EVERY, {TRAIN, SYS}, {}),
    "training.formtemplate": ({TRAIN, PROV, SYS}, {TRAIN, SYS}, {}),
    "training.trainingsession": ({TRAIN, SYS}, {TRAIN, SYS}, {}),
    "training.registration": ({TRAIN, SYS}, {TRAIN, SYS}, {"record_attendance": {TRAIN, SYS},
                                                          "record_no_show": {TRAIN, SYS}}),
    "training.completion": ({TRAIN, PROV, SYS}, set(), {}),
    "training.certificate": ({TRAIN, PROV, SYS}, {TRAIN, SYS},
                             {"verify": {TRAIN, SYS}, "return_with_reason": {TRAIN, SYS}}),
    "training.formsubmission": ({TRAIN, PROV, SYS}, {TRAIN, SYS},
                                {"verify": {TRAIN, SYS}, "return_with_reason": {TRAIN, SYS}}),
    "hmis_access.accesspolicy": ({PROV, SYS}, {SYS}, {}),
    "hmis_access.accessrequest": ({TRAIN, PROV, SYS}, {PROV, SYS}, {"approve_selected": {PROV, SYS}}),
    "hmis_access.hmisaccount": ({TRAIN, PROV, SYS}, {PROV, SYS}, {"record_retraining": {TRAIN, SYS}}),
    "hmis_accounts.reactivationrequest": ({TRAIN, PROV, SYS}, {PROV, SYS}, {"reactivate": {PROV, SYS}}),
    "referrals.needstatus": (EVERY, {CES, SYS}, {}),
    "referrals.referralpolicy": (EVERY, {CES, SYS}, {}),
    "referrals.referral": ({CES}, set(), {}),
    "partnerships.partnershippolicy": (EVERY, {IMPL, SYS}, {}),
    "partnerships.datapartnership": ({IMPL, SYS}, set(), {}),
    "partnerships.intakebatch": ({IMPL, SYS}, set(), {}),
}


def _registered():
    return {f"{model._meta.app_label}.{model._meta.model_name}": model_admin
            for model, model_admin in admin.site._registry.items() if model._meta.app_label in OURS}


def test_every_admin_page_of_ours_has_a_row():
    assert set(_registered()) == set(EXPECTED)


def _people():
    people = {group: StaffFactory(groups=[group]) for group in EVERY}
    people["agency"] = MembershipFactory(persona="program_manager").user
    return people


@pytest.mark.django_db
@pytest.mark.parametrize("label", sorted(EXPECTED))
def test_who_opens_changes_and_acts(client, label):
    viewers, changers, actions = EXPECTED[label]
    model_admin = _registered()[label]
    opts = model_admin.model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    for who, user in _people().items():
        request = RequestFactory().get(changelist)
        request.user = user
        client.force_login(user)
        response = client.get(changelist)
        if who == "agency":
            # Not CoC staff: the admin's sign-in page, never the data.
            assert response.status_code == 302 and "/admin/login/" in response["Location"], label
            continue
        assert (response.status_code == 200) is (who in viewers), (label, who, response.status_code)
        assert model_admin.has_change_permission(request) is (who in changers), (label, who)
        shown = set(model_admin.get_actions(request)) - {"delete_selected"}
        assert shown == {name for name, groups in actions.items() if who in groups}, (label, who, shown)


@pytest.mark.django_db
def test_each_editable_cell_of_a_list_is_named_for_a_screen_reader(client, policy_rows):
    """Django's inputs in a list's editable column have no label (axe: label,
    on every sort order of the need statuses, courses, forms and program
    types): each is named by its column and its row."""
    import re

    from referrals.models import NeedStatus
    from tests.factories import StaffFactory

    client.force_login(StaffFactory(groups=["CoC system admin"]))
    page = client.get(reverse("admin:referrals_needstatus_changelist")).content.decode()
    inputs = re.findall(r'<input[^>]*name="form-\d+-sort_order"[^>]*>', page)
    assert len(inputs) == NeedStatus.objects.count() > 0
    first = NeedStatus.objects.order_by("sort_order", "pk").first()
    assert all('aria-label="Sort order of ' in tag for tag in inputs), inputs[:2]
    assert f'aria-label="Sort order of {first}"' in page


INLINE = r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>|<style\b|\sstyle=\"|\son[a-z]+=\""


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["admin:django_celery_beat_periodictask_change",
                                      "admin:accounts_organization_permissions"])
def test_the_beat_schedule_and_object_permission_pages_run_under_the_csp(client, url_name):
    """The portal's Content Security Policy runs no inline script or style;
    these two pages of other packages had some, which the browser refused
    (the crontab's help in words did not work)."""
    import re

    from django_celery_beat.models import PeriodicTask

    from hmis_portal.schedule import sync_beat_schedule
    from tests.factories import OrganizationFactory

    sync_beat_schedule(verbosity=0)
    beat = "celery_beat" in url_name
    # The beat schedule declares no work in the portal: it is for superusers.
    client.force_login(StaffFactory(groups=["CoC system admin"], is_superuser=beat))
    response = client.get(reverse(url_name, args=[PeriodicTask.objects.first().pk if beat
                                                  else OrganizationFactory().pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert re.findall(INLINE, page) == []
    if beat:
        assert "admin/periodic_task.js" in page and 'id="readable-crontabs"' in page


@pytest.mark.django_db
def test_each_cell_of_an_inline_table_is_named_for_a_screen_reader(client, policy_rows):
    """Django's tabular inlines show their inputs under a column heading but
    with no label (axe: select-name, label, on an agency's memberships): each
    is named by its column and its row, and each row's delete box by its row."""
    import re

    from tests.factories import OrganizationFactory

    organization = OrganizationFactory(name="Alder Street Housing")
    people = [MembershipFactory(organization=organization, persona=persona).user
              for persona in ("executive_director", "program_manager")]
    client.force_login(StaffFactory(groups=["CoC system admin"]))
    page = client.get(reverse("admin:accounts_organization_change", args=[organization.pk])).content.decode()
    for person in people:
        assert f'aria-label="Persona of {person} at Alder Street Housing"' in page, person
        assert f'aria-label="Delete {person} at Alder Street Housing"' in page, person
    rows = re.findall(r'<(?:select|input)[^>]*name="memberships-\d+-(?:persona|DELETE)"[^>]*>', page)
    assert len(rows) == 4 and all("aria-label=" in tag for tag in rows), rows


@pytest.mark.django_db
def test_each_date_and_time_input_has_a_label_and_every_page_has_the_fixes_to_djangos_markup(client):
    """Django writes "Date:" and "Time:" as bare words beside its inputs
    (axe: label, on every date and time of the admin): each is the label of its
    input. The stylesheet and script that fix the rest of Django's markup (the
    breadcrumbs' links, the two-box selector's filter names) and the portal's
    icon are on every page."""
    client.force_login(StaffFactory(groups=["CoC system admin"], is_superuser=True))
    page = client.get(reverse("admin:training_trainingsession_add")).content.decode()
    for part in ("starts_at_0", "starts_at_1", "ends_at_0", "ends_at_1"):
        assert f'<label for="id_{part}">' in page, part
    for url in (reverse("admin:index"), reverse("admin:training_course_changelist")):
        page = client.get(url).content.decode()
        assert "portal-admin.css" in page and "portal-admin-names.js" in page, url
        assert 'rel="icon" href="/static/favicon.svg"' in page, url
