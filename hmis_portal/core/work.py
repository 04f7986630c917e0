"""What waits on a person: the items of their home page.

Each app contributes by defining `open_tasks(self, user)` on its AppConfig,
returning `OpenTask`s; the home page gathers them in INSTALLED_APPS order.
Likewise `seed_demo(self, stdout)` on an AppConfig adds that app's demo data.
"""

import datetime as dt
from dataclasses import dataclass

from django.apps import apps

from .calendar import end_of_day


@dataclass(frozen=True)
class OpenTask:
    title: str
    url: str
    section: str = "To do"
    detail: str = ""
    # A day (due by its end) or a moment (a deadline in hours); shown with
    # dates.deadline_text either way.
    due: dt.date | dt.datetime | None = None
    overdue: bool = False

    @property
    def due_moment(self) -> dt.datetime | None:
        """`due` as the moment it is missed, so days and moments sort together."""
        if self.due is None or isinstance(self.due, dt.datetime):
            return self.due
        return end_of_day(self.due)


_NEVER = dt.datetime.max.replace(tzinfo=dt.UTC)


def open_tasks_for(user) -> list[OpenTask]:
    found = []
    for config in apps.get_app_configs():
        provider = getattr(config, "open_tasks", None)
        if provider is not None:
            found.extend(provider(user))
    # Overdue first, then by due date; undated last.
    return sorted(found, key=lambda t: (not t.overdue, t.due_moment or _NEVER, t.title))
