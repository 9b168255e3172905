"""The server and the agent each keep the hard deny list of bind sources (the agent
imports nothing from the server): they must name the same paths, or one of them
would let through what the other refuses."""

from __future__ import annotations

import sys
from pathlib import Path

from policies.paths import DENIED_PATHS

AGENT = Path(__file__).resolve().parents[2] / "agent"


def test_the_server_and_the_agent_deny_the_same_bind_sources(monkeypatch):
    loaded_before = set(sys.modules)
    monkeypatch.syspath_prepend(str(AGENT))
    from berth_agent import policy  # the agent's own package, from its source tree

    try:
        assert set(policy.DENIED_PATHS) == set(DENIED_PATHS)
    finally:
        for name in set(sys.modules) - loaded_before:  # leave no agent module behind
            del sys.modules[name]
