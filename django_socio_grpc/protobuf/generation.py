"""From the services recorded by the handlers hook to validated, numbered `ProtoFile`s.

Everything is validated before anything is written, so a bad declaration never leaves a
half-generated or unparsable .proto behind; errors name the service, action and field.
"""
from __future__ import annotations

import asyncio
import inspect
import keyword
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django_socio_grpc.decorators import ActionSpec, MessageSpec
from django_socio_grpc.exceptions import ProtobufGenerationException
from django_socio_grpc.protobuf.field_numbers import number_message, parse_previous_proto
from django_socio_grpc.protobuf.model import ProtoField, ProtoFile, ProtoMessage, ProtoRpc, ProtoService
from django_socio_grpc.services.app_handler_registry import (
    AppRegistration,
    clear_recorded_apps,
    recorded_apps,
)

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PACKAGE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

SCALAR_TYPES = frozenset(
    "double float int32 int64 uint32 uint64 sint32 sint64 fixed32 fixed64 "
    "sfixed32 sfixed64 bool string bytes".split()
)
# Words that start a statement inside a message body: a message named like this could
# not be used as a field type, since `message x = 1;` parses as a nested declaration.
PROTO_KEYWORDS = frozenset(
    "syntax edition import weak public package option message enum service rpc returns "
    "stream repeated optional required reserved extensions extend oneof map group to max "
    "true false inf nan".split()
)

_WRAPPERS = "Double Float Int64 UInt64 Int32 UInt32 Bool String Bytes".split()
WELL_KNOWN_TYPES: dict[str, str] = {
    "google.protobuf.Empty": "google/protobuf/empty.proto",
    "google.protobuf.Timestamp": "google/protobuf/timestamp.proto",
    "google.protobuf.Duration": "google/protobuf/duration.proto",
    "google.protobuf.Any": "google/protobuf/any.proto",
    "google.protobuf.FieldMask": "google/protobuf/field_mask.proto",
    "google.protobuf.Struct": "google/protobuf/struct.proto",
    "google.protobuf.Value": "google/protobuf/struct.proto",
    "google.protobuf.ListValue": "google/protobuf/struct.proto",
    "google.protobuf.NullValue": "google/protobuf/struct.proto",
    **{f"google.protobuf.{name}Value": "google/protobuf/wrappers.proto" for name in _WRAPPERS},
}
# Well-known enums: valid field types, but an RPC needs a message.
WELL_KNOWN_ENUMS = frozenset({"google.protobuf.NullValue"})
EMPTY = "google.protobuf.Empty"
CARDINALITIES = frozenset({"repeated", "optional"})
FIELD_KEYS = frozenset({"name", "type", "cardinality", "comment"})


def fail(where: str, problem: str) -> ProtobufGenerationException:
    return ProtobufGenerationException(f"{where}: {problem}")


def json_name(name: str) -> str:
    """protoc's default JSON name; two fields of a message may not share one."""
    out: list[str] = []
    upper_next = False
    for char in name:
        if char == "_":
            upper_next = True
        else:
            out.append(char.upper() if upper_next else char)
            upper_next = False
    return "".join(out)


def check_message_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise fail(where, f"invalid message name {name!r}: use letters, digits and underscores")
    if name in PROTO_KEYWORDS or name in SCALAR_TYPES or keyword.iskeyword(name) or name == "google":
        raise fail(where, f"invalid message name {name!r}: it is a reserved word")
    return name


# Control characters other than the tab, written as escapes in comments: protoc ends a file at
# a NUL, even inside a comment, and reads what follows as declarations.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def _comment_line(text: str) -> str:
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text).rstrip()


def _comment_lines(comment: object, where: str) -> tuple[str, ...]:
    if comment is None:
        return ()
    if isinstance(comment, str):
        return tuple(_comment_line(line) for line in comment.splitlines())
    if isinstance(comment, (list, tuple)) and all(isinstance(line, str) for line in comment):
        return tuple(_comment_line(part) for line in comment for part in line.splitlines())
    raise fail(where, f"'comment' must be a string or a list of strings, not {type(comment).__name__}")


def parse_fields(declaration: list[Any], where: str) -> list[ProtoField]:
    """Field dicts checked for shape and names; types are checked once all messages are known."""
    fields: list[ProtoField] = []
    seen: dict[str, str] = {}  # json name -> field name
    for index, entry in enumerate(declaration):
        at = f"{where} field #{index + 1}"
        if not isinstance(entry, dict):
            raise fail(at, f"expected a dict with 'name' and 'type', got {entry!r}")
        name = entry.get("name")
        if name is not None:
            at = f"{where} field {name!r}"
        unknown = sorted(map(str, set(entry) - FIELD_KEYS))
        if unknown:
            raise fail(at, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(FIELD_KEYS))}")
        if "name" not in entry or "type" not in entry:
            missing = [key for key in ("name", "type") if key not in entry]
            raise fail(at, f"missing {' and '.join(map(repr, missing))}")
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            raise fail(at, f"invalid field name {name!r}: must match {IDENTIFIER.pattern}")
        field_type = entry["type"]
        if not isinstance(field_type, str) or not field_type:
            raise fail(at, f"invalid type {field_type!r}: must be a non-empty string")
        cardinality = entry.get("cardinality") or None
        if cardinality is not None and cardinality not in CARDINALITIES:
            raise fail(at, f"invalid cardinality {cardinality!r}: use 'repeated' or 'optional'")
        json = json_name(name)
        if name in seen.values():
            raise fail(at, f"duplicate field name {name!r}")
        if json in seen:
            raise fail(at, f"field {name!r} clashes with field {seen[json]!r} (same JSON name {json!r})")
        seen[json] = name
        fields.append(ProtoField(name, field_type, cardinality, _comment_lines(entry.get("comment"), at)))
    return fields


@dataclass
class _Reference:
    """A message used by name (a request/response string): resolved once all are declared."""

    name: str
    where: str


class _FileBuilder:
    def __init__(self, registration: AppRegistration) -> None:
        self.registration = registration
        self.messages: dict[str, tuple[list[ProtoField], str]] = {}  # name -> (fields, where)
        self.references: list[_Reference] = []
        self.services: list[ProtoService] = []

    def declare(self, spec: MessageSpec, name: str | None, default: str, where: str) -> str:
        if isinstance(spec, str):
            if spec.startswith("google.protobuf.") and spec not in WELL_KNOWN_TYPES:
                raise fail(where, f"unknown well-known type {spec!r}")
            if spec not in WELL_KNOWN_TYPES:
                check_message_name(spec, where)
            self.references.append(_Reference(spec, where))
            return spec
        if not isinstance(spec, list):
            raise fail(where, f"expected a list of field dicts or a message name, got {type(spec).__name__}")
        if not spec:
            return EMPTY
        message_name = check_message_name(default if name is None else name, where)
        fields = parse_fields(spec, where)
        known = self.messages.get(message_name)
        if known is None:
            self.messages[message_name] = (fields, where)
        elif [f.shape() for f in known[0]] != [f.shape() for f in fields]:
            raise fail(
                where,
                f"message {message_name!r} is already declared with other fields (by {known[1]})",
            )
        return message_name

    def add_service(self, service_class: type) -> None:
        controller = service_class.get_controller_name()
        service_name = service_class.get_service_name()
        label = service_class.__qualname__
        if not isinstance(controller, str) or not IDENTIFIER.match(controller):
            raise fail(label, f"invalid controller name {controller!r}")
        if any(service.name == controller for service in self.services):
            raise fail(label, f"controller {controller} is registered twice")
        service = ProtoService(controller)
        actions: Mapping[str, ActionSpec] = service_class.get_grpc_actions()
        for action, spec in actions.items():
            where = f"{label}.{action}"
            if not IDENTIFIER.match(action):
                raise fail(where, f"invalid action name {action!r}")
            request = self.declare(
                spec.request, spec.request_name, f"{service_name}{action}Request", f"{where} request"
            )
            response = self.declare(
                spec.response, spec.response_name, f"{service_name}{action}Response", f"{where} response"
            )
            service.rpcs.append(
                ProtoRpc(action, request, response, spec.request_stream, spec.response_stream)
            )
        self.services.append(service)

    def resolve_type(self, type_name: str, where: str, imports: set[str], as_rpc: bool) -> None:
        if type_name in WELL_KNOWN_TYPES:
            if as_rpc and type_name in WELL_KNOWN_ENUMS:
                raise fail(where, f"{type_name} is an enum; a request or response must be a message")
            imports.add(WELL_KNOWN_TYPES[type_name])
        elif type_name in self.messages:
            return
        elif not as_rpc and type_name in SCALAR_TYPES:
            return
        else:
            kinds = "a message declared in this app" if as_rpc else "a proto scalar type, a message declared in this app"
            raise fail(where, f"unknown type {type_name!r}: expected {kinds} or a google.protobuf well-known type")

    def build(self, package: str, previous_text: str | None) -> ProtoFile:
        clashes = {service.name for service in self.services} & set(self.messages)
        if clashes:
            name = sorted(clashes)[0]
            raise fail(self.messages[name][1], f"message {name!r} has the name of a service")
        imports: set[str] = set()
        for service in self.services:
            for rpc in service.rpcs:
                if EMPTY in (rpc.request, rpc.response):
                    imports.add(WELL_KNOWN_TYPES[EMPTY])
        for reference in self.references:
            self.resolve_type(reference.name, reference.where, imports, as_rpc=True)
        for fields, where in self.messages.values():
            for proto_field in fields:
                self.resolve_type(proto_field.type, f"{where} field {proto_field.name!r}", imports, as_rpc=False)
        previous = parse_previous_proto(previous_text) if previous_text else {}
        messages: list[ProtoMessage] = [
            number_message(name, fields, previous.get(name)) for name, (fields, _) in self.messages.items()
        ]
        return ProtoFile(package, self.services, messages, sorted(imports))


def check_project(project: str) -> str:
    if not isinstance(project, str) or not PACKAGE.match(project):
        raise ProtobufGenerationException(f"invalid project name {project!r}: use a dotted identifier")
    if project.split(".")[0] == "google":
        raise ProtobufGenerationException("the project name may not start with 'google'")
    return project


def build_proto_file(
    project: str, registration: AppRegistration, previous_text: str | None = None
) -> ProtoFile:
    """The validated, numbered proto model of one app; `previous_text` is its last .proto."""
    label = registration.app_label
    if not IDENTIFIER.match(label) or label in PROTO_KEYWORDS:
        raise ProtobufGenerationException(f"app {registration.app_name!r}: label {label!r} cannot be a proto package")
    builder = _FileBuilder(registration)
    for service_class in registration.services:
        builder.add_service(service_class)
    return builder.build(f"{check_project(project)}.{label}", previous_text)


def generate_proto_files(
    project: str,
    registrations: Iterable[AppRegistration],
    previous: Mapping[str, str | None] | None = None,
) -> dict[str, str]:
    """Proto text by app name; `previous` maps an app name to its last .proto text."""
    previous = previous or {}
    return {
        registration.app_name: build_proto_file(
            project, registration, previous.get(registration.app_name)
        ).render()
        for registration in registrations
    }


def default_project_name() -> str:
    """First dotted part of the settings module, as django-socio-grpc names packages."""
    from django.conf import settings

    module = os.environ.get("DJANGO_SETTINGS_MODULE") or getattr(settings, "SETTINGS_MODULE", None)
    if not module:
        raise ProtobufGenerationException("DJANGO_SETTINGS_MODULE is not set: pass --project NAME")
    return module.split(".")[0]


def hook_path(hook: Any) -> str:
    module = getattr(hook, "__module__", None)
    name = getattr(hook, "__qualname__", None) or getattr(hook, "__name__", None) or repr(hook)
    return f"{module}.{name}" if module else name


def _run_awaitable(awaitable: Any) -> Any:
    async def runner() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(runner())
    # Already inside a loop (e.g. an async caller): run the hook on a loop of its own.
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(runner())
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def run_handlers_hook(hook: Callable[[Any], Any]) -> list[AppRegistration]:
    """Calls the ROOT_HANDLERS_HOOK with `server=None` so registries record instead of wiring."""
    clear_recorded_apps()
    result = hook(None)
    if inspect.isawaitable(result):
        _run_awaitable(result)
    return recorded_apps()
