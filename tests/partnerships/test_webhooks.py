"""A data partnership accepted, then ended, tells subscribed systems, in
order, with the two agencies' ids and the partnership's link only."""

import pytest

from hmis_portal.core import webhooks
from partnerships import services
from tests.factories import StaffFactory
from tests.partnerships.factories import director, propose
from tests.webhook_receiver import receiving

pytestmark = pytest.mark.django_db


def test_accepted_then_ended_reach_a_receiver_in_order(settings):
    settings.PORTAL_BASE_URL = "https://portal.example.org"
    with receiving() as receiver:
        _, receiver.secret = webhooks.webhook_subscription_create(
            actor=StaffFactory(groups=["CoC system admin"]), url=receiver.url,
            event_types=["partnership.accepted", "partnership.ended"])
        partnership = propose()
        services.partnership_accept(actor=director(partnership.partner), partnership_id=partnership.pk)
        services.partnership_end(actor=director(partnership.agency), partnership_id=partnership.pk,
                                 reason="The agency joined HMIS itself.")
        webhooks.deliver_pending()
    assert receiver.rejected == []
    assert receiver.types() == ["partnership.accepted", "partnership.ended"]
    accepted, ended = (hit["payload"]["data"] for hit in receiver.verified)
    assert accepted == {"id": partnership.pk, "state": "active", "from_state": "proposed",
                        "agency_id": partnership.agency_id, "partner_id": partnership.partner_id,
                        "link": f"https://portal.example.org{partnership.get_absolute_url()}"}
    assert (ended["state"], ended["from_state"]) == ("ended", "active")
    assert "joined HMIS" not in str(receiver.verified)  # the reason is the portal's, not the payload's
