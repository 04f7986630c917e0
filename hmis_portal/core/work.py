"""What waits on a person: the items of their home page.

Each app contributes by defining `open_tasks(self, user)` on its AppConfig,
returning `OpenTask`s; the home page gathers them in INSTALLED_APPS order.
Likewise `seed_demo(self, stdout)` on an AppConfig adds that app's demo data.
"""

import datetime as dt
from dataclasses import dataclass

from django.apps import apps


@dataclass(frozen=True)
class OpenTask:
    title: str
    url: str
    section: str = "To do"
    detail: str = ""
    due: dt.date | None = None
    overdue: bool = False


def open_tasks_for(user) -> list[OpenTask]:
    found = []
    for config in apps.get_app_configs():
        provider = getattr(config, "open_tasks", None)
        if provider is not None:
            found.extend(provider(user))
    # Overdue first, then by due date; undated last.
    return sorted(found, key=lambda t: (not t.overdue, t.due or dt.date.max, t.title))
