"""The one permission test every portal view goes through (STYLE §7).

Each app lists its views in `tests/<app>/view_cases.py` as `CASES`, a list of
`ViewCase`. `tests/test_view_permissions.py` then checks, for every case:
anonymous → sent to sign in; a person of another agency → 404 (with HMIS
access there too); each persona of the agency → allowed only if the case
names it (403 otherwise), and, for cases that name `with_hmis_access`, the
same with granted, active HMIS access at the agency; CoC staff
→ allowed only in the groups the case names. Each person signs in once, with
`PortalClient.force_login`, which also completes the second factor for those
who need one (tests/two_factor.py), and each test asks with that session;
tests/signin checks that a password alone reaches none of these views. A
URL of the portal with no case (and not in EXEMPT) fails the suite, so a new
view cannot skip it.
"""

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

import tests

PERSONAS = ("executive_director", "program_manager", "agency_administrator", "staff")


# Compared by identity: a case is one parameter of the module fixture that
# builds it once for all its tests (tests/test_view_permissions.py), and pytest
# runs the tests of one hashable parameter together.
@dataclass(eq=False)
class ViewCase:
    url_name: str
    # Builds what the view needs for `organization` and returns the URL kwargs.
    build: Callable = lambda organization: {}
    # Agency personas allowed; "any" means every member of the agency.
    personas: tuple | str = ()
    # Agency personas allowed when they also hold granted, active HMIS access
    # at the agency in a role that works referrals (SPEC §4, "Who sees client
    # data"); "any" means every member who does.
    with_hmis_access: tuple | str = ()
    # CoC staff groups allowed (superusers always are).
    coc_groups: tuple = ()
    method: str = "get"
    # POST data, built from the URL kwargs; the check is about access, so
    # the data may be invalid (a re-shown form counts as allowed).
    data: Callable = lambda kwargs: {}
    # A view about no agency's object (a CoC-wide list): outsiders are
    # members with no persona here, so they get the persona rule, not 404.
    agency_object: bool = True
    id: str = field(default="")

    def __post_init__(self):
        self.id = self.id or f"{self.url_name}:{self.method}"

    def allows(self, persona: str, *, hmis_access: bool = False) -> bool:
        if self.personas == "any" or persona in self.personas:
            return True
        return hmis_access and (self.with_hmis_access == "any" or persona in self.with_hmis_access)


# URL names that need no case, and why.
EXEMPT = {
    "home": "every signed-in person's own page; tested in tests/accounts",
    "healthz": "public by design; tested in tests/core",
    "login": "public", "logout": "public", "password_reset": "public", "password_reset_done": "public",
    "password_reset_confirm": "public", "password_reset_complete": "public",
    "password_change": "own account only", "password_change_done": "own account only",
    "api-keys": "own account only (every signed-in person's own keys); tested in tests/accounts/test_own_api_keys.py",
    "two-factor": "own account only; tested in tests/signin",
    "two-factor-setup": "own account only; tested in tests/signin",
    "two-factor-verify": "own account only; tested in tests/signin",
    "two-factor-recovery-codes": "own account only; tested in tests/signin",
    "two-factor-disable": "own account only; tested in tests/signin",
    "stay-signed-in": "own session only; tested in tests/signin",
    "signin-provider": "public: the start of sign-in through the CoC's identity provider (404 unless configured); "
                       "tested in tests/signin/test_oidc.py",
    "signin-provider-callback": "public: the identity provider's answer, which its single-use state ties to the "
                                "browser that started; tested in tests/signin/test_oidc.py",
    "onboarding:join": "the public page where an organization asks to join, before anyone of it has an account; "
                       "tested in tests/onboarding/test_join.py",
    "invitation-accept": "the link emailed to an invited person, before they have an account: its single-use "
                         "token is the credential; tested in tests/accounts/test_invitations.py",
    "hmis-account-calendar-feed": "calendar apps poll it without a session: its secret token is the credential; "
                                  "tested in tests/hmis_accounts/test_calendar_feed.py",
    # The API authenticates by API key, never by the session: its own
    # permission table is tests/accounts/test_api.py (API_CASES).
    "api:openapi": "the API's schema, public by design (it describes the API, never its data); tested in "
                   "tests/accounts/test_api.py",
    "api:hmis-logins": "API-key only, every persona's key: tests/accounts/test_api.py (API_CASES)",
    "api:agency-list": "API-key only, every persona's key: tests/accounts/test_api.py (API_CASES), "
                  "tests/accounts/test_read_api.py",
    "api:program-list": "API-key only, every persona's key: tests/accounts/test_api.py (API_CASES), "
                  "tests/accounts/test_read_api.py",
    "api:access-request-list": "API-key only, every persona's key: tests/accounts/test_api.py (API_CASES), "
                  "tests/accounts/test_read_api.py",
    "api:hmis-account-list": "API-key only, every persona's key: tests/accounts/test_api.py (API_CASES), "
                  "tests/accounts/test_read_api.py",
    "api:referral-count-list": "API-key only, every persona's key: tests/accounts/test_api.py (API_CASES), "
                  "tests/accounts/test_read_api.py",
    "api:partnership-list": "API-key only, every persona's key: tests/accounts/test_api.py (API_CASES), "
                  "tests/accounts/test_read_api.py",
    "api:agency-detail": "API-key only; another agency's object is a 404: tests/accounts/test_read_api.py",
    "api:program-detail": "API-key only; another agency's object is a 404: tests/accounts/test_read_api.py",
    "api:access-request-detail": "API-key only; another agency's object is a 404: tests/accounts/test_read_api.py",
    "api:hmis-account-detail": "API-key only; another agency's object is a 404: tests/accounts/test_read_api.py",
    "api:partnership-detail": "API-key only; another agency's object is a 404: tests/accounts/test_read_api.py",
}


def all_cases() -> list[ViewCase]:
    cases = []
    for module in pkgutil.iter_modules(tests.__path__):
        if not module.ispkg:
            continue
        try:
            view_cases = importlib.import_module(f"tests.{module.name}.view_cases")
        except ModuleNotFoundError as exc:
            if exc.name != f"tests.{module.name}.view_cases":
                raise
            continue
        cases.extend(view_cases.CASES)
    return cases
