"""What waits on a person: the items of their home page.

Each app contributes from its `AppConfig.ready()` with
`registry.open_tasks.add(<function of user returning OpenTask>s, app=...)`;
the home page gathers them in the layers' order (see `registry`). A
function that asks prepared queries yields them (`prepared.answer_all`) and
returns its tasks: every app's questions go to the database together.
"""

import datetime as dt
from dataclasses import dataclass

from . import registry
from .calendar import end_of_day
from .prepared import answer_all


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
    for tasks in answer_all([provider(user) for provider in registry.open_tasks]):
        found.extend(tasks)
    # Overdue first, then by due date; undated last.
    return sorted(found, key=lambda t: (not t.overdue, t.due_moment or _NEVER, t.title))
