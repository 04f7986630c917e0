"""The rule for the HMIS username the grant form proposes; its default is what
the form proposed so far (the email address before the @)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('hmis_access', '0010_departure_inactive_reasons'),
    ]

    operations = [
        migrations.AddField(
            model_name='accesspolicy',
            name='hmis_username_rule',
            field=models.CharField(default='{email_local}', help_text="The username the grant form proposes, from the person's name and email: {email_local} for the email address before the @, {first} for the first word of the name, {last} for the last word of the name, {first_initial} for the first letter of the first word, {last_initial} for the first letter of the last word. Lowercased, without accents; a number is added when the username is taken.", max_length=60, verbose_name='HMIS username rule'),
        ),
    ]
