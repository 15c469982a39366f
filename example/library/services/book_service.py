"""`BookService`: a GenericService on Book, served as `BookController`.

One action of each shape: unary async and sync, server streaming, client streaming and
bidirectional streaming. The generated modules are imported inside the actions because
`generateproto` imports this module before they exist.
"""
from django.db import transaction

from django_socio_grpc import exceptions
from django_socio_grpc.decorators import grpc_action
from django_socio_grpc.generics import GenericService
from library.models import Book

BOOK = [
    {"name": "id", "type": "int64"},
    {"name": "title", "type": "string"},
    {"name": "author", "type": "string"},
    {"name": "year", "type": "int32", "comment": "0 when unknown"},
    {"name": "created", "type": "string", "comment": "ISO 8601 creation time"},
]
NEW_BOOK = [
    {"name": "title", "type": "string"},
    {"name": "author", "type": "string"},
    {"name": "year", "type": "int32"},
]
ECHO = [{"name": "message", "type": "string"}]


def book_message(book):
    from library.grpc import library_pb2

    return library_pb2.BookResponse(
        id=book.id,
        title=book.title,
        author=book.author,
        year=book.year or 0,
        created=book.created.isoformat(),
    )


class BookService(GenericService):
    queryset = Book.objects.all()  # GenericService: the controller is named `BookController`

    # ------------------------------------------------------------------ unary, async ORM
    @grpc_action(
        request=[{"name": "id", "type": "int64"}],
        response=BOOK,
        request_name="BookRetrieveRequest",
        response_name="BookResponse",
    )
    async def Retrieve(self, request, context):
        try:
            book = await self.get_queryset().aget(pk=request.id)
        except Book.DoesNotExist:
            raise exceptions.NotFound(f"no book with id {request.id}") from None
        return book_message(book)

    # ------------------------------------------------------------------ unary, sync ORM
    @grpc_action(request=NEW_BOOK, response="BookResponse", request_name="BookRequest")
    def Create(self, request, context):
        if not request.title:
            raise exceptions.InvalidArgument("a book needs a title")
        book = Book.objects.create(title=request.title, author=request.author, year=request.year or None)
        return book_message(book)

    # ------------------------------------------------------------------ server streaming
    @grpc_action(request="google.protobuf.Empty", response="BookResponse", response_stream=True)
    async def List(self, request, context):
        async for book in self.get_queryset():
            yield book_message(book)

    # ------------------------------------------------------------------ client streaming
    @grpc_action(
        request="BookRequest",
        request_stream=True,
        response=[
            {"name": "count", "type": "int32", "comment": "number of books created"},
            {"name": "ids", "type": "int64", "cardinality": "repeated"},
        ],
    )
    def CreateMany(self, request, context):
        from library.grpc import library_pb2

        ids = []
        with transaction.atomic():  # all or nothing
            for item in request:
                ids.append(Book.objects.create(title=item.title, author=item.author, year=item.year or None).id)
        return library_pb2.BookCreateManyResponse(count=len(ids), ids=ids)

    # ------------------------------------------------------------------ bidirectional
    @grpc_action(
        request=ECHO,
        response=ECHO,
        request_name="EchoMessage",
        response_name="EchoMessage",
        request_stream=True,
        response_stream=True,
    )
    async def Chat(self, request, context):
        from library.grpc import library_pb2

        async for item in request:
            yield library_pb2.EchoMessage(message=item.message.upper())

    # ------------------------------------------------------------------ trivial unary (benchmarks)
    @grpc_action(request="EchoMessage", response="EchoMessage")
    async def Echo(self, request, context):
        from library.grpc import library_pb2

        return library_pb2.EchoMessage(message=request.message)
