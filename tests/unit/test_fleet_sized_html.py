"""HTML written in Python for lists as long as a fleet: the same as Django's templates write."""

from __future__ import annotations

import pytest
from django import forms
from django.template import Context, Template

from frontend.forms import ManyChoicesSelect

CHOICES = [("", "---------"), ("1", "a<b&\"c'"), ("2", "node-0002"), ("3", "node-0003")]
GROUPED = [("", "---------"), ("edge", [("1", "node-1"), ("2", "node <2>")]), ("3", "node-3")]


class _Form(forms.Form):
    host = forms.ChoiceField(choices=CHOICES, help_text="the host")
    many = forms.MultipleChoiceField(choices=CHOICES[1:], widget=forms.CheckboxSelectMultiple)


def test_the_select_renders_as_djangos():
    for choices in (CHOICES, GROUPED):
        for value in (None, "2", "1"):
            ours = ManyChoicesSelect(choices=choices, attrs={"class": "wide", "data-x": True})
            django = forms.Select(choices=choices, attrs={"class": "wide", "data-x": True})
            attrs = {"id": "id_host", "required": True, "disabled": False}
            assert ours.render("host", value, attrs) == django.render("host", value, attrs)


def test_a_bound_select_field_renders_as_djangos():
    form = _Form(data={"host": "x"})  # an invalid choice: aria-invalid
    django = str(form["host"])
    form.fields["host"].widget = ManyChoicesSelect(choices=CHOICES)
    assert str(form["host"]) == django


def test_checkbox_choices_render_as_a_template_loop_would():
    ours = Template("{% load berth %}{{ form.many|choice_labels }}")
    django = Template(
        "{% for c in form.many %}<label>{{ c.tag }} {{ c.choice_label }}</label>"
        "{% empty %}<small>None yet.</small>{% endfor %}"
    )
    for data in ({"many": ["1", "3"]}, None):
        context = Context({"form": _Form(data=data)})
        assert ours.render(context) == django.render(context)
        assert "checked" in ours.render(context) or data is None
    empty = _Form()
    empty.fields["many"].choices = []
    context = Context({"form": empty})
    assert ours.render(context) == django.render(context) == "<small>None yet.</small>"


OLD_CHIPS = (
    '{% load berth %}{% for presence in hosts %}<span class="chip presence-chip">'
    '<a href="{% url \'frontend:image\' presence.image %}" title="{{ presence.host_name }}: '
    'layers and details">{{ presence.host_name }}</a>'
    '{% if user|can_operate %}<form method="post" action="'
    '{% url \'frontend:image-remove\' presence.image %}" class="inline" hx-post="'
    '{% url \'frontend:image-remove\' presence.image %}" hx-target="#feedback" '
    'hx-swap="afterbegin" hx-confirm="Remove this image from {{ presence.host_name }}?">'
    '{% csrf_token %}<button class="chip-x" aria-label="Remove from {{ presence.host_name }}" '
    'title="Remove from {{ presence.host_name }}">\u00d7</button></form>{% endif %}</span>'
    "{% endfor %}"
)


@pytest.mark.django_db
def test_presence_chips_render_as_a_template_loop_would(admin_user, django_user_model):
    hosts = [
        {"host": 1, "host_name": "node-1", "image": 7},
        {"host": 2, "host_name": "a<b&\"c'", "image": 123456},
    ]
    viewer = django_user_model.objects.create_user("just-looking")
    for user in (admin_user, viewer):
        context = {"hosts": hosts, "user": user, "csrf_token": "t0ken"}
        ours = Template("{% load berth %}{% presence_chips hosts %}").render(Context(context))
        assert ours == Template(OLD_CHIPS).render(Context(context))
        assert ("t0ken" in ours) == (user is admin_user)
