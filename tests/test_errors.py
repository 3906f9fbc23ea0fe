"""One error hierarchy, three shapes: API envelope, registry errors, HTML page."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.support.http import ADMIN


async def test_api_error_envelope(client: TestClient[object, object]) -> None:
    resp = await client.get("/api/v1/no-such-thing")
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert await resp.json() == {
        "error": {"code": "NOT_FOUND", "message": "Not Found", "detail": None}
    }


async def test_api_limit_validation_names_the_parameter(client: TestClient[object, object]) -> None:
    from c66d.errors import Invalid
    from c66d.web.api import page_params

    class Fake:
        query = {"limit": "many"}

    try:
        page_params(Fake())  # type: ignore[arg-type]
    except Invalid as exc:
        assert exc.detail == {"param": "limit"}
        assert "limit must be a number" in exc.message
    else:
        raise AssertionError("page_params accepted a bad limit")


async def test_registry_error_shape(client: TestClient[object, object]) -> None:
    resp = await client.get("/v2/no/such/thing")
    assert resp.status == 404
    body = await resp.json()
    assert set(body) == {"errors"}
    assert set(body["errors"][0]) == {"code", "message", "detail"}


async def test_ui_error_page(client: TestClient[object, object]) -> None:
    resp = await client.get("/no-such-page")
    assert resp.status == 404
    assert resp.content_type == "text/html"
    text = await resp.text()
    assert "404 · NOT_FOUND" in text and "Back to the dashboard" in text


async def test_method_not_allowed_keeps_allow_header(client: TestClient[object, object]) -> None:
    resp = await client.delete("/api/v1/status")
    assert resp.status == 405
    assert "GET" in resp.headers["Allow"]
    assert (await resp.json())["error"]["code"] == "UNSUPPORTED"


async def test_a_deployment_id_that_is_no_number_says_so(
        client: TestClient[object, object]) -> None:
    resp = await client.get("/api/v1/deployments/latest", headers=ADMIN)
    assert resp.status == 404
    error = (await resp.json())["error"]
    assert error["code"] == "NOT_FOUND" and "ids are numbers" in error["message"]
