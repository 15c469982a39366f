"""Settings of the project the end-to-end tests serve (every action shape and error path)."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "tests-only"
DEBUG = os.environ.get("TESTPROJECT_DEBUG", "") == "1"
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
GRPC_FRAMEWORK = {
    "ROOT_HANDLERS_HOOK": os.environ.get("TESTPROJECT_HOOK", "testproject.handlers.grpc_handlers"),
}
# Knobs the end-to-end tests turn through the environment.
if os.environ.get("TESTPROJECT_INTERCEPTORS"):
    GRPC_FRAMEWORK["SERVER_INTERCEPTORS"] = os.environ["TESTPROJECT_INTERCEPTORS"].split(",")
if os.environ.get("TESTPROJECT_ASGI"):
    ASGI_APPLICATION = os.environ["TESTPROJECT_ASGI"]
if os.environ.get("TESTPROJECT_LOG_OK"):
    GRPC_FRAMEWORK["LOG_OK_RESPONSE"] = True
    GRPC_FRAMEWORK["IGNORE_LOG_FOR_ACTION"] = ["ProbeServiceController.SyncEcho"]
if os.environ.get("TESTPROJECT_MAX_RPCS"):
    GRPC_FRAMEWORK["MAXIMUM_CONCURRENT_RPCS"] = int(os.environ["TESTPROJECT_MAX_RPCS"])
if os.environ.get("TESTPROJECT_MAX_STREAMS"):  # benchmarks/slow_reader.py
    GRPC_FRAMEWORK["SERVER_OPTIONS"] = [("grpc.max_concurrent_streams", int(os.environ["TESTPROJECT_MAX_STREAMS"]))]
if os.environ.get("TESTPROJECT_TLS_DIR"):
    _tls = Path(os.environ["TESTPROJECT_TLS_DIR"])
    GRPC_FRAMEWORK["PRIVATE_KEY_CERTIFICATE_CHAIN_PAIRS_PATH"] = [(str(_tls / "server.key"), str(_tls / "server.crt"))]
    if os.environ.get("TESTPROJECT_MTLS"):
        GRPC_FRAMEWORK["ROOT_CERTIFICATES_PATH"] = str(_tls / "ca.crt")
        GRPC_FRAMEWORK["REQUIRE_CLIENT_AUTH"] = True
