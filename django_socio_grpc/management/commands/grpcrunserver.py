from django_socio_grpc.management.commands.grpcrunaioserver import Command as AioCommand


class Command(AioCommand):
    help = "Serve gRPC with grpc's thread-pool server (and the Django ASGI app with --with-http)."
    backend = "threads"
