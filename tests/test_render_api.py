"""The Render API client against the loopback Render stand-in (examples/render_standin.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mosaic_diag.config import Config
from mosaic_diag.errors import ConfigError, UnreachableError
from mosaic_diag.platform.render_api import RenderApi, RenderTarget, render_target_from
from tests.test_manifest_support import render_standin


@pytest.fixture
def render():
    server = render_standin()
    yield server
    server.stop()


def api_for(render, **kw) -> RenderApi:
    return RenderApi(RenderTarget(render.base_url, render.service_id, render.api_key), **kw)


def test_deploy_commit_autodeploy_and_rollback_requests(render):
    old = render.add_deploy("c" * 40)
    api = api_for(render)
    assert api.autodeploy_enabled() is True
    assert api.set_autodeploy(False)["autoDeploy"] == "no" and render.autodeploy is False
    built = api.deploy_commit("a" * 40)
    assert built["commit"]["id"] == "a" * 40 and built["status"] == "created" and built["trigger"] == "api"
    rolled = api.rollback_to_deploy(old["id"])
    assert rolled["trigger"] == "rollback" and rolled["commit"]["id"] == "c" * 40
    sid = render.service_id
    assert [(r["method"], r["path"], r["body"]) for r in render.requests] == [
        ("GET", f"/v1/services/{sid}", None),
        ("PATCH", f"/v1/services/{sid}", {"autoDeploy": "no"}),
        ("POST", f"/v1/services/{sid}/deploys", {"commitId": "a" * 40, "clearCache": "do_not_clear"}),
        ("POST", f"/v1/services/{sid}/rollback", {"deployId": old["id"]}),
    ]
    assert all(r["auth"] == f"Bearer {render.api_key}" for r in render.requests)
    assert all(r["content_type"] == "application/json" for r in render.requests if r["body"] is not None)


def test_deploy_list_is_read_page_by_page(render):
    shas = [f"{n:040x}" for n in range(1, 46)]
    for sha in shas:
        render.add_deploy(sha, "live" if sha != shas[3] else "build_failed")
    api = api_for(render)
    listed = list(api.iter_deploys(page_size=20))
    assert [d["commit"]["id"] for d in listed] == shas[::-1]  # newest first, all 45 over three pages
    pages = [r["query"] for r in render.requests]
    assert pages[0] == {"limit": ["20"]} and pages[1]["cursor"] == [listed[19]["id"]] and len(pages) == 3
    render.clear()
    found = api.find_deploy_of(shas[1])  # on the third page; earlier than the live one: deactivated
    assert found["status"] == "deactivated" and found["commit"]["id"] == shas[1] and len(render.requests) == 3
    assert api.find_deploy_of(shas[3]) is None  # only a failed build of it: not a deploy to go back to
    assert api.find_deploy_of("f" * 40) is None
    assert api.get_deploy(found["id"])["commit"]["id"] == shas[1]
    with pytest.raises(ConfigError, match="answered 404: deploy not found"):
        api.get_deploy("dep-nope")
    with pytest.raises(ConfigError, match="not a Render deploy id"):
        api.get_deploy("../../services")


def test_4xx_is_a_config_error_5xx_unreachable(render):
    api = api_for(render)
    render.fail("GET", "/deploys", 503)
    with pytest.raises(UnreachableError, match="answered 503: internal error"):
        list(api.iter_deploys())
    assert list(api.iter_deploys()) == []  # the switch was for one request
    render.fail("PATCH", "", 422, message="autoDeploy is locked")
    with pytest.raises(ConfigError, match="answered 422: autoDeploy is locked"):
        api.set_autodeploy(False)
    assert render.autodeploy is True


def test_a_connection_closed_with_no_answer_is_asked_again_when_asking_twice_is_harmless(render):
    """A server (or a proxy on the way) that closes the connection before any answer: a read, or setting
    autodeploy to a value, is asked again on a new connection; a deploy or a rollback never is (the first may have
    started one); one closed on every attempt is unreachable, with httpx's own words."""
    sid = render.service_id
    paused: list[float] = []
    api = api_for(render, sleep=paused.append)
    render.hang_up("GET", "")
    assert api.autodeploy_enabled() is True
    render.hang_up("PATCH", "")
    assert api.set_autodeploy(False)["autoDeploy"] == "no" and render.autodeploy is False
    render.hang_up("GET", "/deploys", times=2)
    assert list(api.iter_deploys()) == []
    assert render.calls() == [("GET", f"/v1/services/{sid}")] * 2 + [("PATCH", f"/v1/services/{sid}")] * 2 + \
        [("GET", f"/v1/services/{sid}/deploys")] * 3
    render.clear()
    render.hang_up("GET", "", times=3)
    with pytest.raises(UnreachableError, match="unreachable: Server disconnected without sending a response"):
        api.get_service()
    assert len(render.calls()) == 3 and paused == [0.0, 0.0, 0.0, 0.5, 0.0, 0.5]  # at once, then after a moment
    render.clear()
    old = render.add_deploy("c" * 40)
    for call, suffix in ((lambda: api.deploy_commit("a" * 40), "/deploys"),
                         (lambda: api.rollback_to_deploy(old["id"]), "/rollback")):
        render.hang_up("POST", suffix)
        with pytest.raises(UnreachableError, match="Server disconnected without sending a response"):
            call()
        assert render.calls() == [("POST", f"/v1/services/{sid}{suffix}")]  # asked once
        render.clear()
    assert render.deploys == [old]


def test_bad_key_is_a_config_error_without_the_key(render):
    api = RenderApi(RenderTarget(render.base_url, render.service_id, "rnd_wrongkey0123456789abcdef"))
    with pytest.raises(ConfigError) as info:
        api.deploy_commit("b" * 40)
    assert "answered 401: unauthorized" in str(info.value) and "wrongkey" not in str(info.value)
    assert "wrongkey" not in repr(api.target)
    assert render.deploys == []


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
    cfg = Config(root=None, values={"render": {"api_url": "http://127.0.0.1:8/", "service_id": "srv-r"}})
    target, _ = render_target_from(cfg, {"RENDER_API_KEY": "k"})  # the shared render.* keys
    assert target.url() == "http://127.0.0.1:8/v1/services/srv-r"


def test_standin_deploys_progress_when_polled_and_cancel():
    """The stand-in itself (examples/render_standin.py), as a deploy command would poll it."""
    import httpx

    from examples.render_standin import RenderStandIn

    with RenderStandIn(progress=("build_in_progress", "live")) as render:
        first = render.add_deploy("1" * 40)
        api = api_for(render)
        new = api.deploy_commit("2" * 40)
        assert new["status"] == "created"
        assert [api.get_deploy(new["id"])["status"] for _ in range(3)] == ["build_in_progress", "live", "live"]
        assert api.get_deploy(first["id"])["status"] == "deactivated"
        other = api.deploy_commit("3" * 40)
        headers = {"Authorization": f"Bearer {render.api_key}"}
        cancel = f"{render.base_url}/v1/services/{render.service_id}/deploys/{other['id']}/cancel"
        assert httpx.post(cancel, headers=headers).json()["status"] == "canceled"
        assert httpx.post(cancel, headers=headers).status_code == 409
        assert api.get_deploy(other["id"])["status"] == "canceled"  # a cancelled deploy stays so
        wrong = httpx.get(f"{render.base_url}/v1/services/srv-other", headers=headers)
        assert wrong.status_code == 404 and wrong.json()["message"] == "service not found"
        assert render.calls()[-1] == ("GET", "/v1/services/srv-other")
    with pytest.raises(ValueError):
        RenderStandIn(progress=("done",))


def test_the_stand_in_command_answers_help_without_serving(capsys: pytest.CaptureFixture) -> None:
    """`python -m examples.render_standin --help` started a server (it took no arguments at all)."""
    from examples.render_standin import main

    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m examples.render_standin") and "--service-id" in out


def test_a_deploy_list_not_shaped_as_renders_is_read_as_saying_nothing(render):
    """A deploy whose commit id is no text (a number) is a deploy of no known commit: the wait for a canceled deploy
    took it for the newer deploy that overtook it and ended in a TypeError (`newer[:12]`)."""
    from mosaic_diag.deploy.wait import wait_for_commit

    sha = "a" * 40
    render.add_deploy(sha, "canceled")
    odd = render.add_deploy("b" * 40, "build_in_progress")
    odd["commit"] = {"id": 12345}
    got = wait_for_commit(sha, api=api_for(render), timeout_s=1.0, poll_s=1.0, clock=lambda: datetime.now(UTC),
                          sleep=lambda s: None)
    assert got.state == "failed" and "ended canceled" in got.message, got
