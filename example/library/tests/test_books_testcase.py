"""BookService tested with Django's test runner style: `HybridTestCase` serves the project (its
`grpc_handlers` hook and its Django pages) for the class; the tests call it through grpc."""
import grpc
from google.protobuf import empty_pb2

from hybrid_server.testing import HybridTestCase
from library.grpc import library_pb2, library_pb2_grpc
from library.models import Book


class BookServiceTests(HybridTestCase):
    def setUp(self):
        self.books = self.stub(library_pb2_grpc.BookControllerStub)

    def test_create_then_retrieve(self):
        created = self.books.Create(library_pb2.BookRequest(title="Dune", author="Frank Herbert", year=1965))
        self.assertEqual(Book.objects.get(pk=created.id).title, "Dune")  # the server's row, seen by the test
        found = self.books.Retrieve(library_pb2.BookRetrieveRequest(id=created.id))
        self.assertEqual((found.title, found.year), ("Dune", 1965))

    def test_books_created_by_the_test_are_listed(self):
        Book.objects.create(title="Solaris", author="Stanislaw Lem", year=1961)
        Book.objects.create(title="Hyperion", author="Dan Simmons")
        titles = [book.title for book in self.books.List(empty_pb2.Empty())]
        self.assertEqual(titles, ["Solaris", "Hyperion"])

    def test_missing_book_is_not_found(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.books.Retrieve(library_pb2.BookRetrieveRequest(id=404))
        self.assertEqual(caught.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertIn("no book with id 404", caught.exception.details())

    def test_client_and_bidirectional_streams(self):
        created = self.books.CreateMany(iter([library_pb2.BookRequest(title=t, author="X") for t in ("A", "B")]))
        self.assertEqual(created.count, 2)
        self.assertEqual(sorted(Book.objects.values_list("id", flat=True)), sorted(created.ids))
        said = self.books.Chat(iter([library_pb2.EchoMessage(message=m) for m in ("hi", "there")]))
        self.assertEqual([reply.message for reply in said], ["HI", "THERE"])

    def test_the_book_page_on_the_same_server(self):
        Book.objects.create(title="Neuromancer", author="William Gibson", year=1984)
        page = self.http.get("/")
        self.assertEqual(page.status_code, 200)
        self.assertIn("Neuromancer by William Gibson (1984)", page.text)

    async def test_async_client(self):
        books = self.stub(library_pb2_grpc.BookControllerStub)  # in an async test: a grpc.aio stub
        created = await books.Create(library_pb2.BookRequest(title="Kindred", author="Octavia Butler", year=1979))
        self.assertEqual((await books.Retrieve(library_pb2.BookRetrieveRequest(id=created.id))).title, "Kindred")
        chat = books.Chat()
        await chat.write(library_pb2.EchoMessage(message="ping"))
        self.assertEqual((await chat.read()).message, "PING")
        await chat.done_writing()
