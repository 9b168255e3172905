"""Re-encrypt every stored secret with the first key of BERTH_ENCRYPTION_KEY.

Rotating the key:

1. Generate a new key: ``python -c "from cryptography.fernet import Fernet;
   print(Fernet.generate_key().decode())"``.
2. Put it FIRST in ``BERTH_ENCRYPTION_KEY`` (or the file ``BERTH_ENCRYPTION_KEY_FILE``
   names), keeping the old key after it: ``NEW,OLD``. Restart web and workers: new
   secrets are now written with the new key, old ones still read with the old.
3. Run ``manage.py rotate_encryption_key``: every encrypted column is re-encrypted
   with the new key (in one transaction; safe to run again).
4. Drop the old key from ``BERTH_ENCRYPTION_KEY`` and restart again.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import TextField, Value
from django.db.models.functions import Cast

from berth import crypto
from berth.fields import EncryptedTextField


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the first key of BERTH_ENCRYPTION_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        crypto.reset_cache()
        total = 0
        try:
            with transaction.atomic():
                for model in apps.get_models():
                    for field in model._meta.concrete_fields:
                        if isinstance(field, EncryptedTextField):
                            total += self._rotate(model, field.name)
        except crypto.DecryptionError as exc:
            raise CommandError(f"{exc}; nothing was changed.") from None
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} secret(s) with the first key."))

    def _rotate(self, model: Any, name: str) -> int:
        # Read the stored ciphertext as plain text (Cast skips the field's decryption) and
        # write it back the same way (Value with a plain TextField skips its encryption).
        rows = (
            model._default_manager.annotate(_stored=Cast(name, output_field=TextField()))
            .exclude(_stored="")
            .exclude(_stored__isnull=True)
            .values_list("pk", "_stored")
        )
        count = 0
        for pk, stored in rows:
            rotated = crypto.rotate(stored)
            model._default_manager.filter(pk=pk).update(
                **{name: Value(rotated, output_field=TextField())}
            )
            count += 1
        if count:
            self.stdout.write(f"{model._meta.label}.{name}: {count}")
        return count
