"""Query-parameter filters that refuse what they cannot read.

django-filter skips a filter whose value is empty (``?created_before=``, ``?host=``):
the list comes back unfiltered, and a script that built the URL from an empty variable
reads every row as if it had asked for them. For a number, a date or a choice an empty
value is a mistake, so here it is a 400 naming the parameter, like any other value
that does not parse. Free-text filters (a search box, a label) keep reading empty as
"no filter".
"""

from __future__ import annotations

import django_filters
from django_filters.rest_framework import DjangoFilterBackend

# The filters whose values must parse: an empty one cannot be what was meant.
_PARSED = (
    django_filters.NumberFilter,
    django_filters.DateFilter,
    django_filters.DateTimeFilter,
    django_filters.IsoDateTimeFilter,
    django_filters.ChoiceFilter,
    django_filters.MultipleChoiceFilter,
    django_filters.ModelChoiceFilter,
    django_filters.ModelMultipleChoiceFilter,
)


class StrictFilterSet(django_filters.FilterSet):
    def is_valid(self) -> bool:
        valid: bool = super().is_valid()
        for name, declared in self.filters.items():
            if name not in self.data:
                continue
            values = self.data.getlist(name) if hasattr(self.data, "getlist") else []
            values = values or [self.data.get(name)]
            if isinstance(declared, _PARSED) and "" in values:
                self.form.add_error(name, "Give a value, or leave the parameter out.")
                valid = False
            elif isinstance(declared, django_filters.BooleanFilter) and any(
                str(value).lower() not in ("true", "false") for value in values
            ):
                # django-filter also reads "1", "yes" and "null" (as no filter at all).
                self.form.add_error(name, "Give true or false.")
                valid = False
        return valid


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, building a view's filters (``filterset_fields``) on
    ``StrictFilterSet`` as well."""

    filterset_base = StrictFilterSet
