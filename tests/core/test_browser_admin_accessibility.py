"""Every page of the Django admin the portal registers — the index, and for
each model its list (with a few rows), its add form and its change form — as
a superuser passes the same axe-core WCAG 2.1 AA rules as the portal's pages,
at every impact, and runs under the portal's Content Security Policy with
nothing refused.

Kept quick on purpose (a one-off audit of these pages took ten minutes):
one browser, one context, one page for all; lists cut to three rows, since
axe's colour-contrast check takes most of the time and grows with the rows
(8 s for a list of 100 audit events on a busy machine); the menu of every
model beside each page, the same markup on every page, audited on the first
page that has it and left out after; no stylesheet copied and parsed again
for axe (AXE_RUN). A page is audited at its load event, not later: the admin
builds its two-box selectors and date shortcuts then. axe is put in every
document by the browser itself (as an extension's script, not the page's), so
the CSP stays on and what it refuses is reported; what the CSP refuses axe
itself while it runs is not the page's.
"""

import time
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from tests.factories import StaffFactory
from tests.two_factor import PortalClient as Client

# It takes minutes: a group of its own in a parallel run, beside the other browser tests.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser-admin")]

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe.min.js"
# The portal crawl's rules, at every impact: Django's markup is ours to keep too.
# axe preloads the media of the rule for autoplaying audio, and not the CSSOM: the one rule that
# reads it (css-orientation-lock) is experimental, which a run by tags leaves out: axe's default
# copied and parsed again the stylesheets of every page it met first, for nothing.
AXE_RUN = """(exclude) => axe.run({include: [document], exclude: exclude}, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
    resultTypes: ['violations'], preload: {assets: ['media']},
}).then(r => r.violations.map(v => ({id: v.id, impact: v.impact, targets: v.nodes.map(n => n.target.join(' '))})))"""
SIDEBAR = "#nav-sidebar"
ROWS = 3
DESKTOP = {"width": 1280, "height": 900}
# A page's load and audit, on average: 1.9 s measured on two cores with five
# times as much work waiting as there are cores. More means the audit has
# slowed as the one-off did (lists in full, the model menu audited on every page).
SECONDS_A_PAGE = 4


def _admin_pages(superuser) -> list[str]:
    request = RequestFactory().get("/admin/")
    request.user = superuser
    pages = [reverse("admin:index")]
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label):
        opts = model._meta
        prefix = f"admin:{opts.app_label}_{opts.model_name}"
        pages.append(reverse(f"{prefix}_changelist"))
        if model_admin.has_add_permission(request):
            pages.append(reverse(f"{prefix}_add"))
        row = model_admin.get_queryset(request).order_by("pk").first()
        if row is not None:
            pages.append(reverse(f"{prefix}_change", args=[row.pk]))
    return pages


@pytest.fixture
def demo(policy_rows):
    call_command("seed_demo", "--i-know-this-is-not-production", "--pack", "la", stdout=StringIO())


def test_every_admin_page_is_accessible_and_runs_under_the_csp(demo, _chromium, live_server, monkeypatch):
    for model_admin in admin.site._registry.values():
        monkeypatch.setattr(model_admin, "list_per_page", ROWS)
    superuser = StaffFactory(is_superuser=True, groups=["CoC system admin"])
    client = Client()
    client.force_login(superuser)
    pages = _admin_pages(superuser)
    context = _chromium.new_context(base_url=live_server.url, viewport=DESKTOP)
    context.add_init_script(path=str(AXE))
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server.url,
                          "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])
    page = context.new_page()
    refused, found, failed = [], [], []
    state = {"url": None, "auditing": False}

    def console(message):
        if "Content Security Policy" in message.text and not state["auditing"]:
            refused.append((state["url"], message.text[:160]))

    page.on("console", console)
    page.on("pageerror", lambda error: refused.append((state["url"], str(error)[:160])))
    sidebar_seen = False
    started = time.monotonic()
    try:
        for url in pages:
            state["url"] = url
            response = page.goto(url, wait_until="load")
            if response.status != 200:
                failed.append((url, response.status))
                continue
            has_sidebar = page.locator(SIDEBAR).count() > 0
            exclude = [[SIDEBAR]] if has_sidebar and sidebar_seen else []
            state["auditing"] = True
            violations = page.evaluate(AXE_RUN, exclude)
            state["auditing"] = False
            sidebar_seen |= has_sidebar
            for violation in violations:
                found.append((url, violation["id"], violation["impact"], violation["targets"][:3]))
    finally:
        context.close()
    elapsed = time.monotonic() - started
    assert len(pages) > 100
    # All three at once: a violation does not hide a page the CSP breaks.
    assert failed + found + refused == [], "\n".join(map(str, failed + found + refused))
    assert elapsed < SECONDS_A_PAGE * len(pages), f"{len(pages)} admin pages took {elapsed:.0f} s"
