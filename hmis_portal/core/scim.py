"""The CoC's HMIS as a SCIM 2.0 target (RFC 7643, RFC 7644): what each
provisioning command means there, the "test connection", and the
reconciliation that reads its users back. Requests and payloads go through
the python-scim libraries (scim2-client over httpx2, scim2-models); no page
calls this module, only workers and management commands.

The portal's HMIS account id is the user's `externalId`; the agency goes in
the enterprise extension's `organization`; a role is membership of one group
among the groups the role mapping names (`managed_groups`).
"""

import datetime as dt
import functools
import hashlib
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx2
from django.conf import settings
from scim2_client import RequestNetworkException, SCIMClientException, UnexpectedStatusCodeException
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import (
    BulkOperation,
    BulkRequest,
    ConflictException,
    Group,
    PatchOp,
    PatchOperation,
    SCIMException,
    ScimProvider,
    SearchRequest,
)

from .models import ProvisioningCommand
from .provisioning import Refused, Sent, Transient

# The SCIM libraries build pydantic model classes as they go (the discovered
# User schema, `PatchOp[User]`, `BulkRequest[User]`), and pydantic reads each
# new class's source with `ast`; CPython 3.11 can fail that with "AST
# constructor recursion depth mismatch" when two threads of one process do it
# at once. A worker process delivers one run at a time, so this costs nothing
# there; threads of one process (a thread pool, the tests' races) take turns
# per command, while their claims still race in the database.
MODELS_LOCK = threading.RLock()

Kind = ProvisioningCommand.Kind
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PAGE_SIZE = 100


# What an HMIS says of itself on its discovery endpoints (/Schemas,
# /ResourceTypes, /ServiceProviderConfig), turned into model classes: kept by
# the process per address and token, since building those classes at every
# delivery run cost more than most runs' own work (three requests, and 0.2 s
# of CPU in a quiet worker, over a second in a process that has imported
# much: pydantic looks for each new class's source among the loaded modules).
# Discovered again after DISCOVERY_SECONDS, after an answer that says the
# portal's idea of the schemas may be wrong (`_call`: a 400, or an answer the
# models cannot read), and by "Test connection" (`check_connection`), which
# staff use after the HMIS changes. Guarded by MODELS_LOCK.
DISCOVERY_SECONDS = 600
_discoveries: dict[tuple[str, str], tuple[float, ScimProvider]] = {}


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every target of the process: each client made its
    own, loading the CA bundle again (40 ms, as much as a short delivery
    run's requests). A context serves any number of connections and threads."""
    return httpx2.create_ssl_context()


def forget_discoveries() -> None:
    """Discover every HMIS afresh at its next use (a new server behind an address)."""
    with MODELS_LOCK:
        _discoveries.clear()


def _quote(value: str) -> str:
    """A string literal of a SCIM filter (RFC 7644 §3.4.2.2)."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Target:
    """A connection to the HMIS's SCIM endpoint. The token is sent as a
    bearer token and never kept anywhere else (not in errors, not in logs)."""

    def __init__(self, url: str, token: str = "", *, connect_timeout: float = 3.0, timeout: float = 10.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self.http = httpx2.Client(base_url=self.url, headers=headers, verify=_tls(),
                                  timeout=httpx2.Timeout(timeout, connect=connect_timeout))
        self.client = SyncSCIMClient(self.http)
        self._discovered = False
        # The token only as a digest: it is kept nowhere else (see the class's docstring).
        self._discovery_key = (self.url, hashlib.sha256(token.encode()).hexdigest())

    @classmethod
    def from_settings(cls) -> "Target":
        return cls(settings.HMIS_SCIM_URL, settings.HMIS_SCIM_TOKEN,
                   connect_timeout=settings.HMIS_SCIM_CONNECT_TIMEOUT, timeout=settings.HMIS_SCIM_TIMEOUT)

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -------------------------------------------------------- plumbing

    def _call(self, method: Callable, *args, **kwargs):
        """A library call, its failures sorted into Transient and Refused."""
        try:
            return method(*args, **kwargs)
        except (Transient, Refused):
            raise
        except RequestNetworkException as exc:
            raise Transient(f"the HMIS cannot be reached: {_notes(exc)}") from exc
        except SCIMException as exc:
            status = int(getattr(exc, "status", 0) or 0)
            if status == 400:  # invalidValue, invalidPath...: the schemas may have changed
                self._forget_discovery()
            if status >= 500 or status == 429:
                raise Transient(f"the HMIS answered {status}: {exc}") from exc
            raise Refused(f"the HMIS answered {status}: {exc}") from exc
        except UnexpectedStatusCodeException as exc:
            status = int(getattr(exc, "status_code", 0) or 0)
            if status == 400:
                self._forget_discovery()
            if status >= 500 or status == 429:
                raise Transient(f"the HMIS answered {status}") from exc
            raise Refused(f"the HMIS answered {status}") from exc
        except SCIMClientException as exc:
            # An answer the library cannot read (an HTML error page from a
            # proxy in front of the HMIS, say): tried again, shown failed
            # after the attempts run out. Or an answer the discovered models
            # cannot read: discovered again at the next run.
            self._forget_discovery()
            raise Transient(f"unexpected answer from the HMIS: {exc} {_notes(exc)}".strip()) from exc

    def discover(self, *, fresh: bool = False) -> None:
        """Learn the HMIS's schemas and options: once for this target, from
        what the process keeps (`_discoveries`) unless `fresh` or too old."""
        with MODELS_LOCK:
            if self._discovered and not fresh:
                return
            kept = None if fresh else _discoveries.get(self._discovery_key)
            if kept is not None and time.monotonic() - kept[0] < DISCOVERY_SECONDS:
                self.client.provider = kept[1]
            else:
                self.client = SyncSCIMClient(self.http)  # one that knows nothing yet: discover() asks for all
                self._call(self.client.discover)
                _discoveries[self._discovery_key] = (time.monotonic(), self.client.provider)
            self._discovered = True

    def _forget_discovery(self) -> None:
        with MODELS_LOCK:
            _discoveries.pop(self._discovery_key, None)

    @property
    def user_model(self):
        self.discover()
        return self.client.get_resource_model("User")

    def config(self):
        self.discover()
        return self.client.provider.config

    def find_user(self, *, external_id: str = "", user_name: str = ""):
        """The HMIS user with this externalId, else with this userName."""
        self.discover()
        for attribute, value in (("externalId", external_id), ("userName", user_name)):
            if not value:
                continue
            found = self._call(self.client.query, self.user_model,
                               query_parameters=SearchRequest(filter=f"{attribute} eq {_quote(value)}", count=2))
            if found.resources:
                return found.resources[0]
        return None

    def _user(self, command: ProvisioningCommand):
        from .provisioning import known_remote_id

        remote_id = known_remote_id(command.subject) or command.payload.get("remote_id", "")
        if remote_id:
            try:
                return self._call(self.client.query, self.user_model, remote_id)
            except Refused:
                pass  # deleted in the HMIS since: look it up again
        return self.find_user(external_id=command.subject, user_name=command.payload.get("user_name", ""))

    def _group(self, name: str):
        found = self._call(self.client.query, Group,
                           query_parameters=SearchRequest(filter=f"displayName eq {_quote(name)}", count=2))
        return found.resources[0] if found.resources else None

    # -------------------------------------------------------- commands

    def execute(self, command: ProvisioningCommand) -> Sent:
        """Carry out one command; safe to repeat. Raises Transient or Refused."""
        with MODELS_LOCK:
            self.discover()
            return self._one(command)

    def _one(self, command: ProvisioningCommand) -> Sent:
        handler = {Kind.CREATE: self._create, Kind.ACTIVATE: self._set_active, Kind.DEACTIVATE: self._set_active,
                   Kind.SET_GROUP: self._set_group}[command.kind]
        return handler(command)

    def _new_user(self, command: ProvisioningCommand):
        """The user a create command makes, as the HMIS's User model."""
        p = command.payload
        data: dict[str, Any] = {"userName": p["user_name"], "externalId": command.subject,
                                "active": bool(p.get("active", True))}
        if p.get("given_name") or p.get("family_name"):
            data["name"] = {k: v for k, v in (("givenName", p.get("given_name")),
                                              ("familyName", p.get("family_name"))) if v}
        if p.get("email"):
            data["emails"] = [{"value": p["email"], "type": "work", "primary": True}]
        if p.get("agency"):
            data[ENTERPRISE_USER] = {"organization": p["agency"]}
        return self.user_model.model_validate(data)

    def _create(self, command: ProvisioningCommand) -> Sent:
        p = command.payload
        user = self._new_user(command)
        active = bool(user.active)
        try:
            created = self._call(self.client.create, user)
        except Refused as exc:
            if not isinstance(exc.__cause__, ConflictException) and "409" not in str(exc):
                raise
            # The user exists already (created by hand, or by this command
            # before its worker died): link it, and make it what was decided.
            existing = self.find_user(external_id=command.subject, user_name=p["user_name"])
            if existing is None:
                raise
            changes = []
            if existing.external_id != command.subject:
                changes.append(PatchOperation(op="replace", path="externalId", value=command.subject))
            if bool(existing.active) != active:
                changes.append(PatchOperation(op="replace", path="active", value=active))
            if changes:
                self._call(self.client.modify, self.user_model, existing.id,
                           PatchOp[self.user_model](operations=changes))
            return Sent(existing.id, "linked to the existing user")
        return Sent(created.id, "created")

    def _set_active(self, command: ProvisioningCommand) -> Sent:
        active = command.kind == Kind.ACTIVATE
        user = self._user(command)
        if user is None:
            if not active:
                return Sent("", "not in the HMIS: nothing to deactivate")
            raise Refused("no user in the HMIS for this account: it must be created first")
        if user.active is not None and bool(user.active) == active:
            return Sent(user.id, "unchanged")
        self._call(self.client.modify, self.user_model, user.id, PatchOp[self.user_model](
            operations=[PatchOperation(op="replace", path="active", value=active)]))
        return Sent(user.id, "activated" if active else "deactivated")

    def _set_group(self, command: ProvisioningCommand) -> Sent:
        user = self._user(command)
        if user is None:
            raise Refused("no user in the HMIS for this account: it must be created first")
        names = command.payload.get("managed_groups", [])
        changes = group_operations(command, user.id, {name: self._group(name) for name in names})
        for group_id, label, operation in changes:
            self._call(self.client.modify, Group, group_id, PatchOp[Group](operations=[operation]))
        return Sent(user.id, f"groups {' '.join(label for _id, label, _op in changes)}" if changes else "unchanged")

    def group_changes(self, pairs) -> dict:
        """What each group command of `pairs` ((command, user id)) changes,
        from one read of each group they name (not one per command): {command
        id: [(group id, "+name" or "-name", PatchOperation)], empty when the
        user is in the groups already, or the Refused it meets}. Raises
        Transient or Refused when the groups cannot be read."""
        with MODELS_LOCK:
            self.discover()
            names = sorted({name for command, _user_id in pairs for name in command.payload.get("managed_groups", [])})
            groups = {name: self._group(name) for name in names}
            plan = {}
            for command, user_id in pairs:
                try:
                    plan[command.pk] = group_operations(command, user_id, groups)
                except Refused as exc:
                    plan[command.pk] = exc
            return plan

    def bulk_limits(self) -> tuple[int, int]:
        """How many operations and bytes one Bulk request may carry, as the
        HMIS advertises them ((0, 0): no Bulk; a size of 0: none given)."""
        bulk = self.config().bulk
        if not (bulk and bulk.supported):
            return 0, 0
        return int(bulk.max_operations or 0), int(bulk.max_payload_size or 0)

    def bulk_execute(self, commands, groups: dict | None = None) -> dict:
        """Carry out commands in one Bulk request (RFC 7644 §3.7): creates
        (POST /Users), (de)activations of users the HMIS has (PATCH
        /Users/id), and group changes (PATCH /Groups/id, adding or removing
        the member, one operation per group `groups` names for the command:
        `group_changes`). `commands` are (command, user id) pairs (the id is
        unused for a create); returns each command's Sent, or the exception its
        operations met. An operation the HMIS answers 409 (the user exists) or
        404 (the user or group is gone) is carried out again on its own, which
        links or looks them up. Raises Transient or Refused when the whole
        request fails."""
        with MODELS_LOCK:
            self.discover()
            return self._bulk_execute(commands, groups or {})

    def _bulk_execute(self, commands, groups: dict) -> dict:
        model = self.user_model
        # Two patches serve every (de)activation of the request: a PatchOp's
        # validation resolves its paths against the schema, which costs more
        # than the rest of an operation.
        patches = {active: PatchOp[model](operations=[PatchOperation(op="replace", path="active", value=active)])
                   for active in (True, False)}
        operations, sent = [], []  # sent: each operation's command, in the request's order
        for command, remote_id in commands:
            if command.kind == Kind.CREATE:
                operations.append(BulkOperation[model](method="POST", path="/Users", bulk_id=str(command.pk),
                                                       data=self._new_user(command)))
                sent.append((str(command.pk), command))
            elif command.kind == Kind.SET_GROUP:
                for index, (group_id, _label, operation) in enumerate(groups[command.pk]):
                    bulk_id = f"{command.pk}.{index}"
                    operations.append(BulkOperation[Group](method="PATCH", path=f"/Groups/{group_id}",
                                                           bulk_id=bulk_id,
                                                           data=PatchOp[Group](operations=[operation])))
                    sent.append((bulk_id, command))
            else:
                # Built without validating again the patch validated above
                # (the method, path and bulkId are the code's own).
                operations.append(BulkOperation[model].model_construct(
                    method=BulkOperation.Method.patch, path=f"/Users/{remote_id}", bulk_id=str(command.pk),
                    data=patches[command.kind == Kind.ACTIVATE]))
                sent.append((str(command.pk), command))
        request = BulkRequest[model | Group] if groups else BulkRequest[model]
        response = self._call(self.client.bulk, request(operations=operations))
        answered = list(response.operations or [])
        by_id = {str(op.bulk_id): op for op in answered if op.bulk_id}
        # Each command's answers (several for a group command).
        answers: dict[int, list] = {}
        for index, (bulk_id, command) in enumerate(sent):
            answer = by_id.get(bulk_id)
            if answer is None and len(answered) == len(sent) and not answered[index].bulk_id:
                answer = answered[index]  # answers come in the order of the request
            answers.setdefault(command.pk, []).append(answer)
        results = {}
        for command, remote_id in commands:
            statuses = [(int(a.status) if a is not None and a.status else 0, a) for a in answers[command.pk]]
            worst, answer = next(((status, a) for status, a in statuses if not 200 <= status < 300), statuses[0])
            if 200 <= worst < 300 and command.kind == Kind.CREATE:
                results[command.pk] = Sent((answer.location or "").rstrip("/").rsplit("/", 1)[-1], "created (bulk)")
            elif 200 <= worst < 300 and command.kind == Kind.SET_GROUP:
                labels = " ".join(label for _id, label, _op in groups[command.pk])
                results[command.pk] = Sent(remote_id, f"groups {labels} (bulk)")
            elif 200 <= worst < 300:
                note = "activated" if command.kind == Kind.ACTIVATE else "deactivated"
                results[command.pk] = Sent(remote_id, f"{note} (bulk)")
            elif worst in (404, 409):
                try:  # gone from the HMIS since, or there already: on its own, it is looked up or linked
                    results[command.pk] = self._one(command)
                except Exception as exc:  # noqa: BLE001 - settled by the caller
                    results[command.pk] = exc
            elif worst >= 500 or worst in (0, 429):
                results[command.pk] = Transient(f"the HMIS answered {worst or 'nothing'} in a bulk request")
            else:
                detail = getattr(answer.response, "detail", "") if answer is not None else ""
                results[command.pk] = Refused(f"the HMIS answered {worst}: {detail}".rstrip(": "))
        return results

    # -------------------------------------------------------- reading back

    def users(self, page_size: int = PAGE_SIZE):
        """Every user of the HMIS, a page at a time (startIndex/count)."""
        self.discover()
        start = 1
        while True:
            page = self._call(self.client.query, self.user_model,
                              query_parameters=SearchRequest(start_index=start, count=page_size))
            resources = page.resources or []
            yield from resources
            start += len(resources)
            if not resources or start > (page.total_results or 0):
                return

    def group_members(self, names: Iterable[str]) -> dict[str, set[str]]:
        """User ids in each named group (groups the HMIS lacks are empty)."""
        self.discover()
        members = {}
        for name in names:
            group = self._group(name)
            members[name] = {m.value for m in (group.members or [])} if group else set()
        return members


def group_operations(command: ProvisioningCommand, user_id: str, groups: dict) -> list[tuple[str, str, Any]]:
    """The PATCH operations on groups that make the user a member of the
    command's group and of no other group the role mapping manages, given
    those groups as the HMIS has them (None for one it lacks): [(group id,
    "+name" or "-name", PatchOperation)]. Raises Refused when the HMIS lacks
    the group wanted."""
    wanted = command.payload.get("group", "")
    changes = []
    for name in command.payload.get("managed_groups", []):
        group = groups.get(name)
        if group is None:
            if name == wanted:
                raise Refused(f"the HMIS has no group named “{name}”")
            continue
        member = any(m.value == user_id for m in group.members or [])
        if name == wanted and not member:
            operation = PatchOperation(op="add", path="members", value=[{"value": user_id, "type": "User"}])
        elif name != wanted and member:
            operation = PatchOperation(op="remove", path=f"members[value eq {_quote(user_id)}]")
        else:
            continue
        changes.append((group.id, ("+" if name == wanted else "-") + name, operation))
    return changes


def _notes(exc: BaseException) -> str:
    return "; ".join(getattr(exc, "__notes__", []) or []) or exc.__class__.__name__


# ---------------------------------------------------------------- test connection


def check_connection(target: Target | None = None) -> tuple[bool, str]:
    """Read the target's /ServiceProviderConfig: (reachable, one line)."""
    if target is None and not settings.HMIS_SCIM_URL:
        return False, "No HMIS provisioning target: HMIS_SCIM_URL is not set (provisioning is manual)."
    own = target is None
    target = target or Target.from_settings()
    try:
        target.discover(fresh=True)  # what the HMIS says now, not what a worker kept
        config = target.config()
    except (Transient, Refused) as exc:
        return False, f"Cannot use the HMIS at {target.url}: {exc}"
    finally:
        if own:
            target.close()
    features = [name for name, on in (
        ("patch", config.patch and config.patch.supported),
        ("bulk", config.bulk and config.bulk.supported),
        ("filter", config.filter and config.filter.supported)) if on]
    return True, f"Connected to the HMIS at {target.url}: SCIM 2.0, supports {', '.join(features) or 'no options'}."


def check_connection_within(seconds: float | None = None) -> tuple[bool, str]:
    """`check_connection` for a page: the answer within `seconds` (by default
    the configured HMIS_SCIM_TIMEOUT), whatever the HMIS does. Discovery makes
    several requests, each bounded by the timeout, so the check runs in a
    thread of its own and the page stops waiting at the deadline; the thread
    ends by itself at its requests' timeouts. The token never appears in the
    line."""
    seconds = settings.HMIS_SCIM_TIMEOUT if seconds is None else seconds
    outcome: list[tuple[bool, str]] = []

    def check():
        try:
            outcome.append(check_connection())
        except Exception as exc:  # noqa: BLE001 - any failure is the answer, in one line
            outcome.append((False, f"Cannot use the HMIS: {exc.__class__.__name__}"))

    thread = threading.Thread(target=check, name="hmis-test-connection", daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        ok, line = False, (f"The HMIS at {settings.HMIS_SCIM_URL} did not answer within "
                           f"{seconds:g} second{'s' if seconds != 1 else ''}.")
    else:
        ok, line = outcome[0]
    token = settings.HMIS_SCIM_TOKEN
    return ok, line.replace(token, "[token]") if token else line


# ---------------------------------------------------------------- reconciliation


@dataclass(frozen=True)
class PortalAccount:
    """What the portal holds of an HMIS account, for the reconciliation."""
    external_id: str
    user_name: str
    active: bool
    group: str = ""  # the role's group ("" for none)
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    agency: str = ""


@dataclass(frozen=True)
class PortalDirectory:
    """What `hmis_sync` compares the HMIS with: the portal's HMIS accounts,
    the groups the role mapping names, and whether the policy deactivates
    users the portal does not know."""
    accounts: Iterable[PortalAccount]
    managed_groups: list[str]
    deactivate_unknown: bool = False


# Drift kinds, as `hmis_sync` prints them.
ACTIVE_NOT_IN_PORTAL = "active-in-hmis-unknown-in-portal"
ACTIVE_INACTIVE_IN_PORTAL = "active-in-hmis-inactive-in-portal"
MISSING_IN_HMIS = "missing-in-hmis"
INACTIVE_IN_HMIS = "inactive-in-hmis"
GROUP_DIFFERS = "role-group-differs"
DANGEROUS = {ACTIVE_NOT_IN_PORTAL, ACTIVE_INACTIVE_IN_PORTAL}


@dataclass(frozen=True)
class Drift:
    user_name: str
    kind: str
    account: PortalAccount | None = None
    remote_id: str = ""
    detail: str = ""

    def line(self) -> str:
        return f"DRIFT {self.user_name} {self.kind}" + (f" ({self.detail})" if self.detail else "")


def reconcile(target: Target, accounts: Iterable[PortalAccount], *, managed_groups: Iterable[str],
              page_size: int = PAGE_SIZE) -> list[Drift]:
    """Compare the HMIS's users (paged) with the portal's accounts."""
    accounts = list(accounts)
    by_external = {a.external_id: a for a in accounts}
    by_name = {a.user_name.casefold(): a for a in accounts if a.user_name}
    managed = sorted(set(managed_groups) | {a.group for a in accounts if a.group})
    members = target.group_members(managed)
    drifts, seen = [], set()
    for user in target.users(page_size):
        account = by_external.get(user.external_id or "") or by_name.get((user.user_name or "").casefold())
        active = bool(user.active) if user.active is not None else True
        if account is None:
            if active:
                drifts.append(Drift(user.user_name, ACTIVE_NOT_IN_PORTAL, remote_id=user.id))
            continue
        seen.add(account.external_id)
        if active and not account.active:
            drifts.append(Drift(user.user_name, ACTIVE_INACTIVE_IN_PORTAL, account, user.id))
        elif account.active and not active:
            drifts.append(Drift(user.user_name, INACTIVE_IN_HMIS, account, user.id))
        if account.active:
            groups = sorted(name for name in managed if user.id in members[name])
            if groups != ([account.group] if account.group else []):
                drifts.append(Drift(user.user_name, GROUP_DIFFERS, account, user.id,
                                    f"in {', '.join(groups) or 'no group'}, role wants {account.group or 'none'}"))
    for account in accounts:
        if account.active and account.external_id not in seen:
            drifts.append(Drift(account.user_name, MISSING_IN_HMIS, account))
    return drifts


def correct(drifts: Iterable[Drift], *, managed_groups: Iterable[str], deactivate_unknown: bool = False) -> int:
    """Queue the commands that undo the drift (in the caller's transaction).
    An account that already has a command waiting gets none more, so a second
    run before delivery queues nothing. A user the portal does not know is
    deactivated only with `deactivate_unknown` (where the policy says so).
    Returns how many commands were queued."""
    from . import provisioning

    drifts = list(drifts)
    waiting = provisioning.pending_for(
        d.account.external_id if d.account else f"hmis:{d.remote_id}" for d in drifts)
    managed = list(managed_groups)
    queued = 0
    for drift in drifts:
        account = drift.account
        subject = account.external_id if account else f"hmis:{drift.remote_id}"
        if subject in waiting:
            continue
        if drift.kind == MISSING_IN_HMIS:
            queued += provisioning.provision_create(
                account_id=subject, user_name=account.user_name, given_name=account.given_name,
                family_name=account.family_name, email=account.email, agency=account.agency, active=True,
                group=account.group, managed_groups=managed, dedupe=False)
        elif drift.kind in (ACTIVE_INACTIVE_IN_PORTAL, INACTIVE_IN_HMIS):
            queued += provisioning.provision_active(account_id=subject, active=drift.kind == INACTIVE_IN_HMIS)
        elif drift.kind == GROUP_DIFFERS:
            queued += provisioning.provision_group(account_id=subject, group=account.group, managed_groups=managed)
        elif drift.kind == ACTIVE_NOT_IN_PORTAL and deactivate_unknown:
            queued += provisioning._insert(subject, Kind.DEACTIVATE, {"active": False, "remote_id": drift.remote_id,
                                                                      "user_name": drift.user_name or ""})
        waiting.add(subject)
    return queued


def store_findings(drifts: Iterable[Drift]) -> int:
    """Replace the kept findings of the last reconciliation with these, as a
    set, in the caller's transaction (the run that found them): the staff's
    page never shows half of one run and half of another."""
    from django.utils import timezone

    from .models import ProvisioningDrift

    now = timezone.now()
    rows = [ProvisioningDrift(user_name=(d.user_name or "")[:200], kind=d.kind,
                              subject=d.account.external_id if d.account else "", remote_id=d.remote_id or "",
                              detail=(d.detail or "")[:500], found_at=now) for d in drifts]
    ProvisioningDrift.objects.all().delete()
    ProvisioningDrift.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


@dataclass
class SyncReport:
    drifts: list[Drift] = field(default_factory=list)
    queued: int = 0
    delivery: dict = field(default_factory=dict)


def sync(accounts: Iterable[PortalAccount], *, managed_groups: Iterable[str], dry_run: bool = False,
         deactivate_unknown: bool = False, target: Target | None = None, now: dt.datetime | None = None
         ) -> SyncReport:
    """The reconciliation run: report drift; unless `dry_run`, queue what
    corrects it and deliver at once. A dry run only reads."""
    from django.db import transaction

    from . import provisioning

    own = target is None
    target = target or Target.from_settings()
    try:
        managed = list(managed_groups)
        report = SyncReport(drifts=reconcile(target, accounts, managed_groups=managed))
        if not dry_run:
            with transaction.atomic():
                report.queued = correct(report.drifts, managed_groups=managed, deactivate_unknown=deactivate_unknown)
                store_findings(report.drifts)
            report.delivery = provisioning.deliver_pending(target=target, now=now)
    finally:
        if own:
            target.close()
    return report
