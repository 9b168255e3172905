"""Every container action has a handler, and the read-only ones are not retried."""

from operations.registry import get_action


def test_every_container_action_is_registered():
    for name in ["start", "stop", "restart", "kill", "remove", "run", "logs", "stats"]:
        assert get_action(f"container.{name}") is not None, name


def test_logs_and_stats_are_not_retried_on_transport_failure():
    assert get_action("container.logs").retry_transport is False
    assert get_action("container.stats").retry_transport is False


def test_a_log_follow_fits_in_its_time_limit(settings):
    assert get_action("container.logs").time_limit > settings.BERTH_LOG_FOLLOW_MAX
