"""The access log writes what happened to each request, with capability tokens masked."""

import logging

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway.links import MASK, new_token
from gateway.web.access_log import MaskedAccessLogger, request_line


def test_the_request_line_masks_link_and_embed_tokens():
    token = new_token()
    masked = token[:4] + MASK * 28
    assert request_line("GET", f"/c/{token}", (1, 1)) == f"GET /c/{masked} HTTP/1.1"
    assert request_line("POST", f"/embed/{token}/viewer", (1, 0)) == f"POST /embed/{masked}/viewer HTTP/1.0"
    assert request_line("GET", "/healthz", (1, 1)) == "GET /healthz HTTP/1.1"


def test_each_request_is_one_line_without_its_token(caplog):
    token = new_token()
    logger = logging.getLogger("test.access")
    access = MaskedAccessLogger(logger, "")
    request = make_mocked_request("POST", f"/c/{token}/offer", app=web.Application())
    with caplog.at_level(logging.INFO, logger="test.access"):
        assert access.enabled
        access.log(request, web.Response(status=429, text="no"), 0.0123)
    (line,) = [r.getMessage() for r in caplog.records]
    assert token not in line
    assert f'"POST /c/{token[:4]}{MASK * 28}/offer HTTP/1.1" 429 0 0.012300s' in line
