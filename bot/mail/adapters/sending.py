"""What adapters share about a send that failed: did the request reach the server?"""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import requests

# The connection broke after the request went out: the server may have acted on it.
_MID_REQUEST = (
    requests.exceptions.ReadTimeout,
    requests.exceptions.ChunkedEncodingError,
    http.client.RemoteDisconnected,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)
# ... or never got that far (refused, no route, the handshake timed out): surely not sent.
_BEFORE_REQUEST = (requests.exceptions.ConnectTimeout, ConnectionRefusedError)


def broke_mid_request(exc: BaseException) -> bool:
    """True if ``exc`` (or what it wraps) says the connection broke while a request was in
    flight, so the server may have sent the email: sending again could send it twice."""
    seen = list(chain(exc))
    if any(isinstance(e, _BEFORE_REQUEST) for e in seen):
        return False
    return any(isinstance(e, _MID_REQUEST) for e in seen) or any(
        isinstance(arg, _MID_REQUEST) for e in seen for arg in _nested_args(e)
    )


def chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then each cause or context behind it, each once."""
    ids: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in ids:
        ids.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _nested_args(exc: BaseException) -> Iterator[BaseException]:
    """requests and urllib3 keep the cause in args (ProtocolError('...', RemoteDisconnected()))
    rather than in __cause__; look two levels down."""
    for arg in exc.args:
        if isinstance(arg, BaseException):
            yield arg
            yield from (a for a in arg.args if isinstance(a, BaseException))
