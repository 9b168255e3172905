"""The agent's reading of ~/.berth/policy.json: version 2 carries every toggle and the
granted spec digests, version 1 (binds only) still reads with every toggle denied, and
anything malformed is not trusted at all. The agent and the server digest a spec the
same way, or an admin's override would never match."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policies.models import ContainerPolicy
from policies.services import DEFAULTS, TOGGLES, UNCONFINED_OPTS, spec_digest

AGENT = Path(__file__).resolve().parents[2] / "agent"


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    loaded_before = set(sys.modules)
    monkeypatch.syspath_prepend(str(AGENT))
    from berth_agent import policy as module  # the agent's own package, from its source tree

    try:
        yield module
    finally:
        for name in set(sys.modules) - loaded_before:  # leave no agent module behind
            del sys.modules[name]


def _raw(**doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_the_agent_and_the_server_know_the_same_toggles_and_defaults(policy):
    assert set(policy.TOGGLES) == set(TOGGLES)
    assert policy.DEFAULTS == DEFAULTS
    assert {toggle: getattr(ContainerPolicy(), toggle) for toggle in TOGGLES} == DEFAULTS
    assert policy.UNCONFINED_OPTS == UNCONFINED_OPTS


def test_version_2_carries_the_toggles_and_the_grants(policy):
    digest = "a" * 64
    parsed = policy._parse(
        _raw(
            version=2, allowed_bind_prefixes=["/srv"], allow_privileged=True, granted_specs=[digest]
        )
    )
    assert parsed is not None
    assert parsed.prefixes == ["/srv"]
    assert parsed.allows["allow_privileged"] is True
    assert parsed.allows["allow_sysctls"] is False
    assert parsed.allows["allow_root_user"] is True
    assert parsed.granted == frozenset({digest})


def test_version_1_reads_as_binds_only(policy):
    parsed = policy._parse(_raw(version=1, allowed_bind_prefixes=["/srv"]))
    assert parsed is not None and parsed.prefixes == ["/srv"]
    assert parsed.allows == policy.DEFAULTS and parsed.granted == frozenset()


@pytest.mark.parametrize(
    "doc",
    [
        {"version": 3, "allowed_bind_prefixes": []},
        {"version": 2, "allowed_bind_prefixes": [], "allow_privileged": "true"},
        {"version": 2, "allowed_bind_prefixes": [], "allow_privileged": 1},
        {"version": 2, "allowed_bind_prefixes": [], "granted_specs": ["not-a-digest"]},
        {"version": 2, "allowed_bind_prefixes": [], "granted_specs": "a" * 64},
        {"version": 2, "allowed_bind_prefixes": [], "allow_everything": True},
        {"version": 1, "allowed_bind_prefixes": [], "allow_privileged": True},
        {"version": 2},
    ],
)
def test_a_malformed_file_is_not_trusted(policy, doc):
    assert policy._parse(_raw(**doc)) is None


def test_the_agent_digests_a_spec_as_the_server_does(policy):
    spec = {
        "image": "r:5000/web:v1",
        "env": {"DB_PASSWORD": "s3cret"},
        "privileged": True,
        "limits": {"cpus": 0.5, "memory": 67108864},
        "labels": {"é": "ü"},
    }
    assert policy.spec_digest(spec) == spec_digest(spec)
    assert policy.spec_digest(spec) == policy.spec_digest({**spec, "env": {"OTHER": "x"}})
    assert policy.spec_digest(spec) != policy.spec_digest({**spec, "privileged": False})


@pytest.mark.parametrize(
    ("user", "root"),
    [("", True), ("0", True), ("root", True), ("0:0", True), ("root:x", True), ("00", True),
     ("app", True), ("1000", False), ("1000:0", False), ("65534:65534", False)],
)  # fmt: skip
def test_which_users_count_as_root(policy, user, root):
    assert policy.may_be_root(user) is root


def test_the_agent_and_the_server_take_the_same_values(policy):
    from berth_agent.ops import containers as agent_containers

    from containers import validators

    for name in ("CAPABILITY_RE", "NETWORK_NAME_RE", "SECURITY_OPT_RE", "SYSCTL_RE", "USER_RE"):
        assert getattr(agent_containers, f"_{name}").pattern == getattr(validators, name).pattern
