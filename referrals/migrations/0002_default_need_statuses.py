from django.db import migrations

# SPEC §4: the need statuses and timeliness standards of seed 001's workflow,
# as public HMIS help pages of a CoC using it give them. CoC staff edit them
# in the admin. HUD 4.20.D referral result: 1 client accepted, 2 client
# rejected, 3 provider rejected.
# (code, name, description, set_by, standard days, day kind, counted from,
#  final, returns to matching, reason required, HUD result, next codes, no-response status)
STATUSES = [
    ("matched", "CES: Matched: Awaiting response by Housing Provider",
     "The CES team matched the client to the program. The provider responds (starts contacting the client, "
     "or says why it cannot take the referral) within 2 business days.",
     "provider", 2, "business", "status", False, False, False, None,
     ["attempting-contact", "engaged", "declined-by-provider", "rematch-needed", "did-not-respond"],
     "did-not-respond"),
    ("attempting-contact", "CES: Attempted/Attempting Contact",
     "The provider is trying to reach the client, who gets at least 10 days to respond.",
     "provider", 10, "calendar", "status", False, False, False, None,
     ["engaged", "enrolled", "declined-by-client", "unable-to-contact", "declined-by-provider", "rematch-needed"],
     None),
    ("engaged", "CES: Client Engaged, In Progress to Enrollment",
     "The client is engaged and working toward enrollment (documents, eligibility, unit).",
     "provider", 15, "calendar", "status", False, False, False, None,
     ["enrolled", "declined-by-client", "declined-by-provider", "rematch-needed"], None),
    ("enrolled", "CES: Enrolled",
     "The client is enrolled in the program. Final for the referral; record the housing move-in date once housed.",
     "provider", None, "business", "status", True, False, False, 1, [], None),
    ("rematch-needed", "CES: Rematch Needed",
     "The client cannot be served by this program; the CES team matches them to another resource.",
     "provider", None, "business", "status", True, True, True, 3, [], None),
    ("did-not-respond", "CES Team Only: Housing Provider Did Not Respond",
     "Set by the CES team (or the sweep, by policy) when the provider missed the standard. The client returns "
     "to matching.",
     "ces_team", None, "business", "status", True, True, False, 3, [], None),
    ("declined-by-provider", "CES: Declined by Housing Provider",
     "The provider declined the referral. Final; give the reason.",
     "provider", None, "business", "status", True, False, True, 3, [], None),
    ("declined-by-client", "CES: Declined by Client",
     "The client declined the program. Final; give the reason.",
     "provider", None, "business", "status", True, False, True, 2, [], None),
    ("unable-to-contact", "CES: Unable to Contact Client",
     "The client could not be reached within the standard. Final; say what was tried.",
     "provider", None, "business", "status", True, False, True, 2, [], None),
]


def load(apps, schema_editor):
    NeedStatus = apps.get_model("referrals", "NeedStatus")
    rows = {}
    for order, (code, name, description, set_by, days, day_kind, counted_from, final, rematch, reason, result,
                _next, _no_response) in enumerate(STATUSES):
        rows[code], _ = NeedStatus.objects.update_or_create(
            code=code,
            defaults={"name": name, "description": description, "set_by": set_by, "standard_days": days,
                      "day_kind": day_kind, "counted_from": counted_from, "is_final": final,
                      "returns_to_matching": rematch, "requires_reason": reason, "referral_result": result,
                      "is_initial": code == "matched", "sort_order": order},
        )
    for code, *_rest, next_codes, no_response in STATUSES:
        rows[code].allowed_next.set([rows[c] for c in next_codes])
        rows[code].no_response_status = rows[no_response] if no_response else None
        rows[code].save(update_fields=["no_response_status"])
    apps.get_model("referrals", "ReferralPolicy").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("referrals", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
