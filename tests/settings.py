"""Settings for in-process tests: the end-to-end test project plus test-only apps."""
import importlib.util

from testproject.settings import *  # noqa: F401,F403
from testproject.settings import INSTALLED_APPS as _PROJECT_APPS

INSTALLED_APPS = [*_PROJECT_APPS]
for _app in ("tests.protogen_app",):
    if importlib.util.find_spec(_app) is not None:
        INSTALLED_APPS.append(_app)

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
