from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.apikeys.models import Scope
from accounts.apikeys.services import api_key_create
from accounts.models import User


class Command(BaseCommand):
    help = ("Make an API key for the person with EMAIL and print it once: only its hash is kept, so it cannot "
            "be shown again (rotate it in the admin for a new one). Scopes: " + ", ".join(Scope.values) + ".")

    def add_arguments(self, parser):
        parser.add_argument("email", help="the key's owner: the key does what this person may, nothing more")
        parser.add_argument("--scope", action="append", required=True, dest="scopes", choices=Scope.values,
                            help="what the key is for (repeat for several)")
        parser.add_argument("--name", default="", help="what the key is for, e.g. “HMIS vendor: login activity”")

    def handle(self, *args, email, scopes, name="", **options):
        try:
            owner = User.objects.get(email__iexact=email.strip())
        except User.DoesNotExist:
            raise CommandError(f"Nobody has the email address {email}.") from None
        try:
            key, plain = api_key_create(actor=None, owner=owner, name=name, scopes=scopes)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stderr.write(f"API key “{key.name}” for {owner.email} (scopes: {key.scopes}). It is shown only now; "
                          "keep it secret:")
        self.stdout.write(plain)
