from django.db import migrations

# Seed 000, step 2: the main program types involved in CES.
PROGRAM_TYPES = [
    ("assessment-only", "Assessment Only", "Users only survey clients, with no other services provided.", True),
    ("access-center", "Access Center / supportive services",
     "Users survey clients and provide supportive services, including referrals.", True),
    ("outreach", "Outreach", "Street outreach: tracks contacts, engages clients with the survey, provides services.",
     True),
    ("emergency-shelter", "Emergency Shelter", "Survey and bed services as bridge housing, with other services.", True),
    ("transitional-housing", "Transitional Housing", "Survey and bed services as bridge housing, with other services.",
     True),
    ("permanent-housing", "Permanent Housing",
     "Housing providers add vacancies and track occupancy; no setup modification is needed.", False),
]


def load(apps, schema_editor):
    ProgramType = apps.get_model("onboarding", "ProgramType")
    for order, (code, name, description, modify) in enumerate(PROGRAM_TYPES):
        ProgramType.objects.update_or_create(
            code=code,
            defaults={"name": name, "description": description, "needs_setup_modification": modify,
                      "sort_order": order},
        )


class Migration(migrations.Migration):
    dependencies = [("onboarding", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
