"""The demo's logins, gathered as each app's `seed_demo` creates them and
printed last by `manage.py seed_demo`. Every demo login has one password."""

DEMO_PASSWORD = "demo-portal-2026"

# (persona shown to the newcomer, email), in the order they are created.
LOGINS: list[tuple[str, str]] = []


def remember_login(label: str, email: str) -> None:
    if (label, email) not in LOGINS:
        LOGINS.append((label, email))
