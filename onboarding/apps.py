from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "onboarding"
    verbose_name = "Onboarding: agreements and program setup"

    def ready(self):
        from accounts.access import Work
        from hmis_portal.core import registry

        from . import demo, work

        registry.open_tasks.add(work.open_tasks, app=self.name)
        registry.demo_builders.add(demo.seed, app=self.name)
        registry.agency_history_subjects.add(work.agency_history_subjects, app=self.name)
        registry.agency_links.add(work.agency_links, app=self.name)
        registry.agency_page.provide(work.participation_url, app=self.name)
        for label, works in (("onboarding.joinrequest", (Work.MANAGE_AGENCIES,)),
                             ("onboarding.organizationagreement", (Work.COUNTERSIGN,)),
                             ("onboarding.agreementtemplate", (Work.ONBOARDING_POLICY,)),
                             ("onboarding.program", (Work.PROGRAM_SETUP,)),
                             ("onboarding.organizationcesrole", (Work.PROGRAM_SETUP,))):
            registry.history_readers.declare(label, works, app=self.name)
        # Replies to mail about this app's pages go to the implementation team's inbox (core.models.MailPolicy).
        registry.mail_teams.declare("onboarding", "implementation", app=self.name)
