"""CoC staff end a partnership from the admin too, through the same service."""

import pytest
from django.urls import reverse

from partnerships.models import DataPartnership
from tests.partnerships.factories import active, coc_staff

pytestmark = pytest.mark.django_db


def test_the_admin_end_button_calls_the_service(client):
    partnership = active()
    client.force_login(coc_staff("CoC implementation"))
    page = client.get(reverse("admin:partnerships_datapartnership_change", args=[partnership.pk]))
    url = reverse("admin:partnerships_datapartnership_end", args=[partnership.pk])
    assert url.encode() in page.content
    assert client.post(url, {"reason": ""}).status_code == 200  # a reason is required
    partnership.refresh_from_db()
    assert partnership.status == DataPartnership.Status.ACTIVE
    assert client.post(url, {"reason": "The MOA lapsed."}).status_code == 302
    partnership.refresh_from_db()
    assert partnership.status == DataPartnership.Status.ENDED and partnership.end_reason == "The MOA lapsed."


def test_other_coc_groups_get_no_end_button(client):
    partnership = active()
    client.force_login(coc_staff("CES team"))
    url = reverse("admin:partnerships_datapartnership_end", args=[partnership.pk])
    assert client.post(url, {"reason": "x"}).status_code in (302, 403, 404)
    partnership.refresh_from_db()
    assert partnership.status == DataPartnership.Status.ACTIVE
