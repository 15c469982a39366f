"""Settings for in-process tests: the end-to-end test project on an in-memory database."""
from testproject.settings import *  # noqa: F403

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
