"""Keeping field numbers stable across regenerations.

Clients built against an older .proto decode by field number, so a field keeps its number
for as long as it exists, and a removed field's number (and name) is reserved forever.
The previous numbers are read back from the .proto file generated last time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from django_socio_grpc.exceptions import ProtobufGenerationException
from django_socio_grpc.protobuf.model import ProtoField, ProtoMessage

MAX_FIELD_NUMBER = 536_870_911
# Numbers protobuf keeps for its own implementation.
IMPLEMENTATION_RESERVED = range(19_000, 20_000)

_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|[A-Za-z_][\w.]*|\.?\w+|\S')


@dataclass
class PreviousMessage:
    """Numbers one message used in the previous .proto."""

    numbers: dict[str, int] = field(default_factory=dict)
    reserved_numbers: set[int] = field(default_factory=set)
    reserved_names: set[str] = field(default_factory=set)

    def highest(self) -> int:
        return max([0, *self.numbers.values(), *self.reserved_numbers])


def _int(token: str) -> int | None:
    if token == "max":
        return MAX_FIELD_NUMBER
    try:
        return int(token, 0)
    except ValueError:
        return None


def _read_reserved(tokens: list[str], message: PreviousMessage) -> None:
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token[:1] in ('"', "'"):
            message.reserved_names.add(token[1:-1])
        elif (start := _int(token)) is not None:
            end = start
            if index + 2 < len(tokens) and tokens[index + 1] == "to":
                end = _int(tokens[index + 2]) or start
                index += 2
            if end - start > 100_000:  # "N to max": remember the bounds, not every number
                message.reserved_numbers.update({start, end})
            else:
                message.reserved_numbers.update(range(start, end + 1))
        index += 1


def _read_statement(tokens: list[str], message: PreviousMessage) -> None:
    if not tokens or tokens[0] in ("option", "extensions"):
        return
    if tokens[0] == "reserved":
        _read_reserved(tokens[1:], message)
        return
    if "=" in tokens:
        at = tokens.index("=")
        if at >= 2 and at + 1 < len(tokens) and (number := _int(tokens[at + 1])) is not None:
            message.numbers[tokens[at - 1]] = number


def parse_previous_proto(text: str) -> dict[str, PreviousMessage]:
    """Top-level messages of a .proto text with their field numbers and reservations.

    Tolerant by design: comments, options, nested blocks and unknown statements are
    skipped, since a half-understood old file must never stop a regeneration.
    """
    tokens = _TOKEN.findall(_COMMENT.sub(" ", text))
    messages: dict[str, PreviousMessage] = {}
    depth = 0
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if (
            depth == 0
            and token == "message"
            and index + 2 < len(tokens)
            and tokens[index + 2] == "{"
        ):
            index = _read_message(tokens, index + 3, messages.setdefault(tokens[index + 1], PreviousMessage()))
            continue
        if token == "{":
            depth += 1
        elif token == "}":
            depth = max(0, depth - 1)
        index += 1
    return messages


def _read_message(tokens: list[str], index: int, message: PreviousMessage) -> int:
    """Reads one message body starting after its `{`; returns the index after its `}`."""
    depth = 1
    statement: list[str] = []
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token == "{":
            depth += 1
            statement = []
        elif token == "}":
            depth -= 1
            statement = []
            if depth == 0:
                break
        elif token == ";":
            if depth == 1:
                _read_statement(statement, message)
            statement = []
        else:
            statement.append(token)
    return index


def _next_free(candidate: int, taken: set[int]) -> int:
    while candidate in taken or candidate in IMPLEMENTATION_RESERVED:
        candidate = 20_000 if candidate in IMPLEMENTATION_RESERVED else candidate + 1
    return candidate


def number_message(
    name: str, fields: list[ProtoField], previous: PreviousMessage | None
) -> ProtoMessage:
    """`fields` numbered: kept fields keep their number, new ones go above any number ever used.

    Fields that existed in `previous` but are gone become reserved (number and name).
    """
    previous = previous or PreviousMessage()
    numbers: dict[str, int] = {}
    taken: set[int] = set(previous.reserved_numbers)
    for proto_field in fields:
        old = previous.numbers.get(proto_field.name)
        if old is not None and old not in taken:
            numbers[proto_field.name] = old
            taken.add(old)
    removed = {n: num for n, num in previous.numbers.items() if n not in numbers}
    taken.update(removed.values())
    candidate = previous.highest() + 1
    for proto_field in fields:
        if proto_field.name in numbers:
            continue
        candidate = _next_free(candidate, taken)
        if candidate > MAX_FIELD_NUMBER:
            raise ProtobufGenerationException(
                f"message {name}: no field number left for {proto_field.name!r} "
                f"(numbers up to {MAX_FIELD_NUMBER} are used or reserved)"
            )
        numbers[proto_field.name] = candidate
        taken.add(candidate)
    current = {proto_field.name for proto_field in fields}
    reserved_numbers = (previous.reserved_numbers | set(removed.values())) - set(numbers.values())
    reserved_names = (previous.reserved_names | set(removed)) - current
    return ProtoMessage(
        name=name,
        fields=[replace(f, number=numbers[f.name]) for f in fields],
        reserved_numbers=sorted(reserved_numbers),
        reserved_names=sorted(reserved_names),
    )
