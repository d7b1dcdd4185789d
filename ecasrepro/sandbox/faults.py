"""Fault injection: a WSGI middleware driven by a :class:`FaultPlan` parsed from a spec string.

Grammar (comma-separated items, each ``name=value`` with an optional ``@selector``)::

    spec      := item ("," item)*
    item      := name "=" value ["@" selector]
    selector  := [METHOD] [path-prefix]          e.g. PUT/api/files, PATCH, /api/records
    drop-upload=P        each file upload (PUT /api/files/<bucket>/<key>; in v3 mode
                         PUT /api/records/<id>/draft/files/<key>/content) is cut with probability P
    drop-upload-first=N  the first N file uploads are cut off (deterministic)
    drop-at=F            where uploads are cut, as a fraction of the body (default: random 0.1-0.9)
    error-503=P          each matching request starts a burst of 503s with probability P
    error-503-first=N    the first N matching requests answer 503 (deterministic)
    error-503-burst=N    length of each random burst (default 1)
    retry-after=S        seconds in the Retry-After header of 503s (default 1)
    latency=D            delay every matching request by D (``50ms``, ``0.2s``; bare numbers are ms)

Selectors default to ``/api/``.  Decisions use one ``random.Random(seed)`` in request-arrival
order, so a sequential client sees the same faults on every run with the same seed.  Faults never
touch stored data: a 503 is answered before the application runs, and a dropped upload is
discarded before anything is recorded (see ``Storage.write_blob``).

One job: reproducible network failures, so that retries and resumption are tested against the same
faults on every run.

May import: ecasrepro.errors; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a
front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ecasrepro.errors import BadInput

DROP_ENV_KEY = "ecasrepro.faults.drop_fraction"

_UPLOAD_PATH = re.compile(r"^/api/files/[^/]+/.+")
_V3_CONTENT_PATH = re.compile(r"^/api/records/[^/]+/draft/files/.+/content$")  # v3 mode
_SELECTOR = re.compile(r"^(?P<method>[A-Za-z]+)?(?P<path>/\S*)?$")

MESSAGE_503 = (
    "The server is temporarily unable to service your request due to maintenance downtime or "
    "capacity problems.  Please try again later."
)


@dataclass(frozen=True)
class Selector:
    """Which requests a fault applies to: an HTTP method and/or a path prefix."""

    method: str | None = None
    path_prefix: str = "/api/"

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and path.startswith(self.path_prefix)


@dataclass(frozen=True)
class FaultPlan:
    """The parsed fault specification (immutable; the injector keeps the run-time counters)."""

    drop_upload: float = 0.0
    drop_upload_first: int = 0
    drop_at: float | None = None
    drop_selector: Selector = field(default_factory=lambda: Selector(path_prefix="/api/files/"))
    error_503: float = 0.0
    error_503_first: int = 0
    error_503_burst: int = 1
    error_selector: Selector = field(default_factory=Selector)
    retry_after: int = 1
    latency_s: float = 0.0
    latency_selector: Selector = field(default_factory=Selector)

    @property
    def active(self) -> bool:
        return bool(
            self.drop_upload
            or self.drop_upload_first
            or self.error_503
            or self.error_503_first
            or self.latency_s
        )


def _probability(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise BadInput(
            f"fault '{name}={raw}' needs a probability between 0 and 1, e.g. {name}=0.3."
        )
    return value


def _count(name: str, raw: str) -> int:
    if not raw.isdigit():
        raise BadInput(f"fault '{name}={raw}' needs a whole number, e.g. {name}=3.")
    return int(raw)


def _duration(name: str, raw: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)?", raw.strip())
    if not match:
        raise BadInput(f"fault '{name}={raw}' needs a duration such as 50ms or 0.2s.")
    number = float(match.group(1))
    return number if match.group(2) == "s" else number / 1000.0


def _selector(name: str, raw: str | None, default: Selector) -> Selector:
    if raw is None:
        return default
    match = _SELECTOR.match(raw)
    if not raw or not match:
        raise BadInput(
            f"fault selector '@{raw}' of '{name}' is not METHOD, /path-prefix or "
            "METHOD/path-prefix, e.g. @PUT/api/files."
        )
    method = match.group("method")
    return Selector(
        method=method.upper() if method else None,
        path_prefix=match.group("path") or default.path_prefix,
    )


def parse_faults(spec: str | None) -> FaultPlan:
    """Parse ``--faults``; raise :class:`BadInput` naming the bad item."""
    if not spec or not spec.strip():
        return FaultPlan()
    values: dict[str, Any] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if "=" not in item:
            raise BadInput(f"fault '{item}' has no value; write name=value, e.g. error-503=0.2.")
        name, _, rest = item.partition("=")
        name = name.strip().lower()
        raw, _, sel = rest.partition("@")
        raw = raw.strip()
        selector_raw = sel.strip() if "@" in rest else None
        if name == "drop-upload":
            values["drop_upload"] = _probability(name, raw)
            values["drop_selector"] = _selector(name, selector_raw, FaultPlan().drop_selector)
        elif name == "drop-upload-first":
            values["drop_upload_first"] = _count(name, raw)
            values["drop_selector"] = _selector(name, selector_raw, FaultPlan().drop_selector)
        elif name == "drop-at":
            values["drop_at"] = _probability(name, raw)
        elif name == "error-503":
            values["error_503"] = _probability(name, raw)
            values["error_selector"] = _selector(name, selector_raw, Selector())
        elif name == "error-503-first":
            values["error_503_first"] = _count(name, raw)
            values["error_selector"] = _selector(name, selector_raw, Selector())
        elif name == "error-503-burst":
            values["error_503_burst"] = max(1, _count(name, raw))
        elif name == "retry-after":
            values["retry_after"] = _count(name, raw)
        elif name == "latency":
            values["latency_s"] = _duration(name, raw)
            values["latency_selector"] = _selector(name, selector_raw, Selector())
        else:
            raise BadInput(
                f"unknown fault '{name}'; use drop-upload, drop-upload-first, drop-at, error-503, "
                "error-503-first, error-503-burst, retry-after or latency."
            )
    return FaultPlan(**values)


@dataclass(frozen=True)
class Decision:
    """What happens to one request."""

    latency_s: float = 0.0
    error_503: bool = False
    drop_fraction: float | None = None


class FaultInjector:
    """Run-time state of a plan: the seeded RNG and the counters, behind one lock."""

    def __init__(self, plan: FaultPlan, seed: int | None = None) -> None:
        self.plan = plan
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._uploads_seen = 0
        self._errors_seen = 0
        self._burst_left = 0

    def decide(self, method: str, path: str) -> Decision:
        plan = self.plan
        if not plan.active:
            return Decision()
        with self._lock:
            latency = plan.latency_s if plan.latency_selector.matches(method, path) else 0.0
            error = False
            if plan.error_selector.matches(method, path):
                self._errors_seen += 1
                if self._errors_seen <= plan.error_503_first:
                    error = True
                elif self._burst_left > 0:
                    self._burst_left -= 1
                    error = True
                elif plan.error_503 and self._rng.random() < plan.error_503:
                    self._burst_left = plan.error_503_burst - 1
                    error = True
            drop: float | None = None
            is_upload = method == "PUT" and _UPLOAD_PATH.match(path) is not None
            is_v3_upload = method == "PUT" and _V3_CONTENT_PATH.match(path) is not None
            selected = plan.drop_selector.matches(method, path) or (
                is_v3_upload and plan.drop_selector == FaultPlan().drop_selector
            )
            if not error and (is_upload or is_v3_upload) and selected:
                self._uploads_seen += 1
                if self._uploads_seen <= plan.drop_upload_first or (
                    plan.drop_upload and self._rng.random() < plan.drop_upload
                ):
                    drop = plan.drop_at if plan.drop_at is not None else self._rng.uniform(0.1, 0.9)
            return Decision(latency_s=latency, error_503=error, drop_fraction=drop)


class FaultMiddleware:
    """WSGI middleware applying the current injector; ``set`` swaps plans at run time."""

    def __init__(self, app: Any, injector: FaultInjector | None = None) -> None:
        self.app = app
        self.injector = injector or FaultInjector(FaultPlan())

    def set(self, injector: FaultInjector) -> None:
        self.injector = injector

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        decision = self.injector.decide(
            environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        )
        if decision.latency_s:
            time.sleep(decision.latency_s)
        if decision.error_503:
            body = json.dumps({"message": MESSAGE_503, "status": 503}, indent=2).encode()
            start_response(
                "503 SERVICE UNAVAILABLE",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("Retry-After", str(self.injector.plan.retry_after)),
                ],
            )
            return [body]
        if decision.drop_fraction is not None:
            environ[DROP_ENV_KEY] = decision.drop_fraction
        return self.app(environ, start_response)
