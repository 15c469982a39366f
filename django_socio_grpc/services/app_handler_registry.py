"""`AppHandlerRegistry`: wires an app's services into a server, or records them for `generateproto`."""
from __future__ import annotations

import importlib
import re
import weakref
from dataclasses import field
from types import ModuleType
from typing import Any

from django.apps import apps

from django_socio_grpc.exceptions import RegistrationError
from django_socio_grpc.services.base_service import Service
from hybrid_server.records import record

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def camel_to_snake(name: str) -> str:
    """`MyHTTPService` -> `my_http_service`."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


@record(frozen=False)
class AppRegistration:
    """One app's services as registered in proto-generation mode."""

    app_name: str
    grpc_folder: str
    services: list[type[Service]] = field(default_factory=list)

    @property
    def app_label(self) -> str:
        return self.app_name.rsplit(".", 1)[-1]

    @property
    def module_prefix(self) -> str:
        return f"{self.app_name}.{self.grpc_folder}.{self.app_label}"


# app_name -> registration, filled while the hook runs with server=None.
_recorded: dict[str, AppRegistration] = {}


def recorded_apps() -> list[AppRegistration]:
    return list(_recorded.values())


def clear_recorded_apps() -> None:
    _recorded.clear()


# server -> full names of the services registered on it, to refuse registering one twice.
_wired: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_wired_unweakrefable: dict[int, tuple[Any, set[str]]] = {}  # holds the server: its id stays its own


def _wired_on(server: Any) -> set[str]:
    try:
        return _wired.setdefault(server, set())
    except TypeError:  # no weak reference to this kind of object
        return _wired_unweakrefable.setdefault(id(server), (server, set()))[1]


def _module_missing(exc: ModuleNotFoundError, module: str) -> bool:
    """True when `module` itself (or a parent package of it) is what could not be found."""
    return exc.name is not None and (module == exc.name or module.startswith(exc.name + "."))


class AppHandlerRegistry:
    """Registers the services of one Django app.

    With a server, `register` imports `<app>.<grpc_folder>.<app>_pb2_grpc` and calls its
    `add_<Controller>Servicer_to_server(service.as_servicer(), server)`. With `server=None`
    (proto generation), it only records the service.
    """

    def __init__(
        self,
        app_name: str,
        server: Any,
        service_folder: str = "services",
        grpc_folder: str = "grpc",
        service_file_path: str | None = None,
        **_ignored: Any,
    ) -> None:
        self.app_name = app_name
        self.server = server
        self.service_folder = service_folder
        self.grpc_folder = grpc_folder
        self.service_file_path = service_file_path
        self._check_app()

    @property
    def app_label(self) -> str:
        return self.app_name.rsplit(".", 1)[-1]

    def _check_app(self) -> None:
        if not any(
            config.name == self.app_name or config.label == self.app_name
            for config in apps.get_app_configs()
        ):
            raise RegistrationError(
                f"AppHandlerRegistry({self.app_name!r}): no installed app has this name; "
                "add it to INSTALLED_APPS or fix the name"
            )

    # ------------------------------------------------------------------ finding the class

    def _service_module(self, name: str) -> tuple[ModuleType | None, str]:
        if self.service_file_path:
            path = self.service_file_path
            if path.endswith(".py") or "/" in path:
                path = path.removesuffix(".py").strip("/").replace("/", ".")
                if not path.startswith(self.app_name + "."):
                    path = f"{self.app_name}.{path}"
            return importlib.import_module(path), path
        module_path = f"{self.app_name}.{self.service_folder}.{camel_to_snake(name)}"
        try:
            return importlib.import_module(module_path), module_path
        except ModuleNotFoundError as exc:
            if not _module_missing(exc, module_path):
                raise
            return None, module_path

    def _resolve(self, service: type[Service] | str) -> type[Service]:
        if not isinstance(service, str):
            return service
        module, tried = self._service_module(service)
        candidates = [service]
        if module is None:
            module, tried_again = self._service_module(service + "Service")
            if module is None:
                raise RegistrationError(
                    f"AppHandlerRegistry({self.app_name!r}).register({service!r}): "
                    f"no module {tried!r} or {tried_again!r}"
                )
            candidates = [service + "Service", service]
        else:
            candidates.append(service + "Service")
        for candidate in candidates:
            found = getattr(module, candidate, None)
            if found is not None:
                return found
        raise RegistrationError(
            f"AppHandlerRegistry({self.app_name!r}).register({service!r}): "
            f"module {module.__name__!r} defines no class {service!r}"
        )

    # ------------------------------------------------------------------ registering

    def register(self, service: type[Service] | str, **_ignored: Any) -> type[Service]:
        service_class = self._resolve(service)
        if not (isinstance(service_class, type) and issubclass(service_class, Service)):
            raise RegistrationError(
                f"AppHandlerRegistry({self.app_name!r}).register({service!r}): "
                f"{service_class!r} is not a subclass of django_socio_grpc.services.Service"
            )
        if self.server is None:
            self._record(service_class)
        else:
            self._wire(service_class)
        return service_class

    def _record(self, service_class: type[Service]) -> None:
        registration = _recorded.setdefault(
            self.app_name, AppRegistration(self.app_name, self.grpc_folder)
        )
        controller = service_class.get_controller_name()
        if any(other.get_controller_name() == controller for other in registration.services):
            raise RegistrationError(f"{controller} is registered twice in app {self.app_name!r}")
        registration.services.append(service_class)

    def _import_grpc_module(self, suffix: str) -> ModuleType:
        module_path = f"{self.app_name}.{self.grpc_folder}.{self.app_label}_{suffix}"
        try:
            return importlib.import_module(module_path)
        except ModuleNotFoundError as exc:
            if _module_missing(exc, module_path):
                raise RegistrationError(
                    f"AppHandlerRegistry({self.app_name!r}): module {module_path!r} does not exist; "
                    "run `python manage.py generateproto` to generate it"
                ) from exc
            raise

    def _wire(self, service_class: type[Service]) -> None:
        controller = service_class.get_controller_name()
        pb2_grpc = self._import_grpc_module("pb2_grpc")
        add = getattr(pb2_grpc, f"add_{controller}Servicer_to_server", None)
        if add is None:
            raise RegistrationError(
                f"{pb2_grpc.__name__} has no add_{controller}Servicer_to_server: the generated code "
                f"does not know {controller}; run `python manage.py generateproto`"
            )
        full_name = self._full_service_name(controller)
        wired = _wired_on(self.server)
        if full_name in wired:
            raise RegistrationError(f"{full_name} is registered twice (app {self.app_name!r})")
        add(service_class.as_servicer(), self.server)
        wired.add(full_name)

    def _full_service_name(self, controller: str) -> str:
        pb2 = self._import_grpc_module("pb2")
        descriptor = getattr(pb2, "DESCRIPTOR", None)
        services = getattr(descriptor, "services_by_name", {})
        if controller in services:
            return services[controller].full_name
        return controller
