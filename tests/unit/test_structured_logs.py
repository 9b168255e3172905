"""Log lines name the operation (and its host, and the Celery task) they were logged
under, in the text format and in the JSON one, and nothing leaks past the run."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from berth.logging import ContextFilter, JsonFormatter, TextFormatter, log_context
from hosts.models import Host
from operations import registry, services
from operations.tasks import execute_operation
from tests.fleet import REPO

handler_log = logging.getLogger("tests.structured_logs.handler")


@pytest.fixture
def capture():
    """Records reaching a root handler filtered like settings.LOGGING's console."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    keep.addFilter(ContextFilter())
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(keep)
    try:
        yield records
    finally:
        root.removeHandler(keep)
        root.setLevel(old_level)


def _text(record: logging.LogRecord) -> str:
    return TextFormatter().format(record)


def _json(record: logging.LogRecord) -> dict:
    return json.loads(JsonFormatter().format(record))


def _mine(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.name == handler_log.name]


@pytest.fixture
def logging_action():
    def handler(operation, context):
        handler_log.info("working on %s", operation.target_name)
        return {"ok": True}

    registry.action("test.logs")(handler)


@pytest.mark.django_db
def test_a_line_logged_by_a_handler_names_its_operation_and_host(capture, logging_action):
    host = Host.objects.create(name="web-7", transport="local")
    operation = services.start_operation(action="test.logs", target=host, actor=None, host=host)
    services.execute(operation.pk)

    (record,) = _mine(capture)
    assert (record.operation_id, record.host) == (operation.pk, "web-7")
    text = _text(record)
    assert f"[op {operation.pk} host web-7] working on web-7" in text
    assert text.split(" ")[2] == "INFO"
    entry = _json(record)
    assert entry["operation_id"] == operation.pk
    assert entry["host"] == "web-7"
    assert entry["message"] == "working on web-7"
    assert entry["level"] == "INFO"
    assert entry["logger"] == handler_log.name

    # Once the run is over, lines carry no operation.
    handler_log.info("after")
    after = _mine(capture)[-1]
    assert after.operation_id is None and after.host is None
    assert "[" not in _text(after)
    assert "operation_id" not in _json(after)


@pytest.mark.django_db
def test_inside_a_celery_task_the_task_id_is_there_too(capture, logging_action):
    host = Host.objects.create(name="db-2", transport="local")
    operation = services.start_operation(action="test.logs", target=host, actor=None, host=host)
    result = execute_operation.apply(args=(operation.pk,), task_id="task-abc-123")
    assert result.successful(), result.traceback

    (record,) = _mine(capture)
    assert record.task_id == "task-abc-123"
    assert f"[op {operation.pk} host db-2 task task-abc-123]" in _text(record)
    assert _json(record)["task_id"] == "task-abc-123"


def test_an_exception_is_one_json_line_with_its_traceback(capture):
    with log_context(operation_id=41):
        try:
            raise ValueError("boom")
        except ValueError:
            handler_log.exception("it broke")
    (record,) = _mine(capture)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["operation_id"] == 41
    assert "ValueError: boom" in entry["exception"]


def test_contexts_nest_and_unwind():
    from berth.logging import bind_log_context, current_context

    with log_context(operation_id=1):
        with log_context(host="a"):
            bind_log_context(host="b")
            assert current_context() == {"operation_id": 1, "host": "b"}
        assert current_context() == {"operation_id": 1}
    assert current_context() == {}


def _log_from_a_process(log_format: str) -> str:
    code = (
        "import django, logging; django.setup(); "
        "from berth.logging import log_context\n"
        "with log_context(operation_id=9, host='h1'):\n"
        "    logging.getLogger('berth.test').warning('from a process')\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "berth.settings", "BERTH_LOG_FORMAT": log_format}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return done.stderr.strip()


def test_settings_log_text_by_default_with_the_operation():
    (line,) = _log_from_a_process("text").splitlines()
    assert line.endswith("WARNING berth.test [op 9 host h1] from a process")


def test_berth_log_format_json_makes_every_line_json():
    (line,) = _log_from_a_process("json").splitlines()
    entry = json.loads(line)
    assert entry["message"] == "from a process"
    assert (entry["operation_id"], entry["host"], entry["level"]) == (9, "h1", "WARNING")


def test_an_unknown_log_format_stops_the_process():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "berth.settings", "BERTH_LOG_FORMAT": "xml"}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode != 0
    assert "BERTH_LOG_FORMAT must be text or json, not 'xml'" in done.stderr
