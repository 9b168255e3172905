"""Host groups are managed in the Django admin too: each change audited as the API's,
a group that limits someone refused as the API refuses it, and only by admins not
limited to host groups."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from access.roles import Role
from hosts.models import HostGroup
from operations.models import Operation
from tests.unit.roles_support import logged_in, make_user, token_for

pytestmark = pytest.mark.django_db


def _recorded(action: str) -> Operation:
    operations = list(Operation.objects.filter(action=action))
    assert len(operations) == 1, f"{action}: {[op.action for op in Operation.objects.all()]}"
    return operations[0]


def test_admin_host_group_add_change_and_delete_are_recorded(admin_client, admin_user):
    response = admin_client.post(
        reverse("admin:hosts_hostgroup_add"), {"name": "edge", "description": "the edge"}
    )
    assert response.status_code == 302, response.context and response.context["adminform"].errors
    group = HostGroup.objects.get(name="edge")
    created = _recorded("hostgroup.create")
    assert (created.actor, created.target_id) == (admin_user, str(group.pk))
    assert created.params == {"name": "edge", "description": "the edge"}

    url = reverse("admin:hosts_hostgroup_change", args=[group.pk])
    response = admin_client.post(url, {"name": "edge", "description": "the far edge"})
    assert response.status_code == 302
    assert _recorded("hostgroup.update").params == {"description": "the far edge"}
    assert HostGroup.objects.get(pk=group.pk).description == "the far edge"

    listing = admin_client.get(reverse("admin:hosts_hostgroup_changelist"))
    assert listing.status_code == 200
    assert "the far edge" in listing.text

    url = reverse("admin:hosts_hostgroup_delete", args=[group.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not HostGroup.objects.exists()
    assert _recorded("hostgroup.delete").target_name == "edge"


def test_admin_refuses_to_delete_a_group_that_limits_a_user_or_token(admin_client, admin_user):
    group = HostGroup.objects.create(name="pci")
    make_user("pat", Role.OPERATOR, [group])
    token_for(admin_user, Role.VIEWER, [group])
    api_answer = logged_in(admin_user).delete(f"/api/v1/host-groups/{group.pk}/")
    assert api_answer.status_code == 409
    message = api_answer.json()["detail"]
    assert "user pat" in message

    page = admin_client.get(reverse("admin:hosts_hostgroup_delete", args=[group.pk]))
    assert page.status_code == 200
    assert message in page.text
    response = admin_client.post(
        reverse("admin:hosts_hostgroup_delete", args=[group.pk]), {"post": "yes"}
    )
    assert response.status_code == 200  # the refusal page again, not the redirect of a delete
    assert message in response.text
    # Nor through the change list's bulk delete.
    response = admin_client.post(
        reverse("admin:hosts_hostgroup_changelist"),
        {"action": "delete_selected", "_selected_action": [group.pk], "post": "yes"},
    )
    assert message in response.text
    assert HostGroup.objects.filter(pk=group.pk).exists()
    assert not Operation.objects.filter(action="hostgroup.delete").exists()


def test_admin_bulk_delete_of_unused_groups_is_recorded_per_group(admin_client):
    groups = [HostGroup.objects.create(name=f"spare-{n}") for n in (1, 2)]
    response = admin_client.post(
        reverse("admin:hosts_hostgroup_changelist"),
        {"action": "delete_selected", "_selected_action": [g.pk for g in groups], "post": "yes"},
    )
    assert response.status_code == 302
    assert not HostGroup.objects.exists()
    deleted = Operation.objects.filter(action="hostgroup.delete")
    assert sorted(op.target_name for op in deleted) == ["spare-1", "spare-2"]


def test_a_scoped_admin_changes_no_host_group_in_the_admin():
    mine = HostGroup.objects.create(name="mine")
    other = HostGroup.objects.create(name="other")
    scoped = make_user("sam", Role.ADMIN, [mine])
    scoped.is_staff = True
    scoped.save()
    scoped.user_permissions.add(*Permission.objects.filter(codename__endswith="_hostgroup"))
    client = logged_in(scoped)

    assert client.get(reverse("admin:hosts_hostgroup_add")).status_code == 403
    client.post(reverse("admin:hosts_hostgroup_add"), {"name": "sneaky"})
    client.post(
        reverse("admin:hosts_hostgroup_change", args=[mine.pk]),
        {"name": "mine", "description": "taken over"},
    )
    assert client.get(reverse("admin:hosts_hostgroup_delete", args=[mine.pk])).status_code == 403
    client.post(reverse("admin:hosts_hostgroup_delete", args=[other.pk]), {"post": "yes"})
    assert sorted(HostGroup.objects.values_list("name", "description")) == [
        ("mine", ""),
        ("other", ""),
    ]
    # As in the API, they see only their own groups.
    listing = client.get(reverse("admin:hosts_hostgroup_changelist"))
    assert listing.status_code == 200
    assert "mine" in listing.text and "other" not in listing.text
    assert not Operation.objects.filter(action__startswith="hostgroup.").exists()
