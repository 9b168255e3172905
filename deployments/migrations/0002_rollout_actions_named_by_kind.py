"""Operations of rollouts were all ``service.rollout``; each now names its kind:
``service.deploy``, ``service.rollback`` or ``service.converge``."""

from django.db import migrations

ACTIONS = {
    "deploy": "service.deploy",
    "rollback": "service.rollback",
    "converge": "service.converge",
}


def name_by_kind(apps, schema_editor):  # type: ignore[no-untyped-def]
    Rollout = apps.get_model("deployments", "Rollout")
    Operation = apps.get_model("operations", "Operation")
    for kind, action in ACTIONS.items():
        ids = Rollout.objects.filter(kind=kind, operation__isnull=False).values("operation_id")
        Operation.objects.filter(pk__in=ids, action="service.rollout").update(action=action)


def back_to_one_name(apps, schema_editor):  # type: ignore[no-untyped-def]
    Operation = apps.get_model("operations", "Operation")
    Operation.objects.filter(action__in=ACTIONS.values()).update(action="service.rollout")


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0001_initial"),
        ("operations", "0002_operation_claims_and_deadlines"),
    ]

    operations = [migrations.RunPython(name_by_kind, back_to_one_name)]
