"""A refused radio or checkbox group names its error to assistive technology:
each option points at the message with aria-describedby."""

import re

import pytest
from django.urls import reverse

from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_checkbox_group_errors_are_linked_to_each_option(client, organization):
    manager = MembershipFactory(organization=organization, persona="program_manager").user
    client.force_login(manager)
    html = client.post(reverse("onboarding:ces-roles", args=[organization.slug]), {}).content.decode()
    options = re.findall(r'<input type="checkbox"[^>]*name="roles"[^>]*>', html)
    assert options
    for option in options:
        described = re.search(r'aria-describedby="([^"]+)"', option)
        assert described and 'aria-invalid="true"' in option, option
        for ident in described.group(1).split():
            block = re.search(rf'id="{ident}"[^>]*>(.*?)</div>', html, re.S)
            assert block and "Choose at least one CES role." in block.group(1)


def test_every_form_the_portal_posts_is_checked_by_the_portal_not_the_browser():
    """`novalidate` on every posted form of every template: the browser's own
    bubble would stop a submit before the portal's message beside the field,
    its error summary and its focus (above) could help."""
    import re
    from pathlib import Path

    from django.conf import settings

    forms = [(path.relative_to(settings.BASE_DIR), tag) for path in (settings.BASE_DIR / "templates").rglob("*.html")
             for tag in re.findall(r"<form\b[^>]*>", path.read_text()) if 'method="post"' in tag]
    assert len(forms) > 40
    assert [(str(path), tag) for path, tag in forms if "novalidate" not in tag] == []
