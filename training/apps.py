from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training and user forms"

    def open_tasks(self, user):
        from .work import open_tasks

        return open_tasks(user)

    def seed_demo(self, stdout):
        from . import demo

        demo.seed(stdout)
