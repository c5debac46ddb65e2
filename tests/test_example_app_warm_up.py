"""The example app's start-up under a real uvicorn: the classifier is loaded before "ready", the AI SDKs are
imported on the warm-up thread, and "ready" does not wait for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.app_servers import start_uvicorn, stop
from tests.test_example_app import ROOT, app_env

# Holds the first import of each SDK until the gate file exists (in its loader, not in find_spec, which runs under
# the global import lock), and records which thread imports it and whether the runtime kit's classifier was loaded
# by then. The real SDKs are imported once it opens.
GATE = '''
import json, os, sys, threading, time
from importlib.machinery import PathFinder

GATE, RECORD = os.environ["WARM_UP_GATE"], os.environ["WARM_UP_RECORD"]


class Held:
    def __init__(self, real):
        self.real = real

    def __getattr__(self, name):
        return getattr(self.real, name)

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module):
        verdict = sys.modules.get("mosaic_diag.runtime.verdict")
        loaded = verdict is not None and verdict.DEFAULT_CACHE._classifier is not None
        with open(RECORD, "a") as f:
            f.write(json.dumps({"sdk": module.__name__, "thread": threading.current_thread().name,
                                "classifier_loaded": loaded}) + "\\n")
        while not os.path.exists(GATE):
            time.sleep(0.02)
        self.real.exec_module(module)


class Gate:
    def find_spec(self, name, path=None, target=None):
        if name not in ("openai", "anthropic"):
            return None
        spec = PathFinder.find_spec(name, path)
        if spec is not None:
            spec.loader = Held(spec.loader)
        return spec


sys.meta_path.insert(0, Gate())
'''


def start_gated_app(tmp_path: Path, llm) -> tuple[subprocess.Popen, str, Path, Path, Path]:  # noqa: ANN001
    """The example app under the real uvicorn with its SDK imports held at `GATE` until the gate file exists:
    (process, url, gate, record of the held imports, log). "Ready" is awaited on a route that needs no provider."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(GATE)
    gate, record = tmp_path / "gate", tmp_path / "record.jsonl"
    env = {**os.environ, **app_env(tmp_path, llm), "PYTHONPATH": f"{site}{os.pathsep}{ROOT}",
           "WARM_UP_GATE": str(gate), "WARM_UP_RECORD": str(record)}
    log = tmp_path / "app.log"
    proc, url = start_uvicorn(lambda port: [sys.executable, "-m", "examples.mosaic_app", "--port", str(port)],
                              env=env, cwd=ROOT, log_path=log, health="/ps101/steps", deadline_s=30)
    return proc, url, gate, record, log


@pytest.mark.slow
def test_ready_does_not_wait_for_the_sdks_and_the_classifier_is_loaded_before(tmp_path, llm):
    # ready while the SDK import is held: before, the lifespan imported them and never got to "ready"
    proc, url, gate, record, log = start_gated_app(tmp_path, llm)
    try:
        assert httpx.get(url + "/ps101/steps", timeout=10).status_code == 200  # needs no provider
        give_up = time.monotonic() + 30  # (a liveness bound)
        while not record.exists() and time.monotonic() < give_up:
            time.sleep(0.05)
        [held] = [json.loads(line) for line in record.read_text().splitlines()]
        assert held == {"sdk": "openai", "thread": "mosaic-app-llm-warm-up", "classifier_loaded": True}
        assert "AI clients built" not in log.read_text()
        gate.touch()
        health = httpx.get(url + "/health", timeout=60).json()  # lists the models without the SDKs
        assert health["ai"] == {"openai_available": True, "anthropic_available": True}
        r = httpx.post(url + "/wimd/ask", json={"prompt": "I feel stuck in my career"}, timeout=60)
        assert r.status_code == 200 and r.json()["provider"] == "openai"  # waited for the client under its lock
        while "AI clients built" not in log.read_text() and time.monotonic() < give_up + 30:  # (liveness)
            time.sleep(0.05)
        sdks = [json.loads(line)["sdk"] for line in record.read_text().splitlines()]
        assert sdks == ["openai", "anthropic"]  # each imported once, both on the warm-up thread
        assert {json.loads(line)["thread"] for line in record.read_text().splitlines()} == {
            "mosaic-app-llm-warm-up"}
        assert log.read_text().count("AI clients built: openai,anthropic") == 1
    finally:
        stop(proc)


def test_no_warm_up_thread_without_a_provider_key(tmp_path):
    from examples.mosaic_app.llm import MultiProviderLLM
    from examples.mosaic_app.settings import Settings

    llm = MultiProviderLLM(Settings.from_env(app_env(tmp_path)))
    assert llm.warm_up() is None and llm.warming is None
