"""However long a person's or an agency's name, the menu is one line at
1280 px and fits a 390 px phone, under each policy pack's menu for each
persona: the name is cut with an ellipsis on the screen, read whole by a
screen reader and shown whole as the link's title."""

import pytest
from django.conf import settings

from accounts.models import Persona
from hmis_portal import policy_pack
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory, UserFactory
from tests.two_factor import PortalClient as Client

pytestmark = pytest.mark.browser

LONG_PERSON = ("Maria-Guadalupe Alexandrina Fitzwilliam-Montgomery Oyelaran-Castellanos de la Vega "
               "Thorvaldsdottir-Nakamura Okonkwo-Mbek")
LONG_AGENCY = ("Greater Riverside and Inland Valleys Interfaith Coalition for Supportive Housing, "
               "Shelter and Outreach Services Inc West")
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 900}
# One line of menu at 1280 px is 56 px; two lines would be over 90.
ONE_LINE_OF_MENU = 60


def _signed_in(context, live_server, user):
    client = Client()
    client.force_login(user)
    context.clear_cookies()
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server.url,
                          "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])


@pytest.mark.parametrize("pack", ["la", "mo-bos", "agency-admin"])
def test_a_long_name_never_wraps_the_menu_nor_overflows_a_phone(pack, _chromium, live_server, policy_rows):
    assert len(LONG_PERSON) == len(LONG_AGENCY) == 120
    policy_pack.load(pack)
    agency = OrganizationFactory(name=LONG_AGENCY)
    people = {persona.label: MembershipFactory(organization=agency, persona=persona,
                                               user=UserFactory(full_name=LONG_PERSON)).user
              for persona in Persona}
    people["CoC staff"] = StaffFactory(full_name=LONG_PERSON, groups=["CoC system admin"])
    # The checks read the menu once it is open, not its opening: with reduced motion Bootstrap
    # opens it at once (its own CSS and script), where its 0.35 s slide took a third of the test.
    context = _chromium.new_context(base_url=live_server.url, viewport=DESKTOP, reduced_motion="reduce")
    page = context.new_page()
    wrong = []
    try:
        for who, user in people.items():
            _signed_in(context, live_server, user)
            page.set_viewport_size(DESKTOP)
            page.goto("/", wait_until="domcontentloaded")
            height = page.evaluate("document.querySelector('nav').getBoundingClientRect().height")
            if height > ONE_LINE_OF_MENU:
                wrong.append((who, f"menu {height} px high at 1280 px"))
            # The whole name for a screen reader and as a title; the visible part is cut.
            toggle = page.locator("nav .dropdown-toggle", has_text=LONG_PERSON)
            if toggle.get_attribute("title") != LONG_PERSON or LONG_PERSON not in toggle.inner_text():
                wrong.append((who, "the person's name is not whole for a screen reader and as a title"))
            if who != "CoC staff":
                link = page.locator("nav a.nav-link", has_text=LONG_AGENCY)
                if link.get_attribute("title") != LONG_AGENCY:
                    wrong.append((who, "the agency's name is not whole as a title"))
            name = page.locator("nav .nav-name").first
            if not name.evaluate("e => e.scrollWidth > e.clientWidth"):
                wrong.append((who, "the name is not cut at 1280 px"))

            page.set_viewport_size(PHONE)
            page.get_by_role("button", name="Toggle navigation").click()
            page.locator("#nav.show").wait_for()
            width = page.evaluate("document.documentElement.scrollWidth")
            right = page.evaluate("Math.max(...[...document.querySelectorAll('nav *')]"
                                  ".map(e => e.getBoundingClientRect().right))")
            if width > PHONE["width"] or right > PHONE["width"] + 1:
                wrong.append((who, f"at 390 px the page is {width} px wide, the menu reaches {right} px"))
            # The person's own pages are still reached from the open menu on a phone.
            page.locator("nav .dropdown-toggle", has_text=LONG_PERSON).click()
            if not page.get_by_role("link", name="Two-factor sign-in").is_visible():
                wrong.append((who, "the person's own menu does not open at 390 px"))
    finally:
        context.close()
    assert wrong == [], wrong
