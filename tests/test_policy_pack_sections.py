"""Each app checks and writes its own sections of a policy pack
(`<app>/policy_pack.py`); the loader in the composition root calls them in the
layers' order (pyproject's import-linter contract, lowest first), all in one
transaction: a later app's section that fails leaves the earlier ones unwritten."""

import io
import json
import tomllib
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError

from hmis_access.models import AccessPolicy
from hmis_portal import policy_pack
from hmis_portal.core.audit import AuditEvent
from onboarding.models import OnboardingPolicy, ProgramType
from partnerships import policy_pack as partnerships_pack
from partnerships.models import PartnershipPolicy
from referrals.models import NeedStatus, ReferralPolicy
from training.models import CESRole, Course, RequiredForm
from tests.hmis_access.test_policy_packs import GOOD

ROOT = Path(__file__).resolve().parent.parent


def _levels() -> dict[str, int]:
    """Each app's layer, 0 the lowest, from the import-linter contract."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c["layers"] for c in config["contracts"] if c.get("type") == "layers")  # top first
    return {name.strip(): len(layers) - 1 - i for i, entry in enumerate(layers) for name in entry.split("|")}


def _app(module) -> str:
    return module.__name__.split(".")[0]


def test_the_loader_calls_each_app_s_section_lowest_layer_first():
    levels = _levels()
    apps = [_app(module) for module in policy_pack.SECTIONS_BY_APP]
    assert apps == ["onboarding", "training", "hmis_access", "referrals", "partnerships"]
    assert all(module.__name__ == f"{app}.policy_pack" for module, app in zip(policy_pack.SECTIONS_BY_APP, apps))
    assert [levels[app] for app in apps] == sorted(levels[app] for app in apps)
    # Every section of a pack is one app's, and only one app's.
    owned = [key for module in policy_pack.SECTIONS_BY_APP for key in module.SECTIONS]
    assert sorted(owned) == sorted(policy_pack.SECTIONS[2:]) and len(set(owned)) == len(owned)


# Changes a row of every app's section on a freshly migrated database.
EVERY_APP = json.loads(json.dumps(GOOD)) | {
    "access_policy": GOOD["access_policy"] | {"provisioning_business_days": 4},
    "onboarding_policy": {"agreement_term_months": 24},
    "program_types": [{"code": "layered-housing", "name": "Layered housing", "hud_project_type": 3}],
    "referral_policy": {"due_soon_days": 4},
    "partnership_policy": {"entry_business_days": 7},
}


def _write(tmp_path, pack) -> Path:
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(pack, indent=2))
    return path


def _state():
    return {
        "rows": [(model.__name__, model.objects.count(), model.objects.filter(active=True).count())
                 for model in (Course, CESRole, RequiredForm, NeedStatus)],
        "program types": sorted(ProgramType.objects.values_list("code", flat=True)),
        "policies": (OnboardingPolicy.current().agreement_term_months, AccessPolicy.current().provisioning_business_days,
                     ReferralPolicy.current().due_soon_days, PartnershipPolicy.current().entry_business_days),
        "audit events": AuditEvent.objects.count(),
    }


@pytest.mark.django_db
def test_the_sections_are_written_in_the_layers_order(tmp_path):
    first = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    out = io.StringIO()
    call_command("load_policy", str(_write(tmp_path, EVERY_APP)), stdout=out, stderr=io.StringIO())

    written = [label for label in AuditEvent.objects.filter(pk__gt=first, verb__endswith="policy pack")
               .order_by("pk").values_list("content_type__app_label", flat=True)]
    order = list(dict.fromkeys(written))
    assert order == ["onboarding", "training", "hmis_access", "referrals", "partnerships"]
    levels = _levels()
    assert [levels[app] for app in written] == sorted(levels[app] for app in written)
    # Written lowest layer first, reported in the order a pack is written.
    kinds = [line.split(":")[0] for line in out.getvalue().splitlines() if ":" in line and not line.startswith(" ")]
    assert kinds == ["courses", "CES roles", "user forms", "need statuses", "access policy", "onboarding policy",
                     "referral policy", "data partnership policy", "program types"], out.getvalue()


@pytest.mark.django_db
def test_a_mistake_in_the_highest_app_s_section_loads_no_section_of_any_app(tmp_path):
    before = _state()
    pack = EVERY_APP | {"partnership_policy": {"entry_business_days": 61}}
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("load_policy", str(_write(tmp_path, pack)), stdout=io.StringIO(), stderr=err)
    assert "partnership_policy.entry_business_days: 61 is too large (at most 60)" in err.getvalue()
    assert _state() == before
    assert not ProgramType.objects.filter(code="layered-housing").exists()


@pytest.mark.django_db
def test_a_later_app_s_section_failing_as_it_is_written_rolls_back_every_earlier_one(tmp_path, monkeypatch):
    # Every lower app's section is written, the data partnership policy too,
    # and then its write clashes with the database.
    before = _state()
    write = partnerships_pack.apply

    def clashes(report, checked):
        write(report, checked)
        assert PartnershipPolicy.current().entry_business_days == 7
        assert ProgramType.objects.filter(code="layered-housing").exists()
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(partnerships_pack, "apply", clashes)
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("load_policy", str(_write(tmp_path, EVERY_APP)), stdout=io.StringIO(), stderr=err)
    assert "the pack clashes with rows in the database: duplicate key value" in err.getvalue()
    assert _state() == before
    assert not ProgramType.objects.filter(code="layered-housing").exists()
