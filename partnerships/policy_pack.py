"""Data partnerships' section of a policy pack: the numbers of the data
partnership policy (SPEC §3.6).

Checked and written by the loader (`hmis_portal/policy_pack.py`) with the
other apps' sections, in one transaction; the tools are the core's
(`hmis_portal/core/policy_pack.py`)."""

from hmis_portal.core.policy_pack import check_policy, update_policy

from .models import PartnershipPolicy

SECTIONS = ("partnership_policy",)

# Seed 003: a data partner enters an agency's intakes within N business days.
PARTNERSHIP_POLICY_FIELDS = {
    "entry_business_days": {"type": "count", "max": 60},
    "escalation_margin_days": {"type": "count0", "max": 60},
    "sweep_batch_size": {"type": "count"},
}


def parse(pack, checked):
    checked["partnership_policy"] = check_policy(pack, "partnership_policy", PARTNERSHIP_POLICY_FIELDS,
                                                  model=PartnershipPolicy)


def check(pack, checked):
    """Its numbers name no other row: nothing more to check than each value."""


def apply(report, checked):
    update_policy(report, checked, "partnership_policy", label="data partnership policy",
                  policy=PartnershipPolicy.current())
