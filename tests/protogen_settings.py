"""Minimal settings for running tests/test_generateproto.py on its own
(`pytest --ds=tests.protogen_settings tests/test_generateproto.py`); the tests set
INSTALLED_APPS and GRPC_FRAMEWORK themselves with override_settings."""
SECRET_KEY = "protogen-tests"
INSTALLED_APPS = ["django_socio_grpc"]
DATABASES: dict = {}
USE_TZ = True
GRPC_FRAMEWORK: dict = {}
