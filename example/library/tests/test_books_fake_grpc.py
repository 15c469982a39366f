"""BookService tested the way django-socio-grpc documents it (`FakeFullAIOGRPC` made in `setUp`):
the same code runs here unchanged, on a real server of this process."""
import grpc
from django.test import TestCase

from django_socio_grpc.tests.grpc_test_utils.fake_grpc import FakeFullAIOGRPC
from library.grpc import library_pb2
from library.grpc.library_pb2_grpc import BookControllerStub, add_BookControllerServicer_to_server
from library.models import Book
from library.services.book_service import BookService


class BookServiceFakeTests(TestCase):
    def setUp(self):
        self.book = Book.objects.create(title="Dune", author="Frank Herbert", year=1965)
        self.fake_grpc = FakeFullAIOGRPC(add_BookControllerServicer_to_server, BookService.as_servicer())

    def tearDown(self):
        self.fake_grpc.close()

    async def test_retrieve(self):
        stub = self.fake_grpc.get_fake_stub(BookControllerStub)
        response = await stub.Retrieve(library_pb2.BookRetrieveRequest(id=self.book.id))
        self.assertEqual(response.title, "Dune")

    async def test_not_found(self):
        stub = self.fake_grpc.get_fake_stub(BookControllerStub)
        with self.assertRaises(grpc.RpcError) as caught:
            await stub.Retrieve(library_pb2.BookRetrieveRequest(id=self.book.id + 1))
        self.assertEqual(caught.exception.code(), grpc.StatusCode.NOT_FOUND)

    async def test_create_many(self):
        stub = self.fake_grpc.get_fake_stub(BookControllerStub)
        call = stub.CreateMany()
        for title in ("A", "B", "C"):
            await call.write(library_pb2.BookRequest(title=title, author="Z"))
        await call.done_writing()
        response = await call
        self.assertEqual(response.count, 3)
