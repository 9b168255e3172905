from __future__ import annotations

import re

import django_filters
from django.db.models import Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.db.models.lookups import Exact
from rest_framework.exceptions import ValidationError

from .choices import HostStatus
from .models import Host

LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


def labels_q(field: str, selectors: list[str]) -> Q:
    """The condition that JSON labels match every ``key=value`` (or bare ``key``) selector."""
    condition = Q()
    for selector in selectors:
        key, sep, value = selector.partition("=")
        if not LABEL_KEY.match(key) or "__" in key:
            raise ValidationError({"label": f"{key!r} is not a label key"})
        if key.isdigit():
            # JSON paths read such a key as a list index on SQLite and PostgreSQL alike:
            # say so rather than match nothing.
            raise ValidationError(
                {"label": f"{key!r}: a label key made only of digits cannot be selected"}
            )
        if sep:
            # The key through KeyTextTransform, never as ``{field}__{key}``: Django would
            # read a key such as "regex" or "contains" as a lookup on the whole JSON
            # document, and one made of digits as a list index.
            text = Cast(KeyTextTransform(key, field), output_field=TextField())
            condition &= Q(Exact(text, value))
        else:
            condition &= Q(**{f"{field}__has_key": key})
    return condition


def filter_by_labels(queryset: QuerySet, field: str, selectors: list[str]) -> QuerySet:
    """Keep rows whose JSON labels match every ``key=value`` (or bare ``key``) selector."""
    return queryset.filter(labels_q(field, selectors))


class LabelFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """``?label=app=web,tier`` — every comma-separated selector must match."""

    def filter(self, qs: QuerySet, value: list[str]) -> QuerySet:
        if not value:
            return qs
        return filter_by_labels(qs, self.field_name, value)


class HostFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=HostStatus.choices)
    group = django_filters.CharFilter(field_name="groups__name", distinct=True)
    label = LabelFilter(field_name="labels")
    q = django_filters.CharFilter(method="search", label="Search name and address")

    class Meta:
        model = Host
        fields = ["status", "transport", "group", "label"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(name__icontains=value) | Q(address__icontains=value))
