"""Every portal page a demo persona reaches from the menu and the home page
passes axe-core's WCAG 2.1 AA rules (no serious or critical violation) and
does not scroll sideways on a 390 px wide phone, where every table cell is on
the screen and any region that still scrolls takes focus.

axe-core is injected from tests/vendor (refreshed by `make assets` from the
npm package pinned in package.json); no page loads it, nothing is fetched.
The browser puts it in every document it makes (a script of the context's:
0.05 to 0.08 s more a load, measured), not a script tag added after each
load, which sent and compiled its 550 KB again on every page: 0.9 s a page,
a third of the time an audit took. Each page is requested once, by the browser
that audits it: the links to follow are read from the home page the browser
loaded, and a link that is not a page of its own (a redirect, a refusal, a
download) is known from the browser's own response, not from a request of
the test client's before it.
The Django admin, for CoC staff on desktops, is audited on its own (test_browser_admin_accessibility.py).
"""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import Error as PlaywrightError

from accounts.models import User
from hmis_portal.core.demo import LOGINS
from tests.two_factor import PortalClient as Client

# Each pack's crawl takes minutes: in a parallel run each is a group of its
# own (its process has its own Chromium, live server and database), so the
# three run beside each other instead of one after another.
pytestmark = pytest.mark.browser
PACKS = ["la", "mo-bos", "agency-admin"]

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe.min.js"
# axe preloads the media of the rule for autoplaying audio, and not the CSSOM: the one rule
# that reads it (css-orientation-lock) is experimental, which a run by tags leaves out, so
# axe's default preload copied and parsed every stylesheet again (Bootstrap's 230 KB) on each
# page for nothing: 15 to 30 ms of the 170 to 250 of a page's run, with the same results.
AXE_RUN = """() => axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
    resultTypes: ['violations'], preload: {assets: ['media']},
}).then(r => r.violations.filter(v => ['serious', 'critical'].includes(v.impact)).map(v => ({
    id: v.id, targets: v.nodes.map(n => n.target.join(' ')),
})))"""
# The innermost elements that stick out past the right edge, to say what overflows.
OVERFLOWING = """(w) => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1
    && !e.closest('.table-responsive') && ![...e.children].some(c => c.getBoundingClientRect().right > w + 1))
    .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className.split(' ').join('.') : ''))"""
# On a phone a table's cells must be on the screen, not past its edge in a
# region that scrolls sideways (where the Register or Upload button of a row
# was out of sight): the cells that are not, by their column's header.
# (The header row is there for screen readers only, visually hidden.)
CELLS_OFF_SCREEN = """(w) => [...document.querySelectorAll('main tbody td, main tbody th')].filter(c => {
    const r = c.getBoundingClientRect(); return r.width > 0 && (r.right > w + 1 || r.left < -1); })
    .slice(0, 3).map(c => (c.dataset.label || c.textContent).trim().slice(0, 40))"""
# What axe checks only at the size it runs at: a region that scrolls must take focus.
AXE_PHONE = """() => axe.run(document, {runOnly: {type: 'rule', values: ['scrollable-region-focusable']},
    resultTypes: ['violations'], preload: false}).then(r => r.violations.map(v => ({id: v.id,
    targets: v.nodes.map(n => n.target.join(' '))})))"""
# The rule applies only to a region that scrolls: an element whose content is over 13 px
# larger than its box, in a direction its overflow is `auto` or `scroll` (axe's own test,
# `getScroll(element, 13)`, in every document and shadow root). A page with none at the
# phone's width has nothing for the rule to check, and its run (its own pass over the page)
# is left out there; the rule still runs at the desktop width with the others.
SCROLLS = """() => { const scrolls = e => { const big = [e.scrollWidth > e.clientWidth + 13, e.clientHeight + 13 < e.scrollHeight];
    if (!big[0] && !big[1]) return false; const style = getComputedStyle(e);
    return (big[0] && ['scroll', 'auto'].includes(style.overflowX)) || (big[1] && ['scroll', 'auto'].includes(style.overflowY)); };
    const any = root => [...root.querySelectorAll('*')].some(e => scrolls(e) || (e.shadowRoot && any(e.shadowRoot)));
    return any(document); }"""
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 900}
# On a desktop the menu is one line of links (56 px; an agency person's was 104 px, three lines).
ONE_LINE_OF_MENU = 60
HREF = re.compile(r'href="(/[^"#]*)"')
# Known violations still to fix, as (page, rule): empty means none is accepted.
KNOWN: set[tuple[str, str]] = set()


def _portal_links(html: str) -> set[str]:
    links = {link.replace("&amp;", "&") for link in HREF.findall(html)}
    return {link for link in links if not link.startswith(("/static/", "/admin/", "/accounts/logout"))}


def _open(page, url):
    """The browser's response to `url` when it is an HTML page of its own (200,
    not reached by a redirect), else None: the pages the crawl audits."""
    try:
        response = page.goto(url)
    except PlaywrightError as error:
        if "Download is starting" in str(error):
            return None
        raise
    if (response is None or response.request.redirected_from is not None or response.status != 200
            or not response.headers.get("content-type", "").startswith("text/html")):
        return None
    return response


# Every policy pack: each puts other people, steps and pages in front of its personas.
@pytest.fixture(params=[pytest.param(pack, marks=pytest.mark.xdist_group(f"browser-crawl-{pack}")) for pack in PACKS])
def demo(request, policy_rows):
    call_command("seed_demo", "--i-know-this-is-not-production", "--pack", request.param, stdout=StringIO())


def test_every_menu_and_home_page_is_accessible_and_fits_a_phone(demo, _chromium, live_server):
    # The CSP is bypassed, as when axe came in a script tag of its own (which the CSP rightly
    # forbids): the pages are audited as they always were.
    context = _chromium.new_context(base_url=live_server.url, viewport=DESKTOP, bypass_csp=True)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    found, wide, seen = [], [], set()

    def audit(url, email):
        for violation in page.evaluate(AXE_RUN):
            found.append((url, violation["id"], email, violation["targets"][:3]))
        if url == "/":
            menu = page.evaluate("document.querySelector('nav').getBoundingClientRect().height")
            if menu > ONE_LINE_OF_MENU:
                wide.append((url, f"menu {menu} px high at 1280 px", email, []))
        page.set_viewport_size(PHONE)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wide.append((url, width, email, page.evaluate(OVERFLOWING, PHONE["width"])))
        cells = page.evaluate(CELLS_OFF_SCREEN, PHONE["width"])
        if cells:
            wide.append((url, "cells off screen", email, cells))
        for violation in page.evaluate(AXE_PHONE) if page.evaluate(SCROLLS) else []:
            found.append((url, f"{violation['id']} at 390 px", email, violation["targets"][:3]))
        page.set_viewport_size(DESKTOP)

    try:
        for _, email in LOGINS:
            client = Client()
            client.force_login(User.objects.get(email=email))
            context.clear_cookies()
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server.url,
                                  "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])
            # The home page and menu once per persona (they differ by person), each page it links to once.
            home = _open(page, "/")
            assert home is not None, f"{email}: no home page"
            seen.add("/")
            links = sorted(_portal_links(home.text()) - {"/"})
            audit("/", email)
            for url in links:
                if url not in seen and _open(page, url) is not None:
                    seen.add(url)
                    audit(url, email)
    finally:
        context.close()
    assert len(seen) > 10  # the crawl reached the portal, not only a login page
    unexpected = [f for f in found if (re.sub(r"\d+", "<n>", f[0]), f[1]) not in KNOWN]
    # Both lists at once: a violation does not hide a page that does not fit.
    assert unexpected + wide == [], "\n".join(map(str, unexpected + wide))
