from django.core.management.base import BaseCommand, CommandError

from hybrid_server.options import add_serving_arguments, options_from_arguments


class Command(BaseCommand):
    help = "Serve gRPC with grpc.aio (and the Django ASGI app with --with-http) in one process."
    backend = "aio"
    requires_system_checks: list[str] = []  # run by hybrid_server.run() in the serving process

    def add_arguments(self, parser):
        add_serving_arguments(parser)

    def handle(self, *args, **options):
        from hybrid_server import run
        from hybrid_server.main import abandon_running_work

        code = abandon_running_work(run(options_from_arguments(options, self.backend)))
        if getattr(self, "_called_from_command_line", False):
            if code:
                raise SystemExit(code)  # the server has said why (its `Error:` line)
            return
        if code:  # call_command(): the caller gets a Django command error, not an exit
            raise CommandError(f"the server stopped with exit code {code}", returncode=code)
