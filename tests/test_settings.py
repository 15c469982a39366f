import grpc
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_socio_grpc.settings import DEFAULTS, grpc_settings
from testproject import handlers


class CountingInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation, handler_call_details):
        return await continuation(handler_call_details)


def test_defaults():
    with override_settings(GRPC_FRAMEWORK={"ROOT_HANDLERS_HOOK": "testproject.handlers.grpc_handlers"}):
        assert grpc_settings.GRPC_CHANNEL_PORT == 50051
        assert grpc_settings.SERVER_OPTIONS == []
        assert grpc_settings.ENABLE_HEALTH_CHECK is True
        assert grpc_settings.LOG_OK_RESPONSE is False
        assert grpc_settings.GRPC_MIDDLEWARE == DEFAULTS["GRPC_MIDDLEWARE"]
        assert grpc_settings.ROOT_HANDLERS_HOOK is handlers.grpc_handlers


def test_follows_override_settings():
    with override_settings(GRPC_FRAMEWORK={"GRPC_CHANNEL_PORT": 6000}):
        assert grpc_settings.GRPC_CHANNEL_PORT == 6000
        with override_settings(GRPC_FRAMEWORK={"GRPC_CHANNEL_PORT": 7000}):
            assert grpc_settings.GRPC_CHANNEL_PORT == 7000
        assert grpc_settings.GRPC_CHANNEL_PORT == 6000


def test_default_hook_is_in_root_urlconf():
    with override_settings(GRPC_FRAMEWORK={}, ROOT_URLCONF="testproject.urls"):
        with pytest.raises(ImproperlyConfigured) as info:
            grpc_settings.ROOT_HANDLERS_HOOK
    message = str(info.value)
    assert "ROOT_HANDLERS_HOOK" in message and "testproject.urls.grpc_handlers" in message


def test_unknown_key_is_named():
    with override_settings(GRPC_FRAMEWORK={"ROOT_HANDLER_HOOK": "x.y"}):
        with pytest.raises(ImproperlyConfigured, match="'ROOT_HANDLER_HOOK'"):
            grpc_settings.GRPC_CHANNEL_PORT


def test_failing_import_names_key_and_path():
    with override_settings(GRPC_FRAMEWORK={"SERVER_INTERCEPTORS": ["tests.nowhere.Interceptor"]}):
        with pytest.raises(ImproperlyConfigured) as info:
            grpc_settings.SERVER_INTERCEPTORS
    assert "SERVER_INTERCEPTORS" in str(info.value) and "tests.nowhere.Interceptor" in str(info.value)


def test_interceptors_from_strings_and_instances():
    instance = CountingInterceptor()
    with override_settings(GRPC_FRAMEWORK={"SERVER_INTERCEPTORS": ["tests.test_settings.CountingInterceptor", instance]}):
        first, second = grpc_settings.SERVER_INTERCEPTORS
    assert isinstance(first, CountingInterceptor) and second is instance


def test_django_socio_grpc_keys_are_accepted():
    with override_settings(GRPC_FRAMEWORK={"GRPC_ASYNC": True, "SEPARATE_READ_WRITE_MODEL": False}):
        assert grpc_settings.GRPC_CHANNEL_PORT == 50051
