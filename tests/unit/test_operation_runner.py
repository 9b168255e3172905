"""How the runner records each way a handler can end (the handlers are stand-ins;
real actions run against the fleet in tests/integration)."""

import pytest
from django.db import OperationalError

from agent_link.errors import AgentError, AuthenticationFailed, HostUnreachable
from hosts.models import Host
from operations import registry, services
from operations.context import OperationFailed
from operations.models import Operation

pytestmark = pytest.mark.django_db


def _run(handler, settings, *, retries=0):
    settings.BERTH_OPERATION_RETRIES = retries
    registry.action("test.step", retry_transport=True)(handler)
    host = Host.objects.create(name="h", transport="local")
    operation = services.start_operation(action="test.step", target=host, actor=None, host=host)
    outcome = services.execute(operation.pk)
    operation.refresh_from_db()
    return operation, outcome


def _raise(exc):
    def handler(operation, context):
        raise exc

    return handler


def test_a_result_is_recorded_as_success(settings):
    operation, _ = _run(lambda operation, context: {"ok": 1}, settings)
    assert (operation.status, operation.result, operation.attempts) == ("succeeded", {"ok": 1}, 1)
    assert operation.finished_at is not None


def test_operation_failed_keeps_its_message(settings):
    operation, _ = _run(_raise(OperationFailed("the disk is full")), settings)
    assert (operation.status, operation.error) == ("failed", "the disk is full")


def test_an_agent_error_fails_with_the_agents_words(settings):
    operation, _ = _run(_raise(AgentError("conflict", "name web is in use")), settings)
    assert (operation.status, operation.error) == ("failed", "name web is in use")


def test_an_agent_cancel_is_a_cancelled_operation(settings):
    operation, _ = _run(_raise(AgentError("cancelled", "stopped")), settings)
    assert operation.status == "cancelled"


def test_an_unreachable_host_is_retried_then_fails_with_the_reason(settings):
    operation, outcome = _run(
        _raise(HostUnreachable("cannot reach h: refused")), settings, retries=1
    )
    assert outcome.retry_in is not None
    assert operation.status == "pending"
    outcome = services.execute(operation.pk)
    operation.refresh_from_db()
    assert outcome.retry_in is None
    assert (operation.status, operation.attempts) == ("failed", 2)
    assert operation.error == "host unreachable: cannot reach h: refused"


def test_a_failure_that_needs_an_admin_is_not_retried(settings):
    operation, outcome = _run(_raise(AuthenticationFailed("key refused")), settings, retries=3)
    assert outcome.retry_in is None
    assert operation.error == "host auth failed: key refused"


def test_a_bug_fails_the_operation_without_a_traceback(settings):
    operation, _ = _run(_raise(KeyError("oops")), settings)
    assert operation.status == "failed"
    assert "unexpected error (KeyError)" in operation.error
    assert "Traceback" not in operation.error


def test_a_claimed_operation_is_not_run_twice(settings):
    calls = []
    operation, _ = _run(lambda operation, context: calls.append(1), settings)
    services.execute(operation.pk)
    assert calls == [1]
    assert Operation.objects.get(pk=operation.pk).attempts == 1


def test_cancelling_a_pending_operation_ends_it_at_once(settings):
    host = Host.objects.create(name="h", transport="local")
    operation = services.start_operation(action="test.step", target=host, actor=None, host=host)
    services.request_cancel(operation, actor=None)
    operation.refresh_from_db()
    assert operation.status == "cancelled"
    assert "before it started" in operation.error


@pytest.mark.django_db(transaction=True)
def test_losing_the_database_mid_run_retries_the_run_instead_of_failing_it(settings):
    calls = []

    def handler(operation, context):
        calls.append(operation.attempts)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return {"ok": len(calls)}

    operation, outcome = _run(handler, settings)

    # Not an outcome: still running, to be tried again by whichever process.
    assert outcome.retry_in == services.DATABASE_RETRY_IN
    assert (operation.status, operation.error) == ("running", "")
    assert outcome.reclaim_from == operation.claimed_by
    # Another worker process (its claimer looks alive) takes it only with the hint.
    assert services.claim_operation(operation.pk) is None
    assert services.execute(operation.pk, reclaim_from=outcome.reclaim_from).retry_in is None
    operation.refresh_from_db()
    assert (operation.status, operation.result, calls) == ("succeeded", {"ok": 2}, [1, 2])


def test_a_run_under_way_is_not_claimed_twice(settings):
    seen = []

    def handler(operation, context):
        seen.append(services.claim_operation(operation.pk))
        return None

    _run(handler, settings)
    assert seen == [None]


@pytest.mark.parametrize("ending", ["result", "failure"])
def test_streamed_lines_are_written_before_the_operation_reads_as_finished(
    settings, monkeypatch, ending
):
    """A client that reads the stream once it sees the operation finished must get every
    line: lines streamed from the agent's reader thread since the last flush (a follow
    that ended at once) used to be written only after the status was."""
    from operations import streams

    seen = []  # (the operation's status in the database, how many lines) at each write

    def append(pk, items):
        seen.append((Operation.objects.get(pk=pk).status, len(items)))

    monkeypatch.setattr(streams, "append", append)

    def handler(operation, context):
        import threading

        reader = threading.Thread(
            target=lambda: [context.stream({"line": f"l{i}"}) for i in range(50)]
        )
        reader.start()
        reader.join()
        if ending == "failure":
            raise OperationFailed("the container went away")
        return {"lines": 50}

    operation, _ = _run(handler, settings)
    assert operation.status == ("succeeded" if ending == "result" else "failed")
    assert sum(count for _, count in seen) == 50
    assert all(status == "running" for status, count in seen if count), seen
