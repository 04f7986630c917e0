"""The HMIS username the grant form proposes follows the CoC's rule (a policy
row, set by its pack); provisioning staff may still type another."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from hmis_access.models import AccessPolicy, HMISAccount, hmis_username_from_rule, validate_username_rule
from hmis_portal.policy_pack import PACK_DIR
from tests.factories import HMISAccountFactory, StaffFactory
from tests.training.factories import finish_everything, identify, participating

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(organization):
    participating(organization, "access-center")
    return finish_everything(identify(organization, programs=list(organization.programs.all()),
                                      name="Dana María Reyes-Ortiz", email="d.reyes@harbor.example.org"),
                             StaffFactory(groups=["CoC training"]))


def _proposed(client, request_pk) -> str:
    client.force_login(StaffFactory(groups=["CoC provisioning"]))
    response = client.get(reverse("admin:hmis_access_accessrequest_grant", args=[request_pk]))
    return response.context["form"].initial["hmis_username"]


def _rule(rule):
    policy = AccessPolicy.current()
    policy.hmis_username_rule = rule
    policy.save(update_fields=["hmis_username_rule"])


def test_by_default_the_proposal_is_the_email_s_local_part(client, ready):
    assert AccessPolicy.current().hmis_username_rule == "{email_local}"
    assert _proposed(client, ready.pk) == "d.reyes"


def test_the_proposal_follows_the_coc_s_rule_and_stays_free(client, ready):
    _rule("{first}.{last}")
    assert _proposed(client, ready.pk) == "dana.reyes-ortiz"
    HMISAccountFactory(hmis_username="dana.reyes-ortiz")
    HMISAccountFactory(hmis_username="Dana.Reyes-Ortiz2")
    assert _proposed(client, ready.pk) == "dana.reyes-ortiz3"
    _rule("{first_initial}{last}")
    assert _proposed(client, ready.pk) == "dreyes-ortiz"


def test_staff_may_type_another_username(client, ready):
    _rule("{first}.{last}")
    client.force_login(StaffFactory(groups=["CoC provisioning"]))
    url = reverse("admin:hmis_access_accessrequest_grant", args=[ready.pk])
    assert client.post(url, {"hmis_username": "dreyes7", "hmis_role": "CES_Standard"}).status_code == 302
    assert HMISAccount.objects.get(user=ready.user).hmis_username == "dreyes7"


@pytest.mark.parametrize("rule, expected", [
    ("{email_local}", "d.reyes"),
    ("{first}.{last}", "dana.reyes-ortiz"),
    ("{last}{first_initial}", "reyes-ortizd"),
    ("hmis-{first}", "hmis-dana"),
])
def test_a_rule_makes_a_lowercase_username_of_plain_letters(rule, expected):
    assert hmis_username_from_rule(rule, full_name="Dana María Reyes-Ortiz",
                                   email="D.Reyes@harbor.example.org") == expected


def test_a_person_with_no_name_falls_back_to_the_email():
    assert hmis_username_from_rule("{first}.{last}", full_name="", email="sam@example.org") == "sam"


@pytest.mark.parametrize("rule, problem", [
    ("", "at least one of"),
    ("{nickname}", "{nickname}"),
    ("dana", "at least one of"),
    ("{first", "braces"),
])
def test_a_bad_rule_is_refused_with_what_to_write(rule, problem):
    with pytest.raises(ValidationError, match=problem.replace("{", r"\{")):
        validate_username_rule(rule)


@pytest.mark.parametrize("name", ["la", "mo-bos", "agency-admin"])
def test_every_shipped_pack_names_its_username_rule_and_each_role_s_group(name):
    pack = json.loads((PACK_DIR / f"{name}.json").read_text())
    validate_username_rule(pack["access_policy"]["hmis_username_rule"])
    assert all(role["hmis_group"].strip() for role in pack["ces_roles"])


def test_the_admin_refuses_a_bad_rule_and_a_second_group_for_one_hmis_role():
    from training.models import CESRole

    policy = AccessPolicy.current()
    policy.hmis_username_rule = "{first}.{surname}"
    with pytest.raises(ValidationError) as refused:
        policy.full_clean()
    assert "{surname}" in " ".join(refused.value.message_dict["hmis_username_rule"])

    outreach = CESRole.objects.get(code="outreach")
    outreach.hmis_role, outreach.hmis_group = "CES_Standard", "Street Outreach"
    with pytest.raises(ValidationError) as refused:
        outreach.full_clean()
    assert "“CES_Standard”" in " ".join(refused.value.message_dict["hmis_group"])
    outreach.hmis_group = "CES_Standard"
    outreach.full_clean()


@pytest.mark.parametrize("pack", ["mo-bos", "agency-admin"])
def test_the_demo_s_usernames_follow_the_pack_s_rule(pack):
    import io
    import re

    from django.core.management import call_command

    for _ in range(2):  # and a second run keeps them, without duplicating anyone
        call_command("seed_demo", "--i-know-this-is-not-production", "--pack", pack, stdout=io.StringIO())
    rule = AccessPolicy.current().hmis_username_rule
    accounts = list(HMISAccount.objects.select_related("user"))
    assert len(accounts) >= 8
    for account in accounts:
        base = hmis_username_from_rule(rule, full_name=account.user.full_name, email=account.user.email)
        assert re.fullmatch(re.escape(base) + r"\d*", account.hmis_username), (account.user.email,
                                                                                account.hmis_username, rule)
