"""Every link the menu and the home page show a person opens for that person.

A link that leads to a 403 is a link to something the person may not do: the
menu asks the same predicates the views use, so it shows only what serves them."""

import re

from hmis_portal.core.demo import LOGINS
from accounts.models import User

HREF = re.compile(r'href="(/[^"#]*)"')


def _links(html: str) -> set[str]:
    return {link.replace("&amp;", "&") for link in HREF.findall(html) if not link.startswith("/static/")}


def test_menu_and_home_links_open_for_each_demo_persona(client, seeded_demo):
    refused = []
    for label, email in LOGINS:
        client.force_login(User.objects.get(email=email))
        home = client.get("/")
        assert home.status_code == 200
        links = _links(home.content.decode())
        # One step further: the agency pages the home page links to.
        for link in [link for link in links if link.startswith("/agencies/") or "/organizations/" in link]:
            page = client.get(link)
            if page.status_code == 200:
                links |= _links(page.content.decode())
        for link in sorted(links):
            status = client.get(link).status_code
            if status in (403, 404):
                refused.append((label, link, status))
    assert refused == [], "\n".join(map(str, refused))
