"""Property-based: whatever a person (or a script) puts in a portal form or a
list filter, the answer is never a 5xx, and input the portal refuses writes
nothing. Runs on SQLite and PostgreSQL; kept small (25 examples a target)."""

import datetime as dt
import functools

import pytest
from django import forms
from django.apps import apps
from django.contrib import messages
from django.contrib.auth import SESSION_KEY
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import ContextList
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import HMISAccountFactory, MembershipFactory, OrganizationFactory
from tests.onboarding.factories import PDF, AgreementFactory
from tests.referrals.factories import ProgramFactory, make_referral, matcher

pytestmark = pytest.mark.django_db
quick = settings(max_examples=25, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

EDGES = ["", " ", "\x00", "a\x00b", "0", "-1", "1", str(2**31 - 1), str(2**31), str(2**63), str(10**30),
         "9999-12-31", "0001-01-01", "2026-02-30", "1e309", "NaN", "=1+1", "@SUM(A1)", "%00", "\u202e", "x" * 5000]
VALUE = st.one_of(
    st.sampled_from(EDGES),
    st.text(max_size=40),
    st.integers(min_value=-10**40, max_value=10**40).map(str),
    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)).map(dt.date.isoformat),
)
VALUES = st.lists(VALUE, max_size=3)
FILE = st.builds(
    lambda content, name: SimpleUploadedFile(name, content, content_type="application/pdf"),
    st.one_of(st.sampled_from([PDF, b"", b"GIF89a" + b"0" * 32, b"\x89PNG\r\n\x1a\n" + b"0" * 32]),
              st.binary(max_size=64)),
    st.sampled_from(["scan.pdf", "scan.exe", ".pdf", "a" * 200 + ".pdf", "scan\u202efdp.exe"]),
)


PORTAL_APPS = ("accounts", "onboarding", "training", "referrals", "core")
HMIS_APPS = ("hmis_access", "hmis_accounts")


@functools.cache
def _tally(app_labels: tuple[str, ...]) -> tuple[list[str], str]:
    """The tables of `app_labels` (with their many-to-many links) and one
    statement that reads every table's row count and highest id: asked before
    and after each of thousands of requests, one round trip instead of two a
    table was most of this file's time."""
    models = [model for model in apps.get_models(include_auto_created=True)
              if model._meta.app_label in app_labels and not model._meta.proxy]
    quote = connection.ops.quote_name
    sql = " UNION ALL ".join(
        f"SELECT {index}, COUNT(*), MAX({quote(model._meta.pk.column)}) FROM {quote(model._meta.db_table)}"
        for index, model in enumerate(models))
    return [model._meta.label for model in models], sql


def row_counts(app_labels: tuple[str, ...] = PORTAL_APPS) -> dict[str, tuple[int, int | None]]:
    """Each table's row count and highest id: a refused input that adds a row
    changes the count, and one that adds a row and deletes another changes
    the highest id (ids are never reused)."""
    labels, sql = _tally(app_labels)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {labels[index]: (count, highest) for index, count, highest in cursor.fetchall()}


def refused(response) -> bool:
    """The portal said no: a 400, a page with form errors, or an error message."""
    if response.status_code == 400:
        return True
    context = response.context
    contexts = [] if context is None else list(context) if isinstance(context, ContextList) else [context]
    values = [value for each in contexts for value in each.flatten().values()]
    if any(isinstance(v, forms.BaseForm) and v.is_bound and v.errors for v in values):
        return True
    return any(m.level == messages.ERROR for m in messages.get_messages(response.wsgi_request))


def post(client, url, data):
    # A message left by an earlier example's redirect (never followed) is not
    # this answer's: only what this request says counts as a refusal.
    client.cookies.pop("messages", None)
    before = row_counts()
    response = client.post(url, data)
    assert response.status_code < 500
    if refused(response):
        assert row_counts() == before, f"refused input wrote rows: {data!r}"
    return response


def get(client, url, params):
    before = row_counts()
    response = client.get(url, params)
    assert response.status_code < 500
    if hasattr(response, "streaming_content"):
        b"".join(response.streaming_content)  # errors while streaming count too
    assert row_counts() == before
    return response


def sign_in(client, user):
    """`client.force_login(user)`, unless the client is still signed in as
    `user` just as that left it (the same person, the same second factor):
    a sign-in is a dozen queries or more, and most examples' requests leave
    the session as it was, so a test signs in once, not once an example."""
    session = client.session
    state = (session.get(SESSION_KEY), session.get(DEVICE_ID_SESSION_KEY))
    if state[0] != str(user.pk) or state != getattr(client, "signed_in", None):
        client.force_login(user)
        session = client.session
        client.signed_in = (session.get(SESSION_KEY), session.get(DEVICE_ID_SESSION_KEY))


@pytest.fixture
def other_client():
    """A second person's client, for a test that acts as two: each stays signed in."""
    from tests.two_factor import PortalClient

    return PortalClient()


@pytest.fixture
def member():
    """Someone at an agency, made once for all of a test's examples."""
    return MembershipFactory().user


@pytest.fixture
def implementation_staff():
    from tests.factories import StaffFactory

    return StaffFactory(groups=["CoC implementation"])


@pytest.fixture
def provisioning_staff():
    from tests.factories import StaffFactory

    return StaffFactory(groups=["CoC provisioning"])


# --- onboarding ------------------------------------------------------------------------------------------------

@pytest.fixture
def agency():
    organization = OrganizationFactory()
    AgreementFactory(organization=organization)  # submitted: programs may be requested
    director = MembershipFactory(organization=organization, persona="executive_director").user
    manager = MembershipFactory(organization=organization, persona="program_manager").user
    program = ProgramFactory(organization=organization)
    return organization, director, manager, program


@quick
@given(signer_name=VALUE, signer_title=VALUE, signed_on=VALUE, document=FILE, action=st.sampled_from(["", "draft"]))
def test_agreement_upload(client, agency, signer_name, signer_title, signed_on, document, action):
    organization, director, _, _ = agency
    sign_in(client, director)
    post(client, f"/onboarding/agencies/{organization.slug}/agreement/upload/", {
        "signer_name": signer_name, "signer_title": signer_title, "signed_on": signed_on, "document": document,
        "action": action})


@quick
@given(roles=VALUES)
def test_ces_roles(client, agency, roles):
    organization, _, manager, _ = agency
    sign_in(client, manager)
    post(client, f"/onboarding/agencies/{organization.slug}/ces-roles/", {"roles": roles})


@quick
@given(name=VALUE, program_type=VALUE, request_kind=VALUE, existing=VALUE, details=VALUE)
def test_program_request(client, agency, name, program_type, request_kind, existing, details):
    organization, _, manager, _ = agency
    sign_in(client, manager)
    post(client, f"/onboarding/agencies/{organization.slug}/programs/request/", {
        "name": name, "program_type": program_type, "request_kind": request_kind,
        "existing_hmis_program": existing, "details": details})


@quick
@given(answer=VALUE, problem=VALUE)
def test_program_answer_and_problem(client, agency, answer, problem):
    _, _, manager, program = agency
    sign_in(client, manager)
    post(client, f"/onboarding/programs/{program.pk}/answer/", {"answer": answer})
    post(client, f"/onboarding/programs/{program.pk}/report-problem/", {"problem": problem})


@quick
@given(q=VALUE, stage=VALUE, role=VALUE, program_type=VALUE, fmt=st.sampled_from(["/", ".xlsx", ".csv"]))
def test_status_list_filters_and_exports(client, agency, q, stage, role, program_type, fmt):
    sign_in(client, agency[1])
    get(client, f"/onboarding/participation-status{fmt}",
        {"q": q, "stage": stage, "role": role, "program_type": program_type})


# --- training --------------------------------------------------------------------------------------------------

@quick
@given(course=VALUE)
def test_training_sessions_filter(client, member, course):
    sign_in(client, member)
    get(client, "/training/sessions/", {"course": course})


@quick
@given(course=VALUE, completed_on=VALUE, document=FILE)
def test_certificate_upload(client, member, course, completed_on, document):
    sign_in(client, member)
    get(client, "/training/certificates/upload/", {"course": course})
    post(client, "/training/certificates/upload/",
         {"course": course, "completed_on": completed_on, "document": document})


@quick
@given(document=FILE, code=st.sampled_from(["user-agreement", "no-such-form"]))
def test_form_upload(client, member, document, code):
    sign_in(client, member)
    post(client, f"/training/forms/{code}/upload/", {"document": document})


# --- referrals -------------------------------------------------------------------------------------------------

@pytest.fixture
def referral_desk():
    ces = matcher()
    program = ProgramFactory()
    provider = MembershipFactory(organization=program.organization, persona="staff").user
    # Client data is for people with HMIS access in a role that works referrals: without it
    # the provider's every post about the referral was a 404, and its forms went untried.
    HMISAccountFactory(user=provider, organization=program.organization, hmis_role="CES_Housing_Provider")
    referral = make_referral(program, actor=ces)
    return ces, provider, program, referral


@quick
@given(program=VALUE, status=VALUE, organization=VALUE, due=VALUE, queue=VALUE, client_id=VALUE, page=VALUE)
def test_referral_list_filters(client, referral_desk, program, status, organization, due, queue, client_id, page):
    sign_in(client, referral_desk[0])
    get(client, "/referrals/list/", {"program": program, "status": status, "organization": organization,
                                     "due": due, "queue": queue, "client": client_id, "page": page})


@quick
@given(start=VALUE, end=VALUE, agency=VALUE)
def test_referral_export_and_timeliness(client, referral_desk, start, end, agency):
    sign_in(client, referral_desk[0])
    get(client, "/referrals/export.csv", {"from": start, "to": end})
    get(client, "/referrals/timeliness/", {"agency": agency})


@quick
@given(program=VALUE, client_id=VALUE, name=VALUE, phone=VALUE, email=VALUE, notes=VALUE)
def test_referral_create(client, referral_desk, program, client_id, name, phone, email, notes):
    sign_in(client, referral_desk[0])
    post(client, "/referrals/new/", {"program": program, "hmis_client_id": client_id, "contact_name": name,
                                     "contact_phone": phone, "contact_email": email, "contact_notes": notes})


@quick
@given(to_status=VALUE, enrollment_date=VALUE, note=VALUE, version=VALUE, move_in=VALUE, reason=VALUE)
def test_referral_status_change_move_in_and_transfer(client, referral_desk, to_status, enrollment_date, note,
                                                     version, move_in, reason):
    _, provider, _, referral = referral_desk
    sign_in(client, provider)
    post(client, f"/referrals/{referral.pk}/status/", {"to_status": to_status, "enrollment_date": enrollment_date,
                                                        "note": note, "version": version})
    post(client, f"/referrals/{referral.pk}/move-in/", {"move_in_date": move_in, "version": version})
    post(client, f"/referrals/{referral.pk}/transfer/", {"reason": reason, "version": version})


# --- HMIS access -------------------------------------------------------------------------------------------------

@pytest.fixture
def access_center():
    """An agency taking part with an Access Center program, and its Program Manager."""
    from tests.training.factories import participating

    organization = OrganizationFactory()
    participating(organization, "access-center")
    return organization, MembershipFactory(organization=organization, persona="program_manager").user


@quick
@given(full_name=VALUE, email=VALUE, new_user=st.sampled_from(["new", "existing", "", "maybe"]), roles=VALUES,
       programs=VALUES)
def test_identify_user(client, access_center, full_name, email, new_user, roles, programs):
    organization, manager = access_center
    sign_in(client, manager)
    before = row_counts(HMIS_APPS)
    response = post(client, reverse("access-request-new", kwargs={"slug": organization.slug}),
                    {"full_name": full_name, "email": email, "new_hmis_user": new_user, "roles": roles,
                     "programs": programs})
    assert response.status_code in (200, 302, 400)  # 400: a NUL byte, refused before any view
    if refused(response):
        assert row_counts(HMIS_APPS) == before


@quick
@given(rows=st.lists(st.tuples(VALUE, VALUE), max_size=4), header=st.sampled_from(
    ["HMIS username,Last login", "username,last login time", "", "\x00,\x00", "a" * 300]),
       apply_good=st.sampled_from(["", "on"]))
def test_login_report_import(client, provisioning_staff, rows, header, apply_good):
    sign_in(client, provisioning_staff)
    text = "\n".join([header, *(f"{a},{b}" for a, b in rows)])
    report = SimpleUploadedFile("logins.csv", text.encode("utf-8", "surrogatepass"), content_type="text/csv")
    response = client.post(reverse("admin:hmis_access_hmisaccount_import_logins"),
                           {"report": report, "apply_good_rows": apply_good})
    assert response.status_code in (200, 302, 400)  # a report, errors, done, or a refused NUL byte


# --- joining and invitations ---------------------------------------------------------------------------------

@quick
@given(name=VALUE, contact=VALUE, email=VALUE, phone=VALUE, roles=VALUES, note=VALUE)
def test_join_request(client, name, contact, email, phone, roles, note):
    response = post(client, reverse("onboarding:join"), {
        "organization_name": name, "contact_name": contact, "contact_email": email, "phone": phone,
        "ces_roles": roles, "note": note})
    assert response.status_code in (200, 302, 400, 429)  # 429: the page's limit per address


@quick
@given(full_name=VALUE, email=VALUE, persona=st.one_of(st.sampled_from(
    ["staff", "agency_administrator", "executive_director", "program_manager"]), VALUE))
def test_invite_someone(client, agency, full_name, email, persona):
    organization, _, manager, _ = agency
    sign_in(client, manager)
    response = post(client, reverse("organization-invite", kwargs={"slug": organization.slug}),
                    {"full_name": full_name, "email": email, "persona": persona})
    assert response.status_code in (200, 302, 400, 403)


@quick
@given(token=st.one_of(st.just("REAL"), VALUE), full_name=VALUE, password1=VALUE, password2=VALUE)
def test_invitation_accept(client, implementation_staff, token, full_name, password1, password2):
    from urllib.parse import quote

    from accounts import services

    # An agency and an invitation of each example's own: one accepted is used up.
    organization = OrganizationFactory()
    invitation = services.invitation_send(actor=implementation_staff,
                                          organization=organization, email="new@laurel.example.org",
                                          persona="staff")
    token = invitation.token if token == "REAL" else token
    url = f"/invitations/{quote(token, safe='')}/"
    get(client, url, {})
    response = post(client, url, {"full_name": full_name, "password1": password1, "password2": password2})
    assert response.status_code in (200, 302, 400, 404)


@quick
@given(action=st.one_of(st.sampled_from(["accept", "decline"]), VALUE), email=VALUE, name=VALUE, reason=VALUE)
def test_join_request_decision(client, implementation_staff, action, email, name, reason):
    from onboarding import services

    # A request of each example's own: one accepted or declined is decided.
    request = services.join_request_create(organization_name="Willow Bend Housing", contact_name="Robin Willow",
                                           contact_email="robin@willowbend.example.org")
    sign_in(client, implementation_staff)
    post(client, reverse("onboarding:join-request", args=[request.pk]), {
        "action": action, "program_manager_email": email, "program_manager_name": name, "reason": reason})


@quick
@given(question=VALUE, hmis_program_id=VALUE, reason=VALUE)
def test_admin_setup_and_agreement_forms(client, agency, implementation_staff, question, hmis_program_id, reason):
    """The admin's transition forms: a question, the HMIS program id, a return reason."""
    organization, _, _, program = agency
    sign_in(client, implementation_staff)
    post(client, reverse("admin:onboarding_program_ask", args=[program.pk]), {"question": question})
    post(client, reverse("admin:onboarding_program_complete", args=[program.pk]),
         {"hmis_program_id": hmis_program_id})
    agreement = organization.agreements.order_by("pk").first()
    post(client, reverse("admin:onboarding_organizationagreement_return", args=[agreement.pk]), {"reason": reason})


@quick
@given(program=VALUE, note=VALUE, version=VALUE)
def test_referral_rerefer(client, referral_desk, program, note, version):
    ces, _, _, referral = referral_desk
    sign_in(client, ces)
    post(client, f"/referrals/{referral.pk}/re-refer/", {"program": program, "note": note, "version": version})


@quick
@given(after=VALUE, before=VALUE, page=VALUE)
def test_referral_cursors_and_pages(client, referral_desk, after, before, page):
    sign_in(client, referral_desk[0])
    get(client, "/referrals/list/", {"after": after, "before": before})
    get(client, "/referrals/overdue/", {"after": after, "before": before})
    get(client, "/referrals/", {"page": page})
    get(client, "/referrals/providers/", {"page": page})


@quick
@given(q=VALUE, page=VALUE)
def test_agency_search_and_pages(client, other_client, agency, implementation_staff, q, page):
    organization, _, manager, _ = agency
    sign_in(client, implementation_staff)
    get(client, "/agencies/", {"q": q})
    get(client, "/onboarding/participation-status/", {"page": page})
    sign_in(other_client, manager)
    get(other_client, f"/agencies/{organization.slug}/users/", {"page": page})


@quick
@given(username=VALUE, password=VALUE, next_url=VALUE)
def test_sign_in_form(client, username, password, next_url):
    response = post(client, reverse("login"), {"username": username, "password": password, "next": next_url})
    assert response.status_code in (200, 302, 400, 403, 429)


@quick
@given(token=VALUE, step=st.sampled_from(["two-factor-verify", "two-factor-setup"]))
def test_second_factor_code(client, token, step):
    from tests.factories import StaffFactory
    from tests.two_factor import authenticator

    # Someone of each example's own: wrong codes are limited for each person.
    staff = StaffFactory(groups=["CoC implementation"])
    if step == "two-factor-verify":
        authenticator(staff)
    client.force_login(staff, verified=False)
    response = post(client, reverse(step), {"token": token})
    assert response.status_code in (200, 302, 400, 429)


@quick
@given(note=VALUE, reason=VALUE, reminders=VALUE, token=VALUE)
def test_hmis_account_inputs(client, other_client, provisioning_staff, note, reason, reminders, token):
    from urllib.parse import quote

    from hmis_accounts import services as activity

    # An inactive account of each example's own: a reactivation asked for is pending.
    organization = OrganizationFactory()
    account = HMISAccountFactory(organization=organization, status="inactive")
    MembershipFactory(user=account.user, organization=organization, persona="staff")
    sign_in(client, account.user)
    post(client, reverse("hmis-account-request-reactivation", args=[account.pk]), {"note": note})
    post(client, reverse("hmis-account-reminders"), {"login_reminders": reminders})
    get(client, f"/hmis-account/calendar/{quote(token, safe='')}.ics", {})
    request = activity.reactivation_request_create(actor=account.user, account=account)
    sign_in(other_client, provisioning_staff)
    post(other_client, reverse("reactivation-decline", args=[request.pk]), {"reason": reason})


# --- the check itself: a refused input that writes fails it --------------------------------------------------

def test_row_counts_read_every_table_in_one_statement(django_assert_num_queries):
    with django_assert_num_queries(1):
        counts = row_counts()
    every_table = {model._meta.label for model in apps.get_models(include_auto_created=True)
                   if model._meta.app_label in PORTAL_APPS}
    assert set(counts) == every_table
    assert "accounts.User_groups" in counts  # the many-to-many links count too


def _refuse_ces_roles_after(write):
    """The CES roles page's service, made to write and then refuse."""
    def ces_roles_set(**kwargs):
        write()
        raise ValidationError("These roles cannot be saved.")
    return ces_roles_set


@pytest.mark.parametrize("write", ["add", "add and delete", "link"])
def test_refused_input_that_writes_fails_the_check(client, agency, monkeypatch, write):
    from django.contrib.auth.models import Group

    from hmis_portal.core.models import Holiday
    from onboarding.models import CESOrganizationRole

    organization, _, manager, _ = agency
    earlier = Holiday.objects.create(date=dt.date(2031, 1, 2), name="Closed")
    writes = {
        "add": lambda: Holiday.objects.create(date=dt.date(2031, 1, 3), name="Closed"),
        # the same count as before: only the highest id tells
        "add and delete": lambda: (Holiday.objects.create(date=dt.date(2031, 1, 3), name="Closed"), earlier.delete()),
        "link": lambda: manager.groups.add(Group.objects.first()),
    }
    monkeypatch.setattr("onboarding.services.ces_roles_set", _refuse_ces_roles_after(writes[write]))
    sign_in(client, manager)
    role = CESOrganizationRole.objects.filter(active=True).first()
    with pytest.raises(AssertionError, match="refused input wrote rows"):
        post(client, f"/onboarding/agencies/{organization.slug}/ces-roles/", {"roles": [role.pk]})


def test_sign_in_again_only_when_the_session_changed(client, member, implementation_staff,
                                                      django_assert_num_queries):
    sign_in(client, implementation_staff)
    assert client.session[DEVICE_ID_SESSION_KEY]  # the second factor done, as force_login does
    with django_assert_num_queries(0):
        sign_in(client, implementation_staff)  # still signed in as it left it: nothing to do
    session = client.session
    del session[DEVICE_ID_SESSION_KEY]
    session.save()
    sign_in(client, implementation_staff)  # the second factor lost: signed in afresh
    assert client.session[DEVICE_ID_SESSION_KEY]
    sign_in(client, member)
    assert client.session[SESSION_KEY] == str(member.pk)
    client.logout()
    sign_in(client, member)
    assert client.session[SESSION_KEY] == str(member.pk)
