"""Factories for the foundation's models; each app adds its own beside its tests."""

import factory
from django.contrib.auth.models import Group

from accounts.models import Membership, Organization, User
from hmis_access.models import HMISAccount


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    full_name = factory.Sequence(lambda n: f"Test Person {n}")
    password = factory.django.Password("test-password-1")


class StaffFactory(UserFactory):
    """CoC staff in the named groups: StaffFactory(groups=["CoC provisioning"])."""

    is_staff = True
    email = factory.Sequence(lambda n: f"coc-staff{n}@example.org")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.set(Group.objects.filter(name__in=extracted))


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Agency {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    persona = "staff"


class HMISAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HMISAccount

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    hmis_username = factory.Sequence(lambda n: f"hmisuser{n}")
    hmis_role = "CES_Standard"
