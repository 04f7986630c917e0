from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training and user forms"

    def ready(self):
        from accounts.access import Work
        from hmis_portal.core import registry

        from . import demo, selectors, work

        registry.open_tasks.add(work.open_tasks, app=self.name)
        registry.demo_builders.add(demo.seed, app=self.name)
        registry.referral_hmis_roles.provide(selectors.referral_hmis_roles, app=self.name)
        for label, works in (("training.registration", (Work.TRAINING_RECORDS,)),
                             ("training.trainingsession", (Work.TRAINING_RECORDS,)),
                             ("training.certificate", (Work.TRAINING_RECORDS, Work.READ_USER_FORMS)),
                             ("training.formsubmission", (Work.TRAINING_RECORDS, Work.READ_USER_FORMS)),
                             ("training.formtemplate", (Work.TRAINING_POLICY,))):
            registry.history_readers.declare(label, works, app=self.name)
        # Replies to mail about this app's pages go to the training team's inbox (core.models.MailPolicy).
        registry.mail_teams.declare("training", "training", app=self.name)
