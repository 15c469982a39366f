from django.core.management.base import BaseCommand

from hybrid_server.options import add_serving_arguments, options_from_arguments


class Command(BaseCommand):
    help = "Serve gRPC with grpc.aio (and the Django ASGI app with --with-http) in one process."
    backend = "aio"
    requires_system_checks: list[str] = []  # run by hybrid_server.run() in the serving process

    def add_arguments(self, parser):
        add_serving_arguments(parser)

    def handle(self, *args, **options):
        from hybrid_server import run
        from hybrid_server.main import exit_process

        exit_process(run(options_from_arguments(options, self.backend)))
