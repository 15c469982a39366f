"""BookService tested with pytest: the plugin's fixtures (`hybrid_server`, `grpc_stub`,
`hybrid_http`) and pytest-django's database fixtures."""
import grpc
import pytest
from google.protobuf import empty_pb2

from library.grpc import library_pb2, library_pb2_grpc
from library.models import Book


@pytest.fixture
def books(grpc_stub):
    return grpc_stub(library_pb2_grpc.BookControllerStub)


@pytest.mark.django_db  # the test's transaction: the server shares it (in-memory SQLite), rolled back after
def test_create_then_retrieve(books):
    created = books.Create(library_pb2.BookRequest(title="Dune", author="Frank Herbert", year=1965))
    assert Book.objects.get(pk=created.id).author == "Frank Herbert"
    assert books.Retrieve(library_pb2.BookRetrieveRequest(id=created.id)).title == "Dune"


@pytest.mark.django_db
def test_books_of_the_test_are_listed(books):
    Book.objects.create(title="Solaris", author="Stanislaw Lem", year=1961)
    assert [book.title for book in books.List(empty_pb2.Empty())] == ["Solaris"]


def test_missing_book_is_not_found(books, db):
    with pytest.raises(grpc.RpcError) as caught:
        books.Retrieve(library_pb2.BookRetrieveRequest(id=404))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.django_db(transaction=True)  # committed rows: what any database needs
def test_streams_and_the_page(books, hybrid_http):
    created = books.CreateMany(iter([library_pb2.BookRequest(title=t, author="Y") for t in ("Emma", "Persuasion")]))
    assert created.count == 2
    assert "Emma by Y" in hybrid_http.get("/").text
    assert [reply.message for reply in books.Chat(iter([library_pb2.EchoMessage(message="a")]))] == ["A"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.django_db(transaction=True)
async def test_async_client(anyio_backend, grpc_stub):
    books = grpc_stub(library_pb2_grpc.BookControllerStub)  # inside an async test: a grpc.aio stub
    created = await books.Create(library_pb2.BookRequest(title="Beloved", author="Toni Morrison"))
    assert (await books.Retrieve(library_pb2.BookRetrieveRequest(id=created.id))).title == "Beloved"
