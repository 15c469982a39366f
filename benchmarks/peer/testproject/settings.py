"""Settings of the peer project: the same apps and middleware as tests/testproject, served by
django-socio-grpc 0.25 (benchmarks/.peer-venv), and by us, unchanged, in the start-up section
(the same project for both). The project and app names are the test project's, so the proto
package, the service names and the messages are the same (`testproject.testapp.BenchServiceController`,
`BenchMessage`): one load generator body serves both."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "benchmarks-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_socio_grpc",
    "testapp",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "testproject.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("TESTPROJECT_DB", str(BASE_DIR / "db.sqlite3")),
    }
}
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# django-socio-grpc's defaults otherwise: its two GRPC_MIDDLEWARE, no health service, no reflection.
GRPC_FRAMEWORK = {"ROOT_HANDLERS_HOOK": "testproject.handlers.grpc_handlers"}
# It prints nothing unless logging is configured; its start line tells the benchmark it serves.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}},
    "loggers": {"django_socio_grpc.internal": {"handlers": ["console"], "level": "INFO"}},
}
