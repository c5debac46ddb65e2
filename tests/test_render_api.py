"""The Render API client against a loopback server that checks every request."""

from __future__ import annotations

import pytest

from mosaic_diag.config import Config
from mosaic_diag.errors import ConfigError, UnreachableError
from mosaic_diag.platform.render_api import RenderApi, RenderTarget, render_target_from
from tests.test_manifest_support import RenderStandIn


@pytest.fixture
def render():
    server = RenderStandIn()
    yield server
    server.stop()


def test_deploy_commit_autodeploy_and_rollback_requests(render):
    api = RenderApi(RenderTarget(render.base_url, render.service_id, render.api_key))
    assert api.set_autodeploy(False)["autoDeploy"] == "no"
    assert api.deploy_commit("a" * 40)["id"] == "dep-rollback1"
    assert api.rollback_to_deploy("dep-old")["id"] == "dep-rollback2"
    sid = render.service_id
    assert [(r["method"], r["path"], r["body"]) for r in render.requests] == [
        ("PATCH", f"/v1/services/{sid}", {"autoDeploy": "no"}),
        ("POST", f"/v1/services/{sid}/deploys", {"commitId": "a" * 40, "clearCache": "do_not_clear"}),
        ("POST", f"/v1/services/{sid}/rollback", {"deployId": "dep-old"}),
    ]
    assert all(r["auth"] == f"Bearer {render.api_key}" for r in render.requests)
    assert all(r["content_type"] == "application/json" for r in render.requests)


def test_bad_key_is_a_config_error_without_the_key(render):
    api = RenderApi(RenderTarget(render.base_url, render.service_id, "rnd_wrongkey0123456789abcdef"))
    with pytest.raises(ConfigError) as info:
        api.deploy_commit("b" * 40)
    assert "answered 401: unauthorized" in str(info.value) and "wrongkey" not in str(info.value)
    assert "wrongkey" not in repr(api.target)


def test_unreachable_base_url(render):
    base = render.base_url
    render.stop()
    with pytest.raises(UnreachableError, match="Render API .* unreachable"):
        RenderApi(RenderTarget(base, "srv-x", "k"), timeout=2).set_autodeploy(False)


def test_target_from_config_and_env():
    cfg = Config(root=None, values={"rollback": {"render_api_url": "http://127.0.0.1:9", "render_service_id": "srv-c"}})
    target, missing = render_target_from(cfg, {"RENDER_API_KEY": "k"})
    assert missing == [] and target.url("/deploys") == "http://127.0.0.1:9/v1/services/srv-c/deploys"
    target, missing = render_target_from(Config(root=None), {"RENDER_SERVICE_ID": "srv-e"})
    assert target is None and missing == ["RENDER_API_KEY"]
    target, _ = render_target_from(Config(root=None), {"RENDER_SERVICE_ID": "srv-e", "RENDER_API_KEY": "k"})
    assert target.base_url == "https://api.render.com"
