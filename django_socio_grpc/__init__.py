"""A Django app, compatible with django-socio-grpc's documented server and registration API."""
import sys

from django_socio_grpc import settings as _settings  # noqa: F401 - declares the app's GRPC_FRAMEWORK keys
from hybrid_server.collector import defer_full_collections

# `manage.py grpcrunaioserver|grpcrunserver`: the rest of Django's set-up (the models, every app's
# ready()) is start-up too, and the one automatic full collection it triggers costs ~17 ms of the
# start (hybrid_server/collector.py). The app is imported before the models, and argv[1] is the
# subcommand exactly as Django's ManagementUtility reads it; `run()` settles or resumes as usual.
if sys.argv[1:2] in (["grpcrunaioserver"], ["grpcrunserver"]):
    defer_full_collections()
