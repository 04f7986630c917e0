"""Reads of HMIS access: what lower layers are offered through the core's
registry, and what the grant form proposes."""

import re

from .models import AccessPolicy, HMISAccount, hmis_username_from_rule


def access_policy() -> AccessPolicy:
    """The CoC's access policy row (who asks for access; whether CoC staff approve)."""
    return AccessPolicy.current()


def active_hmis_accounts():
    """HMIS accounts whose holders may use HMIS now (Active)."""
    return HMISAccount.objects.filter(status=HMISAccount.Status.ACTIVE)


def proposed_hmis_username(access_request) -> str:
    """The HMIS username the grant form proposes (provisioning staff may type
    another): the person's own if they were granted before, else the CoC's
    rule (`AccessPolicy.hmis_username_rule`) applied to their name and email,
    with the first free number added when someone else has it. One query for
    the taken names."""
    user = access_request.user
    own = HMISAccount.objects.filter(user=user).values_list("hmis_username", flat=True).first()
    if own:
        return own
    base = hmis_username_from_rule(AccessPolicy.current().hmis_username_rule, full_name=user.full_name,
                                   email=user.email)
    numbered = re.compile(re.escape(base) + r"(\d*)", re.IGNORECASE)
    taken = {match.group(1) for name in HMISAccount.objects.filter(hmis_username__istartswith=base)
             .values_list("hmis_username", flat=True) if (match := numbered.fullmatch(name))}
    if "" not in taken:
        return base
    number = 2
    while str(number) in taken:
        number += 1
    return f"{base}{number}"
