"""Label selectors: which hosts or containers carry some labels.

One grammar for every place that selects by label (the host and container filters,
the bulk pull's ``host_label``, the fleet page): a selector is one or more
requirements, each ``key=value`` (the label has exactly this value; the value is
everything after the first ``=`` and may be empty) or a bare ``key`` (the label is
present, whatever its value). As text, requirements are separated by commas
(``tier=web,env``); an API that takes the parameter several times gives one
requirement per value instead.

The selector becomes SQL, never a Python loop over rows: every key is read through a
JSON key transform, never spliced into an ORM lookup, so a key such as ``regex`` or
``contains`` is a label like any other on SQLite and PostgreSQL alike.

This module is a leaf: it imports Django and the standard library only, so any app
may use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.db.models import Q, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.db.models.lookups import Exact

# What a label key may be, wherever labels are set or selected. ``\Z``, not ``$``,
# which would let a trailing newline through.
LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*\Z")
MAX_KEY_LENGTH = 256
EXAMPLE = "write key=value or key, comma-separated, e.g. tier=web,env"


class LabelSelectorError(ValueError):
    """A selector that cannot be used, with a message a person can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class LabelRequirement:
    """One label a row must carry: ``key`` with exactly ``value``, or with any value
    when ``value`` is None."""

    key: str
    value: str | None = None

    def __str__(self) -> str:
        return self.key if self.value is None else f"{self.key}={self.value}"


@dataclass(frozen=True)
class LabelSelector:
    """Requirements that must all hold; build it with :meth:`parse`."""

    requirements: tuple[LabelRequirement, ...]

    @classmethod
    def parse(cls, selector: str | Iterable[str]) -> LabelSelector:
        """A selector from text (requirements separated by commas) or from a list of
        requirements (one each, so a value may hold a comma); LabelSelectorError when
        it is empty or any requirement is malformed."""
        items = selector.split(",") if isinstance(selector, str) else [str(i) for i in selector]
        if not items or items == [""]:
            raise LabelSelectorError(f"Give a label selector: {EXAMPLE}.")
        return cls(tuple(parse_requirement(item) for item in items))

    def q(self, field: str) -> Q:
        """The condition that the JSON object in ``field`` meets every requirement."""
        condition = Q()
        for requirement in self.requirements:
            if requirement.value is None:
                condition &= Q(**{f"{field}__has_key": requirement.key})
            else:
                # The key through KeyTextTransform, never as ``{field}__{key}``: Django
                # would read a key such as "regex" or "contains" as a lookup on the
                # whole JSON document. Cast: compare the label's text, not a JSON value.
                text = Cast(KeyTextTransform(requirement.key, field), output_field=TextField())
                condition &= Q(Exact(text, requirement.value))
        return condition

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def parse_requirement(item: str) -> LabelRequirement:
    """One ``key=value`` or ``key``; LabelSelectorError when it is malformed."""
    key, sep, value = item.partition("=")
    check_key(key)
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail the query.
        raise LabelSelectorError(f"{item[:64]!r}: a label value cannot hold a NUL character.")
    return LabelRequirement(key, value if sep else None)


def check_key(key: str) -> None:
    """LabelSelectorError unless ``key`` can be selected."""
    if not key:
        raise LabelSelectorError(f"A label selector needs a key: {EXAMPLE}.")
    if len(key) > MAX_KEY_LENGTH:
        raise LabelSelectorError(
            f"{key[:64]!r}…: a label key is at most {MAX_KEY_LENGTH} characters."
        )
    if not LABEL_KEY.match(key) or "__" in key:
        raise LabelSelectorError(
            f"{key!r} is not a label key: letters, digits and . _ / - (no '__'), "
            "starting with a letter or digit."
        )
    if key.isdigit():
        # JSON paths read such a key as a list index on SQLite and PostgreSQL alike:
        # say so rather than match nothing.
        raise LabelSelectorError(f"{key!r}: a label key made only of digits cannot be selected.")


class LabelSelectorField(forms.Field):
    """A form field whose cleaned value is a LabelSelector (None when left empty), and
    whose error is the selector's message. ``repeated``: the parameter is given once
    per requirement (``?label=a&label=b``) instead of as comma-separated text."""

    def __init__(self, *, repeated: bool = False, **kwargs: Any) -> None:
        self.repeated = repeated
        kwargs.setdefault("widget", forms.MultipleHiddenInput if repeated else forms.TextInput)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> LabelSelector | None:
        if value in self.empty_values:
            return None
        if self.repeated and isinstance(value, str):
            value = [value]
        try:
            return LabelSelector.parse(value)
        except LabelSelectorError as exc:
            raise forms.ValidationError(exc.message, code="invalid") from None
