"""The one HTTP client for B2SHARE: timeouts, retries with back-off, Bearer auth, error mapping.

Retry policy (urllib3 ``Retry`` mounted on the session; numbers from :class:`RetryPolicy`):

* connection failures before the request left (refused, DNS, connect timeout): every method,
  because the server cannot have acted on a request it never received;
* 429 and 5xx answers, and connections dropped or timing out after the request was sent:
  GET, HEAD, OPTIONS, DELETE and PUT. PUT of a file is safe to repeat (same key -> the server keeps
  the last version) and our upload body (:class:`FileBody`) reopens the file on every iteration,
  so urllib3 can replay it;
* POST (create a draft) and PATCH (submit): only on 429 and 503, which say the server did not
  process the request. A dropped connection or a 500/502/504 after a POST may have created a
  draft whose id we never saw, so it is not blindly repeated: the publisher reconciles instead
  (it looks for the orphan draft before creating another one);
* ``Retry-After`` is honoured and each wait announced; a server asking for more than
  ``retry_after_max`` (120 s) ends the run with a sentence (exit 4); otherwise exponential
  back-off.
* Many workers, one server: a process-wide *pacer* (:func:`set_pacer`; ``archive --publish``
  installs one shared by every worker, on Dask through the scheduler) is asked before each
  request (a shared rate) and told of every 429/503 wait, so that one worker's back-off pauses
  them all instead of each finding the overload for itself.

:func:`raise_for_response` is the only place where HTTP error answers become exceptions.

One job: one HTTP session and one error mapping for every B2SHARE request, so that timeouts,
retries, authentication and error messages are the same for every dialect.

May import: ecasrepro.config, ecasrepro.errors, ecasrepro.urls, ecasrepro.version; never
another module of this package, ecasrepro.bundle, ecasrepro.api or a front end (ecasrepro.cli,
ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ecasrepro.config import PublishConfig, RetryPolicy, Secret
from ecasrepro.errors import ServerRefused, ServerUnreachable
from ecasrepro.urls import shown_url
from ecasrepro.version import __version__

log = logging.getLogger("ecasrepro.b2share")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NOT_PROCESSED_STATUSES = frozenset({429, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})
UPLOAD_CHUNK = 1024 * 1024  # measured: cache-friendly for md5 while the socket sends


def redact_url(url: str) -> str:
    """The URL as it may appear in an error or a log line (the rule is in ``ecasrepro.urls``)."""
    return shown_url(url)


class Pacer(Protocol):
    """Paces the requests of many workers to one server (see ``ecasrepro.executors``)."""

    def wait(self) -> None:
        """Before a request: block while a back-off holds, then take a slot of the rate."""

    def hold(self, seconds: float) -> None:
        """A 429/503 asked for ``seconds``: every worker waits that long before its next one."""


_pacer: Pacer | None = None


def set_pacer(pacer: Pacer | None) -> Pacer | None:
    """Install the process-wide pacer (None: none); returns the one it replaces."""
    global _pacer
    previous, _pacer = _pacer, pacer
    return previous


def retry_after_seconds(value: str, now: float | None = None) -> float | None:
    """A ``Retry-After`` value (delta-seconds or an HTTP date) in seconds; None if unreadable."""
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class B2ShareRetry(Retry):
    """urllib3 Retry that also repeats POST/PATCH, but only on answers meaning "not processed".

    It also honours ``Retry-After`` itself (urllib3 caps it only from 2.7, with ``retry_after_max``,
    and silently): each wait is announced through ``notify``, and a server asking for more than
    ``wait_cap`` seconds ends the run with a sentence instead of a silent wait of minutes.
    """

    notify: Callable[[str], None] = staticmethod(lambda message: log.warning("%s", message))
    wait_cap: float = 120.0

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() in ("POST", "PATCH"):
            return bool(self.total) and status_code in NOT_PROCESSED_STATUSES
        return super().is_retry(method, status_code, has_retry_after)

    def new(self, **kw: Any) -> B2ShareRetry:
        retry = super().new(**kw)
        retry.notify, retry.wait_cap = self.notify, self.wait_cap
        return retry

    def sleep(self, response: Any = None) -> None:
        if (_pacer is not None and response is not None
                and response.status in NOT_PROCESSED_STATUSES
                and response.headers.get("Retry-After") is None):
            _pacer.hold(self.get_backoff_time())  # an overload without a date: back off together
        super().sleep(response)

    def sleep_for_retry(self, response: Any) -> bool:
        raw = response.headers.get("Retry-After")
        seconds = retry_after_seconds(raw) if raw is not None else None
        if seconds is None:
            return False  # absent or unreadable: exponential back-off instead
        if seconds > self.wait_cap:
            raise ServerUnreachable(
                f"the server answered {response.status} and asked to wait {seconds:.0f} s before "
                f"retrying, more than the {self.wait_cap:g} s this tool waits "
                "(ECASREPRO_HTTP_RETRY_AFTER_MAX); try again later: the same command resumes."
            )
        if seconds > 0:
            if _pacer is not None:
                _pacer.hold(seconds)
            at = dt.datetime.now().astimezone() + dt.timedelta(seconds=seconds)
            self.notify(f"server asked to wait {seconds:g} s; retrying at {at:%H:%M:%S}")
            time.sleep(seconds)
        return True


def build_retry(policy: RetryPolicy,
                notify: Callable[[str], None] | None = None) -> B2ShareRetry:
    retry = B2ShareRetry(
        total=policy.retries,
        connect=policy.retries,
        read=policy.retries,
        status=policy.retries,
        other=0,
        redirect=3,
        allowed_methods=IDEMPOTENT_METHODS,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=policy.backoff_factor,
        backoff_max=policy.backoff_max,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    retry.wait_cap = policy.retry_after_max
    if notify is not None:
        retry.notify = notify
    return retry


class _BearerAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer`` only for requests to the configured server's host."""

    def __init__(self, token: Secret, server: str) -> None:
        self._token = token
        self._netloc = urlsplit(server).netloc

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if urlsplit(request.url or "").netloc == self._netloc:
            request.headers["Authorization"] = "Bearer " + self._token.reveal()
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(***)"


class B2ShareSession(requests.Session):
    """A ``requests.Session`` bound to one server: retries, timeouts, token, transport errors."""

    def __init__(self, config: PublishConfig) -> None:
        super().__init__()
        self.config = config
        self.server = config.server
        self.policy = config.retry
        #: told of every wait a server's Retry-After imposes (the publisher's echo, else the log)
        self.on_wait: Callable[[str], None] = lambda message: log.warning("%s", message)
        retry = build_retry(config.retry, notify=lambda message: self.on_wait(message))
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=4)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.headers["User-Agent"] = f"ecasrepro/{__version__} (+B2SHARE v2 client)"
        self.headers["Accept"] = "application/json"
        self.trust_env = True
        if config.token:
            self.auth = _BearerAuth(config.token, config.server)

    def __repr__(self) -> str:
        return f"B2ShareSession(server={self.server!r})"

    def api(self, path: str) -> str:
        """Absolute URL of an API path such as ``records/`` (keeps the trailing-slash rules)."""
        return self.server + "/api/" + path.lstrip("/")

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.policy.connect_timeout, self.policy.read_timeout)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        """Every request: default timeout, and transport failures become ServerUnreachable."""
        kwargs.setdefault("timeout", self.timeout)
        shown = redact_url(url.decode() if isinstance(url, bytes) else url)
        verb = method.decode() if isinstance(method, bytes) else method
        if _pacer is not None:
            _pacer.wait()
        try:
            response = super().request(verb, url, *args, **kwargs)
        except requests.exceptions.RequestException as exc:
            raise ServerUnreachable(
                f"{self.server} could not be reached for {verb.upper()} {shown} after "
                f"{self.policy.retries} retries ({_transport_reason(exc)}); check the URL and "
                "your network, then run the same command again to resume."
            ) from None
        log.debug("%s %s -> %s", verb.upper(), shown, response.status_code)
        return response


def _transport_reason(exc: BaseException) -> str:
    """A short cause without URLs (which requests repeats, possibly with a query string)."""
    text = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known",
                   "RemoteDisconnected", "Connection reset", "Connection aborted",
                   "Max retries exceeded", "Temporary failure in name resolution"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


def _error_body(response: requests.Response) -> tuple[str | None, list[dict[str, str]], dict]:
    try:
        body = response.json()
    except ValueError:
        return None, [], {}
    if not isinstance(body, dict):
        return None, [], {}
    message = body.get("message") or body.get("Error")
    errors = body.get("errors") or []
    field_errors = [
        {"field": str(e.get("field", "")), "message": str(e.get("message", ""))}
        for e in errors
        if isinstance(e, dict)
    ]
    return (str(message).strip() if message else None), field_errors, body


def raise_for_response(response: requests.Response, what: str | None = None) -> requests.Response:
    """Return a 2xx/3xx response; turn anything else into ServerRefused or ServerUnreachable.

    ``what`` names the object the request was about (e.g. ``"draft 1a2b..."``) for 404/410 texts.
    The sentence carries the server's own message and field errors, never the token.
    """
    status = response.status_code
    if status < 400:
        return response
    request = response.request
    method = (request.method or "?") if request is not None else "?"
    url = redact_url(response.url or (request.url if request is not None else "") or "")
    server = urlsplit(url).netloc
    message, field_errors, body = _error_body(response)
    details = "; ".join(
        f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in field_errors
    )
    said = (message or response.reason or f"HTTP {status}") + (f" ({details})" if details else "")
    said = said.replace("  ", " ")

    if status >= 500:
        raise ServerUnreachable(
            f"{server} kept failing with HTTP {status} for {method} {url} ({said}); the bundle "
            "and its receipt are kept, run the same command again later to resume."
        )
    if status == 401:
        sentence = (
            f"{server} did not accept the token (HTTP 401 for {method} {url}); check that your "
            "B2SHARE token is valid for this server (tokens are per instance) and not revoked."
        )
    elif status == 403:
        sentence = (
            f"{server} refused {method} {url} (HTTP 403: {said}); your account lacks permission "
            "(restricted community, or not the owner)."
        )
    elif status in (404, 410) and what:
        gone = "was deleted" if status == 410 else "was not found"
        sentence = f"{what} {gone} on {server} (HTTP {status}: {said})."
    elif status == 415:
        sentence = f"{server} refused {method} {url} with HTTP 415 ({said}); this is a client bug."
    else:
        sentence = f"{server} refused {method} {url} (HTTP {status}: {said})."
        extra = {k: v for k, v in body.items() if k in ("goto_draft", "use_record")}
        if extra:
            sentence = sentence[:-1] + "; " + ", ".join(f"{k}={v}" for k, v in extra.items()) + "."
    raise ServerRefused(message=sentence, status=status, field_errors=field_errors)


ProgressCallback = Callable[[int], Any]


class ChunkThread:
    """Applies ``consume`` to every chunk, in order, on a helper thread, through a short queue.

    hashlib and file writes release the GIL, so consuming chunk N overlaps with reading or
    sending chunk N+1; the queue holds at most ``depth`` chunks, keeping memory constant. An
    error of ``consume`` (a full disk) stops the consuming, keeps draining the queue so the
    producer never blocks, and is raised by :meth:`close`.
    """

    def __init__(self, consume: Callable[[bytes], Any], name: str, depth: int = 2) -> None:
        self._consume = consume
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self.error is None:
                try:
                    self._consume(chunk)
                except BaseException as exc:  # surfaced by close()
                    self.error = exc

    def update(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error


class BackgroundMd5(ChunkThread):
    """md5 (or another hashlib digest: downloads hash sha256 on a second one) on a ChunkThread:
    the upload costs max(send, md5) instead of their sum."""

    def __init__(self, depth: int = 2, algorithm: str = "md5") -> None:
        self._digest = hashlib.new(algorithm, usedforsecurity=False)
        super().__init__(self._digest.update, f"ecasrepro-{algorithm}", depth)

    def hexdigest(self) -> str:
        self.close()
        return self._digest.hexdigest()


class _NoDigest:
    """Stands in for a digest when the md5 is already known (recorded when the bag was written)."""

    def __init__(self, known: str) -> None:
        self._known = known

    def update(self, chunk: bytes) -> None:
        pass

    def hexdigest(self) -> str:
        return self._known


@dataclass
class FileBody:
    """A re-iterable, constant-memory upload body that computes md5 while it is sent.

    requests sends ``Content-Length`` from ``len()`` and iterates the object; every iteration
    reopens the file and restarts the digest, so a retry (by urllib3 or by us) sends the whole
    file again and :attr:`md5` always describes the last complete send. Each byte is read from
    disk once per send; hashing runs on a helper thread for files larger than one chunk.
    """

    path: Path
    size: int
    chunk_size: int = UPLOAD_CHUNK
    progress: ProgressCallback | None = None
    on_restart: Callable[[], Any] | None = None
    known_md5: str | None = None  # from the bag's manifest-md5.txt: then nothing is hashed here
    # A fresh secrets.UploadGuard per send: each chunk is checked before the previous is sent.
    guard: Callable[[], Any] | None = None

    def __post_init__(self) -> None:
        self._md5: str | None = None
        self.attempts = 0

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        self.attempts += 1
        if self.attempts > 1 and self.on_restart:
            self.on_restart()
        self._md5 = None
        digest: Any
        if self.known_md5:
            digest = _NoDigest(self.known_md5)
        elif self.size > self.chunk_size:
            digest = BackgroundMd5()
        else:
            digest = hashlib.md5(usedforsecurity=False)
        remaining = self.size
        try:
            with open(self.path, "rb", buffering=0) as handle:
                if hasattr(os, "posix_fadvise"):
                    os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)

                def read() -> Iterator[bytes]:
                    nonlocal remaining
                    while remaining > 0:
                        chunk = handle.read(min(self.chunk_size, remaining))
                        if not chunk:
                            return
                        digest.update(chunk)
                        remaining -= len(chunk)
                        yield chunk

                chunks = read() if self.guard is None else _guarded(read(), self.guard())
                for chunk in chunks:
                    if self.progress:
                        self.progress(len(chunk))
                    yield chunk
        finally:
            hexdigest = digest.hexdigest()  # also stops the helper thread on early exit
        if remaining:
            raise OSError(f"{self.path} shrank while it was being uploaded; re-run publish.")
        self._md5 = hexdigest

    @property
    def md5(self) -> str | None:
        """Hex md5 of the last complete send (None while incomplete)."""
        return self._md5


def _guarded(chunks: Iterator[bytes], guard: Any) -> Iterator[bytes]:
    """*chunks*, each passed on only once *guard* has checked it and the chunk after it.

    ``guard.feed(chunk)`` then ``guard.check()`` (which raises on a finding) run on a helper
    thread, one chunk ahead of the send: the scan of chunk N+2 overlaps the socket send of
    chunk N (memmem and the socket both release the GIL). So no chunk leaves before every
    secret starting in it was decided; memory holds three chunks.
    """
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    def step(chunk: bytes) -> None:
        guard.feed(chunk)
        guard.check()

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ecasrepro-guard")
    pending: deque[tuple[bytes, Future[None]]] = deque()
    try:
        for chunk in chunks:
            pending.append((chunk, pool.submit(step, chunk)))
            if len(pending) == 3:
                pending[1][1].result()  # the oldest chunk and the next are checked
                yield pending.popleft()[0]
        for _chunk, future in pending:
            future.result()
        while pending:
            yield pending.popleft()[0]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def open_session(config: PublishConfig) -> B2ShareSession:
    return B2ShareSession(config)
