"""A password alone opens no page with client data or an agency's documents
for CoC staff: the second factor covers the whole portal, not only the admin."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.utils import timezone
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.signin.models import SignInPolicy
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory, UserFactory
from tests.two_factor import PortalClient, authenticator, current_code
from tests.view_permissions import all_cases

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"
STAFF_CASES = [case for case in all_cases() if case.coc_groups]


def password_sign_in(client, email, password="test-password-1"):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR="10.0.0.9")


def _request(client, case, kwargs):
    url = reverse(case.url_name, kwargs=kwargs)
    return url, (client.post(url, case.data(kwargs)) if case.method == "post" else client.get(url))


@pytest.mark.parametrize("case", STAFF_CASES, ids=lambda c: c.id)
def test_a_password_alone_opens_no_portal_page_for_coc_staff(case):
    client = PortalClient()
    kwargs = case.build(OrganizationFactory())
    staff = StaffFactory(groups=[case.coc_groups[0]])
    client.force_login(staff, verified=False)
    url, response = _request(client, case, kwargs)
    assert response.status_code == 302, url
    assert urlsplit(response["Location"]).path == reverse("two-factor-setup")

    authenticator(staff)
    url, response = _request(client, case, kwargs)
    assert urlsplit(response["Location"]).path == reverse("two-factor-verify")


def test_the_referral_export_and_documents_need_the_second_factor_after_a_real_sign_in():
    from tests.training.view_cases import _form_submission

    client = Client()
    staff = StaffFactory(groups=["CES team", "CoC implementation", "CoC training"])
    device = authenticator(staff)
    response = password_sign_in(client, staff.email)
    landing = client.get(response["Location"])
    assert urlsplit(landing["Location"]).path == reverse("two-factor-verify")
    export = client.get(reverse("referrals:export"))
    assert export.status_code == 302 and b"," not in export.content
    form = client.get(reverse("training:form-document", kwargs=_form_submission(OrganizationFactory())))
    assert form.status_code == 302 and urlsplit(form["Location"]).path == reverse("two-factor-verify")

    response = client.post(reverse("two-factor-verify") + "?next=/referrals/export.csv", {"token": current_code(device)})
    assert response["Location"] == "/referrals/export.csv"
    assert client.get(reverse("referrals:export")).status_code == 200


def test_the_admin_asks_for_the_same_second_factor(client):
    staff = StaffFactory(is_superuser=True)
    client.force_login(staff, verified=False)
    response = client.get("/admin/")
    assert urlsplit(response["Location"]).path == reverse("two-factor-setup")
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200


def test_a_wrong_code_keeps_the_pages_closed(client):
    staff = StaffFactory(groups=["CES team"])
    authenticator(staff)
    client.force_login(staff, verified=False)
    response = client.post(reverse("two-factor-verify"), {"token": "000000"})
    assert response.status_code == 200
    assert "That code did not work" in response.content.decode()
    assert client.get(reverse("referrals:list")).status_code == 302


def test_a_right_code_right_after_a_wrong_one_is_told_to_wait_not_that_it_is_wrong(client):
    """django-otp makes each wrong code lengthen a wait during which every
    code is refused. A person who typed a wrong code and then the right one
    is told to wait, and for how long, not that the right code is wrong."""
    staff = StaffFactory(groups=["CES team"])
    device = authenticator(staff)
    client.force_login(staff, verified=False)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.post(reverse("two-factor-verify"), {"token": "000000"})
        page = client.post(reverse("two-factor-verify"), {"token": current_code(device)}).content.decode()
        assert "That code did not work" not in page
        assert re.search(r"Too many wrong codes in a row\. Wait (\d+) seconds?, then enter the code", page), page
        seconds = int(re.search(r"Wait (\d+) second", page).group(1))
        assert 1 <= seconds <= 2
        assert client.get(reverse("referrals:list")).status_code == 302
        clock.shift(timedelta(seconds=seconds))
        response = client.post(reverse("two-factor-verify"), {"token": current_code(device)})
    assert response.status_code == 302
    assert client.get(reverse("referrals:list")).status_code == 200


def test_sign_in_out_and_reset_stay_open_before_the_second_factor(client):
    staff = StaffFactory()
    authenticator(staff)
    client.force_login(staff, verified=False)
    for name in ("password_reset", "two-factor-verify", "healthz"):
        assert client.get(reverse(name)).status_code == 200, name
    assert client.post(reverse("logout")).status_code == 302
    assert "_auth_user_id" not in client.session


def test_staff_enrol_an_authenticator_from_a_qr_code_and_get_recovery_codes_once(client):
    staff = StaffFactory(groups=["CES team"])
    client.force_login(staff, verified=False)
    page = client.get(reverse("two-factor-setup")).content.decode()
    assert re.search(r'<img [^>]*src="data:image/svg\+xml', page)
    assert "<script>" not in page
    device = TOTPDevice.objects.get(user=staff, confirmed=False)

    response = client.post(reverse("two-factor-setup"), {"token": "123"})
    assert "That code did not work" in response.content.decode()
    # A wrong code holds the next try back a moment (django-otp's throttle).
    with time_machine.travel(timezone.now() + timedelta(seconds=3)):
        response = client.post(reverse("two-factor-setup"), {"token": current_code(device)})
    assert response.status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    codes = re.findall(r'<li class="recovery-code"><code>([a-z0-9]+)</code></li>', response.content.decode())
    assert len(codes) == 10
    assert set(codes) == set(StaticDevice.objects.get(user=staff).token_set.values_list("token", flat=True))
    assert client.get(reverse("referrals:list")).status_code == 200
    assert codes[0] not in client.get(reverse("two-factor")).content.decode()


def test_a_recovery_code_signs_in_once(client):
    staff = StaffFactory(groups=["CES team"])
    authenticator(staff)
    static = StaticDevice.objects.create(user=staff, name="Recovery codes")
    static.token_set.create(token="abcd1234")
    client.force_login(staff, verified=False)
    assert client.post(reverse("two-factor-verify"), {"token": "abcd1234"}).status_code == 302
    assert client.get(reverse("referrals:list")).status_code == 200
    client.logout()
    client.force_login(staff, verified=False)
    assert client.post(reverse("two-factor-verify"), {"token": "abcd1234"}).status_code == 200


def test_a_password_alone_cannot_replace_the_authenticator(client):
    staff = StaffFactory()
    authenticator(staff)
    client.force_login(staff, verified=False)
    response = client.get(reverse("two-factor-setup"))
    assert urlsplit(response["Location"]).path == reverse("two-factor-verify")
    assert not TOTPDevice.objects.filter(user=staff, confirmed=False).exists()


def test_agency_users_sign_in_with_a_password_until_they_opt_in(client):
    user = MembershipFactory(persona="staff").user
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.force_login(user, verified=False)
        assert client.get(reverse("home")).status_code == 200
        authenticator(user)  # e.g. from another browser
    # The session notices within a minute; the next sign-in at once.
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        response = client.get(reverse("home"))
        assert urlsplit(response["Location"]).path == reverse("two-factor-verify")
    client.logout()
    client.force_login(user, verified=False)
    assert urlsplit(client.get(reverse("home"))["Location"]).path == reverse("two-factor-verify")


def test_a_policy_requiring_two_factors_reaches_signed_in_agency_users_within_a_minute(client):
    user = MembershipFactory(persona="staff").user
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.force_login(user, verified=False)
        assert client.get(reverse("home")).status_code == 200
        SignInPolicy.objects.filter(pk=SignInPolicy.current().pk).update(require_two_factor_for_agency_users=True)
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        response = client.get(reverse("home"))
        assert urlsplit(response["Location"]).path == reverse("two-factor-setup")


def test_the_coc_can_require_two_factors_for_agency_users(client):
    user = MembershipFactory(persona="staff").user
    policy = SignInPolicy.current()
    policy.require_two_factor_for_agency_users = True
    policy.save()
    client.force_login(user, verified=False)
    response = client.get(reverse("home"))
    assert urlsplit(response["Location"]).path == reverse("two-factor-setup")
    assert "Turn off" not in client.get(reverse("two-factor")).content.decode()


def test_an_agency_user_who_opted_in_may_turn_it_off_again(client):
    user = UserFactory()
    authenticator(user)
    client.force_login(user)
    assert "Turn off" in client.get(reverse("two-factor")).content.decode()
    client.post(reverse("two-factor-disable"))
    assert not TOTPDevice.objects.filter(user=user).exists()
    client.force_login(user, verified=False)
    assert client.get(reverse("home")).status_code == 200


def test_the_policy_is_one_row_in_the_admin(client):
    client.force_login(StaffFactory(is_superuser=True))
    response = client.get(reverse("admin:signin_signinpolicy_change", args=[SignInPolicy.current().pk]))
    assert response.status_code == 200
    assert "Idle timeout minutes" in response.content.decode()
