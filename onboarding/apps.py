from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "onboarding"
    verbose_name = "Onboarding: agreements and program setup"

    def open_tasks(self, user):
        """Steps 1–2 work that waits on this person, for the home page."""
        from django.urls import reverse

        from accounts.access import is_coc_staff
        from hmis_portal.core.work import OpenTask

        from . import selectors

        if not user.is_authenticated:
            return []
        if is_coc_staff(user):
            queue = selectors.coc_queue(user)
            tasks = []
            for key, label in (("agreements", "Organization Agreement(s) to countersign"),
                               ("programs", "program setup request(s) to work")):
                items = queue[key]
                if items:
                    tasks.append(OpenTask(title=f"{len(items)} {label}", url=reverse("onboarding:coc-queue"),
                                          section="Onboarding",
                                          detail=f"Oldest waiting {max(i.age for i in items)} business day(s)."))
            return tasks
        return [
            OpenTask(title=f"{item['title']} — {item['organization']}", url=item["url"], section="Onboarding",
                     detail=" ".join(filter(None, [
                         item["detail"],
                         f"Waiting {item['age']} business day(s)." if item["age"] is not None else ""])),
                     due=item["due"])
            for item in selectors.agency_queue(user)
        ]

    def seed_demo(self, stdout):
        from . import demo

        demo.seed(stdout)
