"""The access log, with capability tokens masked.

A caller's link (``/c/<token>``) and an embed (``/embed/<token>``) carry their credential in the
path; aiohttp's own access logger would write it in full on every request the page makes. This
one writes the same facts (real client address, request line, status, size, duration) with the
token cut to its first four characters (:func:`gateway.links.mask_tokens`), and no query string
for those paths.
"""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, Request, StreamResponse

from ..links import mask_tokens
from .security import client_address


def request_line(method: str, path_qs: str, version: tuple[int, int]) -> str:
    """The request line as logged: the path's tokens masked."""
    return f"{method} {mask_tokens(path_qs)} HTTP/{version[0]}.{version[1]}"


class MaskedAccessLogger(AbstractAccessLogger):
    """``<client> "<request line>" <status> <bytes> <seconds>s``, tokens masked."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        address = client_address(request) if isinstance(request, Request) else (request.remote or "-")
        self.logger.info(
            '%s "%s" %d %d %.6fs',
            address, request_line(request.method, request.path_qs, (request.version.major, request.version.minor)),
            response.status, response.body_length, time,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
