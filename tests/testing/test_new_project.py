"""A new project, made as a new user makes it (`startproject`, `startapp`, a model, a service, an
interceptor and a middleware in its settings, `makemigrations`, `generateproto`), writes tests
in the three styles — `HybridTestCase`, the pytest fixtures, django-socio-grpc's
`FakeFullAIOGRPC` — calling unary and streaming actions, seeing its interceptor and middleware
run and the ORM rows of the test; and a failing test of each style (and one with a plain stub)
shows the server's traceback with the status the client saw. pytest and Django's runner run them, in subprocesses."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from hybrid_server.testing.process import clean_environ

TIMEOUT = 120

MODEL = '''

class Product(models.Model):
    name = models.CharField(max_length=100)
'''

SERVICE = '''
from django_socio_grpc.decorators import grpc_action
from django_socio_grpc.services import Service
from shop.models import Product

PRODUCT = [{"name": "id", "type": "int64"}, {"name": "name", "type": "string"}]


def message(product):
    from shop.grpc import shop_pb2

    return shop_pb2.ProductResponse(id=product.id, name=product.name)


class ProductService(Service):
    @grpc_action(request=[{"name": "name", "type": "string"}], response=PRODUCT,
                 request_name="ProductRequest", response_name="ProductResponse")
    async def Get(self, request, context):
        return message(await Product.objects.aget(name=request.name))

    @grpc_action(request="google.protobuf.Empty", response="ProductResponse", response_stream=True)
    def List(self, request, context):
        for product in Product.objects.order_by("id"):
            yield message(product)

    @grpc_action(request="ProductRequest", request_stream=True, response=[{"name": "count", "type": "int32"}])
    def CreateMany(self, request, context):
        from shop.grpc import shop_pb2

        names = [item.name for item in request]
        Product.objects.bulk_create(Product(name=name) for name in names)
        return shop_pb2.ProductServiceCreateManyResponse(count=len(names))

    @grpc_action(request="ProductRequest", response="ProductResponse")
    async def Boom(self, request, context):
        return 1 / 0
'''

INTERCEPTOR = '''
import grpc

CALLS = []


class RecordingInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation, details):
        CALLS.append(details.method.rsplit("/", 1)[-1])
        return await continuation(details)
'''

MIDDLEWARE = '''
from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware


@sync_and_async_middleware
def seen_by_middleware(get_response):
    if iscoroutinefunction(get_response):
        async def middleware(call):
            call.context.set_trailing_metadata((("x-seen-by", "middleware"),))
            return await get_response(call)
    else:
        def middleware(call):
            call.context.set_trailing_metadata((("x-seen-by", "middleware"),))
            return get_response(call)
    return middleware
'''

SETTINGS = '''
INSTALLED_APPS += ["django_socio_grpc", "shop"]
GRPC_FRAMEWORK = {
    "SERVER_INTERCEPTORS": ["mysite.interceptors.RecordingInterceptor"],
    "GRPC_MIDDLEWARE": [
        "django_socio_grpc.middlewares.log_requests_middleware",
        "django_socio_grpc.middlewares.close_old_connections_middleware",
        "mysite.middleware.seen_by_middleware",
    ],
}
'''

HOOK = '''

from django_socio_grpc.utils.servicer_register import AppHandlerRegistry


def grpc_handlers(server):
    AppHandlerRegistry("shop", server).register("ProductService")
'''

COMMON = '''
import grpc
import pytest
from google.protobuf import empty_pb2

from mysite.interceptors import CALLS
from shop.grpc import shop_pb2, shop_pb2_grpc
from shop.models import Product
'''

TEST_TESTCASE = COMMON + '''
from hybrid_server.testing import HybridTestCase


class ProductTests(HybridTestCase):
    def test_unary_stream_interceptor_middleware_and_rows(self):
        Product.objects.create(name="tea")
        stub = self.stub(shop_pb2_grpc.ProductServiceControllerStub)
        response, call = stub.Get.with_call(shop_pb2.ProductRequest(name="tea"))
        assert response.name == "tea"
        assert dict(call.trailing_metadata())["x-seen-by"] == "middleware"
        assert stub.CreateMany(iter([shop_pb2.ProductRequest(name="milk")])).count == 1
        assert [p.name for p in stub.List(empty_pb2.Empty())] == ["tea", "milk"]
        assert CALLS[-3:] == ["Get", "CreateMany", "List"]

    async def test_async(self):
        stub = self.stub(shop_pb2_grpc.ProductServiceControllerStub)
        assert (await stub.CreateMany(iter([shop_pb2.ProductRequest(name="jam")]))).count == 1
        assert [p.name async for p in stub.List(empty_pb2.Empty())] == ["jam"]
'''

TEST_FIXTURES = COMMON + '''

@pytest.mark.django_db
def test_unary_stream_interceptor_middleware_and_rows(grpc_stub):
    Product.objects.create(name="tea")
    stub = grpc_stub(shop_pb2_grpc.ProductServiceControllerStub)
    response, call = stub.Get.with_call(shop_pb2.ProductRequest(name="tea"))
    assert response.name == "tea"
    assert dict(call.trailing_metadata())["x-seen-by"] == "middleware"
    assert stub.CreateMany(iter([shop_pb2.ProductRequest(name="milk")])).count == 1
    assert [p.name for p in stub.List(empty_pb2.Empty())] == ["tea", "milk"]
    assert CALLS[-3:] == ["Get", "CreateMany", "List"]
'''

TEST_FAKE = COMMON + '''
from django.test import TestCase

from django_socio_grpc.tests.grpc_test_utils.fake_grpc import FakeFullAIOGRPC
from shop.services.product_service import ProductService


class ProductFakeTests(TestCase):
    def setUp(self):
        Product.objects.create(name="tea")
        self.fake_grpc = FakeFullAIOGRPC(shop_pb2_grpc.add_ProductServiceControllerServicer_to_server,
                                         ProductService.as_servicer())

    def tearDown(self):
        self.fake_grpc.close()

    async def test_unary_stream_interceptor_middleware_and_rows(self):
        stub = self.fake_grpc.get_fake_stub(shop_pb2_grpc.ProductServiceControllerStub)
        call = stub.Get(shop_pb2.ProductRequest(name="tea"))
        assert (await call).name == "tea"
        assert dict(await call.trailing_metadata())["x-seen-by"] == "middleware"
        create = stub.CreateMany()
        await create.write(shop_pb2.ProductRequest(name="milk"))
        await create.done_writing()
        assert (await create).count == 1
        assert [p.name async for p in stub.List(empty_pb2.Empty())] == ["tea", "milk"]
        assert CALLS[-3:] == ["Get", "CreateMany", "List"]
'''

TEST_FAILURES = COMMON + '''
from django.test import TestCase

from django_socio_grpc.tests.grpc_test_utils.fake_grpc import FakeFullAIOGRPC
from hybrid_server.testing import HybridTestCase
from shop.services.product_service import ProductService

BOOM = shop_pb2.ProductRequest(name="x")


class FailingTestCase(HybridTestCase):
    def test_boom_testcase(self):
        self.stub(shop_pb2_grpc.ProductServiceControllerStub).Boom(BOOM)


def test_boom_fixtures(grpc_stub):
    grpc_stub(shop_pb2_grpc.ProductServiceControllerStub).Boom(BOOM)


def test_boom_plain_stub(grpc_channel):  # not through grpc_stub: the plugin adds the test's server log
    shop_pb2_grpc.ProductServiceControllerStub(grpc_channel).Boom(BOOM)


class FailingFake(TestCase):
    async def test_boom_fake(self):
        fake = FakeFullAIOGRPC(shop_pb2_grpc.add_ProductServiceControllerServicer_to_server, ProductService.as_servicer())
        try:
            await fake.get_fake_stub(shop_pb2_grpc.ProductServiceControllerStub).Boom(BOOM)
        finally:
            fake.close()
'''


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, env=clean_environ(), capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _write(path: Path, text: str, append: bool = False) -> None:
    with path.open("a" if append else "w") as file:
        file.write(text if append else text.lstrip("\n"))


def _new_project(root: Path) -> Path:
    """startproject + startapp, the user's files, makemigrations + generateproto."""
    _run([sys.executable, "-c", "from django.core.management import call_command; "
          "call_command('startproject', 'mysite', '.'); call_command('startapp', 'shop')"], root)
    (root / "shop" / "tests.py").unlink()
    _write(root / "shop" / "models.py", MODEL, append=True)
    (root / "shop" / "services").mkdir()
    (root / "shop" / "services" / "__init__.py").touch()
    _write(root / "shop" / "services" / "product_service.py", SERVICE)
    _write(root / "mysite" / "interceptors.py", INTERCEPTOR)
    _write(root / "mysite" / "middleware.py", MIDDLEWARE)
    _write(root / "mysite" / "settings.py", SETTINGS, append=True)
    _write(root / "mysite" / "urls.py", HOOK, append=True)
    _run([sys.executable, "manage.py", "shell", "-c", "from django.core.management import call_command; "
          "call_command('makemigrations', 'shop', verbosity=0); call_command('generateproto')"], root)
    assert (root / "shop" / "grpc" / "shop_pb2_grpc.py").exists()
    _write(root / "pytest.ini", "[pytest]\nDJANGO_SETTINGS_MODULE = mysite.settings\naddopts = -p no:cacheprovider\n")
    for name, text in {"test_testcase": TEST_TESTCASE, "test_fixtures": TEST_FIXTURES, "test_fake": TEST_FAKE,
                       "test_failures": TEST_FAILURES}.items():
        _write(root / "shop" / f"{name}.py", text)
    return root


def test_a_new_project_tests_in_three_styles(tmp_path: Path) -> None:
    root = _new_project(tmp_path)
    env = clean_environ()
    pytest_run = subprocess.Popen([sys.executable, "-m", "pytest", "-q"], cwd=root, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    django_run = subprocess.Popen([sys.executable, "manage.py", "test", "shop.test_testcase", "shop.test_fake"], cwd=root,
                                  env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out = pytest_run.communicate(timeout=TIMEOUT)[0]
        django_out = django_run.communicate(timeout=TIMEOUT)[0]
    finally:
        pytest_run.kill()
        django_run.kill()

    assert re.search(r"\b4 failed, 4 passed\b", out), out
    assert django_run.returncode == 0 and re.search(r"Ran 3 tests in .*\n\nOK", django_out), django_out
    failures = re.split(r"_{5,} (\S+) _{5,}", out)
    sections = dict(zip(failures[1::2], failures[2::2], strict=True))
    failing = ("FailingTestCase.test_boom_testcase", "test_boom_fixtures", "test_boom_plain_stub", "FailingFake.test_boom_fake")
    assert set(sections) >= set(failing), out
    for name in failing:
        text = sections[name]
        assert "--- the server logged during this " + ("test" if name == "test_boom_plain_stub" else "call") in text, text
        assert "The client saw status UNKNOWN, details 'ZeroDivisionError'." in text, text
        assert re.search(r'product_service\.py", line \d+, in Boom', text), text
        assert "ZeroDivisionError: division by zero" in text, text
