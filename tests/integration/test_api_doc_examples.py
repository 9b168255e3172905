"""The worked example in docs/api.md is replayed against the live API, request by
request, on the test fleet: each answer must have the documented status and the
documented fields (every key, at every level), so the example cannot drift from what
the API does. Ids in the document (service 1, rollout 2, operation 7, host 1) are
mapped to the ones this database hands out as the answers name them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from access.roles import Role
from deployments.choices import ACTIVE_ROLLOUT_STATUSES
from deployments.models import Rollout
from hosts.choices import HostStatus
from hosts.models import Host
from tests.fleet import wait_for
from tests.unit.roles_support import bearer, make_user, token_for

pytestmark = pytest.mark.django_db(transaction=True)

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
SECTION = "## Worked example"
REQUEST = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/api/v1/\S*)$")
STATUS = re.compile(r"^HTTP/1\.1 (\d{3})\b")
ID_IN_PATH = re.compile(r"/(services|rollouts|operations|hosts)/(\d+)/")


@dataclass
class Example:
    method: str
    path: str
    body: Any
    status: int
    answer: Any  # None when the document shows no body

    def __str__(self) -> str:
        return f"{self.method} {self.path} (expects {self.status})"


def examples() -> list[Example]:
    """Every fenced block of the worked example that starts with a request line."""
    text = DOC.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    blocks = re.findall(r"^```\n(.*?)^```$", text[start:end], flags=re.M | re.S)
    found = []
    for block in blocks:
        lines = block.splitlines()
        request = REQUEST.match(lines[0]) if lines else None
        if request is None:
            continue
        split = next(i for i, line in enumerate(lines) if STATUS.match(line))
        body_text = "\n".join(lines[1:split]).strip()
        status_match = STATUS.match(lines[split])
        assert status_match is not None
        rest = lines[split + 1 :]
        json_from = next((i for i, line in enumerate(rest) if line.startswith(("{", "["))), None)
        answer = json.loads("\n".join(rest[json_from:])) if json_from is not None else None
        found.append(
            Example(
                method=request.group(1),
                path=request.group(2),
                body=json.loads(body_text) if body_text else None,
                status=int(status_match.group(1)),
                answer=answer,
            )
        )
    return found


def _shape(value: Any) -> Any:
    """The keys of ``value`` at every level (a list by its first item), not the values."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


def _learn_ids(documented: Any, actual: Any, ids: dict[tuple[str, int], int]) -> None:
    """Pair the document's ids with the real ones where both answers name a resource."""
    if isinstance(documented, dict) and isinstance(actual, dict):
        url = documented.get("url")
        if isinstance(url, str) and "id" in documented and "id" in actual:
            match = ID_IN_PATH.search(url)
            if match:
                ids[(match.group(1), documented["id"])] = actual["id"]
        for key, resource in (("operation", "operations"), ("service", "services")):
            if isinstance(documented.get(key), int) and isinstance(actual.get(key), int):
                ids[(resource, documented[key])] = actual[key]
        for key in documented.keys() & actual.keys():
            _learn_ids(documented[key], actual[key], ids)
    elif isinstance(documented, list) and isinstance(actual, list):
        for doc_item, real_item in zip(documented, actual, strict=False):
            _learn_ids(doc_item, real_item, ids)


def _real_path(path: str, ids: dict[tuple[str, int], int]) -> str:
    def swap(match: re.Match) -> str:
        key = (match.group(1), int(match.group(2)))
        assert key in ids, f"{path}: no answer so far named {match.group(1)} {match.group(2)}"
        return f"/{match.group(1)}/{ids[key]}/"

    return ID_IN_PATH.sub(swap, path)


def _rollouts_settled() -> None:
    wait_for(
        lambda: not Rollout.objects.filter(status__in=ACTIVE_ROLLOUT_STATUSES).exists(),
        timeout=120,
        what="the rollouts started so far to end",
    )


def test_the_worked_example_in_docs_api_md_runs_as_documented(register, fleet):
    steps = examples()
    assert len(steps) >= 8, "the worked example lost its requests"
    h1 = fleet["h1"]
    host = register(h1)
    wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).exists(),
        what="h1 online",
    )
    operator = make_user("ops", Role.OPERATOR)
    client = bearer(token_for(operator, Role.OPERATOR))
    ids: dict[tuple[str, int], int] = {("hosts", 1): host.pk}
    try:
        for step in steps:
            if step.status != 409:
                # The document's answers come after the rollout before them ended,
                # except the conflict it shows on purpose.
                _rollouts_settled()
            body = step.body
            if step.path == "/api/v1/services/" and step.method == "POST":
                body = {**body, "hosts": [ids[("hosts", pk)] for pk in body.get("hosts", [])]}
            response = getattr(client, step.method.lower())(
                _real_path(step.path, ids),
                json.dumps(body) if body is not None else None,
                content_type="application/json",
            )
            assert response.status_code == step.status, (str(step), response.content[:600])
            if step.answer is None:
                continue
            actual = response.json()
            assert _shape(actual) == _shape(step.answer), (
                f"{step}: the answer's fields differ from the document's",
                sorted(actual) if isinstance(actual, dict) else actual,
            )
            _learn_ids(step.answer, actual, ids)
        _rollouts_settled()
    finally:
        for container in h1.docker(
            "ps", "-aq", "--filter", "label=berth.service=web"
        ).stdout.split():
            h1.docker("rm", "-f", container, check=False)
