"""What the core and the earlier stages need from the later ones, in one place.

The stages are layers (SPEC §5): `accounts` ← `onboarding` ← `training` ←
`hmis_access`, with `referrals` and `partnerships` on onboarding, and none
imports a later one. Where an earlier page or rule needs something only a
later stage knows (the home page's tasks, an agency's history, step 3 of the
agency's progress, the links of an agency's page, the access policy), the later
stage offers it here, from its `AppConfig.ready()`, with an explicit call:

    registry.open_tasks.add(work.open_tasks, app="training")

and the earlier code reads it here (`for provider in registry.open_tasks`).
So the home page can be followed from `accounts.views.home` to
`core.work.open_tasks_for` to this module, and `grep "registry.open_tasks.add"`
finds every app that adds to it. `ready()` runs in INSTALLED_APPS order, which
puts every app after the apps it stands on (HMIS accounts before referrals and
data partnerships, which stand on neither it nor HMIS access), so the lists
keep that order (demo data is built in it).

Two shapes:

- `Providers`: any number of apps add a function; the readers call each, in order.
- `Provider`: exactly one later app provides a lookup an earlier one needs
  (policy rows it cannot name); calling it before anyone provided it is an
  error that names the need.
- `Table`: a value per model label, declared by the app that owns the model
  (who may read its history).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured


class Providers:
    """Functions that apps add for one need, in the order they were added."""

    def __init__(self, need: str):
        self.need = need
        self._added: dict[tuple[str, str], Callable] = {}

    def add(self, function: Callable, *, app: str) -> None:
        # Keyed by app and function: `ready()` run twice adds nothing twice.
        name = f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', repr(function))}"
        self._added[(app, name)] = function

    def __iter__(self) -> Iterator[Callable]:
        return iter(list(self._added.values()))

    def gather(self, *args) -> list:
        """Every provider's list for these arguments, one after another."""
        return [item for provider in self for item in provider(*args)]

    def apps(self) -> list[str]:
        """The apps that added to this need, in order (for tests and readers)."""
        return list(dict.fromkeys(app for app, _ in self._added))

    def __repr__(self) -> str:
        return f"<Providers {self.need}: {', '.join(self.apps()) or 'none'}>"


class Provider:
    """One lookup that an earlier stage needs and one later app provides."""

    def __init__(self, need: str):
        self.need = need
        self.app: str | None = None
        self._function: Callable | None = None

    def provide(self, function: Callable, *, app: str) -> None:
        if self.app is not None and self.app != app:
            raise ImproperlyConfigured(f"{self.need}: already provided by {self.app}, not also by {app}.")
        self.app, self._function = app, function

    def __call__(self, *args, **kwargs):
        if self._function is None:
            raise ImproperlyConfigured(f"No installed app provides {self.need}.")
        return self._function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Provider {self.need}: {self.app or 'none'}>"


class Table:
    """A value per model label (`app_label.model`), declared by the model's app."""

    def __init__(self, need: str):
        self.need = need
        self._rows: dict[str, object] = {}

    def declare(self, label: str, value, *, app: str) -> None:
        if label.split(".")[0] != app.split(".")[-1]:
            raise ImproperlyConfigured(f"{self.need}: {app} declares {label}, a model of another app.")
        self._rows[label] = value

    def items(self):
        return list(self._rows.items())

    def __repr__(self) -> str:
        return f"<Table {self.need}: {len(self._rows)} models>"


@dataclass(frozen=True)
class Link:
    """A link a later stage puts on an earlier stage's page; `step` places it
    under that step of an agency's progress, else with the page's links."""

    text: str
    url: str
    step: int | None = None
    detail: str = ""


# --- the home page ---------------------------------------------------------------------------------

# f(user) -> list[core.work.OpenTask], or a generator of prepared questions returning it (prepared.answer_all):
# what waits on the person (read by core.work.open_tasks_for).
open_tasks = Providers("home-page tasks")

# --- mail ------------------------------------------------------------------------------------------

# app label -> the CoC team that answers for that app's pages ("implementation",
# "support", "training" or "ces", `core.models.MailPolicy.TEAMS`): a message's
# Reply-To is that team's inbox for the page it links to (read by core.outbox).
mail_teams = Table("the team that answers for an app's pages")

# --- the portal's figures for Prometheus ------------------------------------------------------------

# f(now) -> list[core.metrics.Figure]: gauges computed at scrape time, each
# provider in a fixed number of queries (read by core.metrics at /metrics).
metric_figures = Providers("the portal's figures for Prometheus")

# --- demo data -------------------------------------------------------------------------------------

# f(stdout): the app's demo data, idempotent (run by `manage.py seed_demo`, in the layers' order).
demo_builders = Providers("demo data")

# --- an agency's pages -----------------------------------------------------------------------------

# f(organization, user) -> list of querysets, one per kind (model) of object,
# of the agency's objects whose audit events belong to its history and that
# `user` may read (read by core.audit.agency_history, which asks each for its
# events in one indexed query and never loads the objects themselves).
agency_history_subjects = Providers("an agency's history")

# f(organization) -> (what is true now, whom it waits on, done) or None: step 3
# of the agency's progress (read by onboarding.selectors.progress).
agency_step_three = Providers("step 3 of an agency's progress")

# f(organization, user) -> list[Link]: links on the agency's page (accounts' organization page).
agency_links = Providers("links on an agency's page")

# f(organization, user) -> list[Link]: links on the agency's HMIS participation page (onboarding).
participation_links = Providers("links on an agency's participation page")

# f(organization) -> url: where an agency's name links to in lists of agencies
# (accounts' search); without a provider, the agency's own page.
agency_page = Provider("the page an agency's name links to")
# f(organization) -> list[Link]: what an agency that does not use HMIS (it
# sends its intakes to a data partner) does instead of joining HMIS; an
# agency no app names this way joins HMIS (step 1, the Organization Agreement).
instead_of_joining = Providers("what an agency that does not use HMIS does instead of joining it")

# --- policy the authorization module reads (accounts.access) ---------------------------------------

# f() -> the CoC's access policy row: `.requester_personas` (who asks for a
# person's HMIS access) and `.access_requests_need_approval`.
access_policy = Provider("the CoC's access policy")

# f(user) -> where the person's HMIS access stands against the CoC's approval
# step (read by access.training_order_refusal): APPROVED (a live request past
# the step, a granted one, or an HMIS account), AWAITING, DECLINED, or NO_REQUEST.
APPROVED, AWAITING, DECLINED, NO_REQUEST = "approved", "awaiting", "declined", ""
approval_stage = Provider("where a person's HMIS access request stands against the CoC's approval")

# f(person, item) -> list[str]: the labels of the checklist items (courses,
# forms) that `item` (a course or form of `person`'s) still waits for, by
# the item's `waits_for` (read by access.training_order_refusal; CoC approval
# is the approval stage's, above, not this).
unmet_prerequisites = Provider("what a person's course or form still waits for")

# f() -> QuerySet of the HMIS roles (strings, flat) that work CES referrals: the CoC's CES roles.
referral_hmis_roles = Provider("the HMIS roles that work referrals")

# f() -> QuerySet of HMIS accounts that are active (fields `user`,
# `organization`, `hmis_role`): who works referrals through their HMIS access.
active_hmis_accounts = Provider("the active HMIS accounts")
# What the portal holds of each HMIS account, for reconciling the HMIS with it
# (`manage.py hmis_sync`): a `core.scim.PortalDirectory`.
hmis_directory = Provider("the portal's HMIS accounts, for reconciliation")

# --- what follows an earlier stage's decision, in the decision's own transaction ------------------
#
# Named signals (core.signals) run after the sender commits, in a transaction
# of their own. What must commit or roll back with the decision itself (the
# HMIS provisioning outbox, SPEC §5: "written in the same transaction as the
# decision") is asked of the later stages here, inside the sender's transaction.

# f(*, organization, person, actor, at): `person` no longer holds any
# membership at `organization` (accounts.services.membership_remove).
membership_ended = Providers("what follows a person leaving an agency")

# f(*, organization_ids, at, actor=None, why=""): these agencies' Organization
# Agreements lapsed and none is in force any more (onboarding.services:
# `agreements_expire`, and `agreement_terminate` with the staff member who
# terminated it and why).
agreements_lapsed = Providers("what follows agencies' agreements lapsing")

# label -> tuple of accounts.access.Work members whose CoC staff read the
# audit history of that model's objects (None: every CoC group); a model not
# declared is read by superusers only (read by access.history_models_for).
history_readers = Table("who reads a model's history")

# --- webhooks (core.webhooks) ------------------------------------------------------------------------

# f() -> the system admins (users), told when a webhook subscription is paused.
system_admins = Provider("the system administrators")
# f(subscription) -> the path of a webhook subscription's page (its delivery log).
webhooks_page = Provider("the page of a webhook subscription")
