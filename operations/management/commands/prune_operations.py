"""Export, then delete, old finished operations (operations/retention.py).

    manage.py prune_operations --days 90 --export-dir /backup/berth --format jsonl
    manage.py prune_operations --keep 100000 --dry-run

Without --days and --keep, BERTH_OPERATION_RETENTION_DAYS and _ROWS apply; the export
goes to BERTH_OPERATION_EXPORT_DIR unless --export-dir names another directory.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from operations import retention


class Command(BaseCommand):
    help = (
        "Export finished operations older than --days days or beyond the newest --keep "
        "to a file, then delete them from the operation log."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, help="keep this many days (default BERTH_OPERATION_RETENTION_DAYS)"
        )
        parser.add_argument(
            "--keep",
            type=int,
            help="keep the newest this many operations (default BERTH_OPERATION_RETENTION_ROWS)",
        )
        parser.add_argument(
            "--export-dir", help="where the export goes (default BERTH_OPERATION_EXPORT_DIR)"
        )
        parser.add_argument(
            "--format",
            choices=retention.EXPORT_FORMATS,
            help="jsonl (one JSON object per line) or csv (default BERTH_OPERATION_EXPORT_FORMAT)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would go; export and delete nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        keep = options["keep"]
        if days is None and keep is None:
            days = settings.BERTH_OPERATION_RETENTION_DAYS
            keep = settings.BERTH_OPERATION_RETENTION_ROWS
        days, keep = days or 0, keep or 0
        if not days and not keep:
            raise CommandError(
                "No retention is set: give --days or --keep (or set "
                "BERTH_OPERATION_RETENTION_DAYS / BERTH_OPERATION_RETENTION_ROWS)."
            )
        try:
            result = retention.prune_operations(
                days=days,
                keep=keep,
                export_dir=options["export_dir"] or settings.BERTH_OPERATION_EXPORT_DIR,
                export_format=options["format"] or settings.BERTH_OPERATION_EXPORT_FORMAT,
                dry_run=options["dry_run"],
            )
        except retention.RetentionError as exc:
            raise CommandError(str(exc)) from None
        if result.dry_run:
            self.stdout.write(f"Would delete {result.would_delete} operation(s):")
        elif result.deleted:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Deleted {result.deleted} operation(s); they are in {result.export_path}"
                )
            )
        else:
            self.stdout.write("Nothing to prune.")
        if result.dry_run or result.deleted:
            for (action, status), count in result.by_outcome.items():
                self.stdout.write(f"  {action} {status}: {count}")
