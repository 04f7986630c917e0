"""CoC staff put the provisioning deadline in hours in the admin, and the
people who wait on it read it as a moment on their pages."""

import pytest
from django.utils import timezone

from hmis_access.models import AccessPolicy
from hmis_portal.core.dates import deadline_text
from tests.browser import sign_in
from tests.factories import StaffFactory
from tests.hmis_access.test_browser_access_journey import _submit
from tests.training.factories import finish_everything, identify, participating

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_set_a_deadline_in_hours_and_the_queue_and_the_user_read_it_as_a_moment(browser_page, live_server,
                                                                                     organization):
    page = browser_page
    admin = StaffFactory(groups=["CoC system admin"])
    provisioner = StaffFactory(groups=["CoC provisioning"])
    sign_in(page, live_server, admin.email)
    page.goto(f"{live_server.url}/admin/hmis_access/accesspolicy/{AccessPolicy.current().pk}/change/")
    page.get_by_label("Provisioning hours").fill("48")
    _submit(page, page.get_by_role("button", name="Save", exact=True))
    assert page.get_by_text("not both").is_visible()      # business days are still there
    page.get_by_label("Provisioning business days").fill("")
    page.get_by_label("Provisioning hours").fill("48")
    _submit(page, page.get_by_role("button", name="Save", exact=True))
    policy = AccessPolicy.current()
    assert (policy.provisioning_business_days, policy.provisioning_hours) == (None, 48)

    participating(organization, "access-center")
    request = finish_everything(identify(organization, programs=list(organization.programs.all())),
                                StaffFactory(groups=["CoC training"]))
    assert request.provisioning_due_at - request.ready_at == timezone.timedelta(hours=48)
    wording = deadline_text(request.provisioning_due_at)
    assert wording.startswith("Due by ") and (" PM " in wording or " AM " in wording)

    page.context.clear_cookies()
    sign_in(page, live_server, provisioner.email)
    page.goto(f"{live_server.url}/provisioning/")
    row = page.get_by_role("row").filter(has_text=str(request.user))
    assert wording in row.inner_text() and "47 hours" in row.inner_text()

    page.context.clear_cookies()
    request.user.set_password("test-password-1")
    request.user.save()
    sign_in(page, live_server, request.user.email)
    page.goto(f"{live_server.url}/my-access/")
    assert page.get_by_text(wording).first.is_visible()
