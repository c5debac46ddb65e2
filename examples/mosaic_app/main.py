"""The example Mosaic app: /health, /wimd/ask, PS101, auth and job search.

`app` is built from the process environment at import; `create_app(settings)` builds another.
Storage is initialised in the lifespan (uvicorn, TestClient) or on first use (httpx ASGITransport,
which skips lifespan events).
"""

from __future__ import annotations

import logging
import subprocess
import threading
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from examples.mosaic_app import auth, jobs, ps101, safety, storage
from examples.mosaic_app.llm import CoachAnswer, MultiProviderLLM, ProviderUnavailable, parse_answer
from examples.mosaic_app.metrics import RollingMetrics
from examples.mosaic_app.settings import APP_DIR, Settings
from examples.mosaic_app.storage import get_conn
from mosaic_diag.runtime import HealthConfig, RequestWindow, health_router, instrument, open_dead_letters, schema_guard
from mosaic_diag.runtime.verdict import warm_up as warm_up_classifier

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
logger = logging.getLogger("api.index")

_JOB_WORDS = ("job", "jobs", "hiring", "position", "positions", "opening", "openings", "vacancy")


class AskRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=8000)
    session_id: str | None = None


class Credentials(BaseModel):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=8, max_length=200)


class StepAnswer(BaseModel):
    step: int
    answer: str | None = None


@dataclass
class AppState:
    """What the app loads once: settings, PS101 content, jobs, the LLM client, metrics."""

    settings: Settings
    steps: tuple[ps101.Step, ...]
    examples: tuple[ps101.Example, ...]
    jobs: tuple[jobs.Job, ...]
    llm: MultiProviderLLM
    metrics: RollingMetrics
    git_commit: str
    started_at: str
    guard: Any = None  # the schema guard of model answers (dead letters in the app's database)


def _git_commit(settings: Settings) -> str:
    if settings.git_commit:
        return settings.git_commit
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=APP_DIR, capture_output=True,
                             text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        logger.warning("Deployment commit unknown: RENDER_GIT_COMMIT unset and git failed")
        return "unknown"
    return out.stdout.strip() or "unknown"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; settings default to the process environment at startup."""
    holder: dict[str, AppState] = {}
    lock = threading.Lock()
    metrics = RollingMetrics()

    def state() -> AppState:
        with lock:
            if "state" not in holder:
                current = settings or Settings.from_env()
                db_type = storage.init_db(current.database_url, current.sqlite_path,
                                          pool_max=current.pool_max)
                holder["state"] = AppState(
                    settings=current,
                    steps=ps101.load_steps(current.prompts_dir / "ps101_steps.json"),
                    examples=ps101.load_examples(current.prompts_dir / "prompts.csv"),
                    jobs=jobs.load_jobs(current.jobs_file),
                    llm=MultiProviderLLM(current),
                    metrics=metrics,
                    git_commit=_git_commit(current),
                    started_at=datetime.now(UTC).isoformat(),
                )
                dead_letters = open_dead_letters(current.database_url if db_type == "postgresql"
                                                 else current.sqlite_path)
                holder["state"].guard = schema_guard(CoachAnswer, store=dead_letters)
                warm_up_classifier()  # the classifier (~35 ms): a failure the middleware labels on the loop
                holder["state"].llm.warm_up()  # the SDKs (~1 s CPU): on a thread, ready does not wait for it
                logger.info("Mosaic example app ready: database=%s, AI providers=%s", db_type,
                            ",".join(holder["state"].llm.providers()) or "none")
            return holder["state"]

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        state()
        yield
        guard = holder["state"].guard if "state" in holder else None
        if guard is not None and guard.store is not None:
            guard.store.close()
        storage.close_db()
        holder.clear()

    app = FastAPI(title="Mosaic (example)", lifespan=lifespan)

    window = RequestWindow()
    app.add_middleware(instrument.Middleware, window=window)

    def database() -> Any:
        state()
        return storage.current_pool()  # None on the SQLite fallback: reported under `database`

    def app_health() -> dict[str, Any]:
        st = state()
        return {
            "database": {
                "connected": storage.check_postgres_connection(),
                "type": storage.database_type(),
                "fallback_active": storage.fallback_active(),
            },
            "ai": {
                "openai_available": st.llm.available("openai"),
                "anthropic_available": st.llm.available("anthropic"),
            },
            "metrics": {"invalid_json_rate": round(st.metrics.snapshot().invalid_json_rate, 4)},
            "deployment": {"deployed_at": st.started_at},
        }

    app.include_router(health_router(commit=lambda: state().git_commit, database=database, window=window,
                                     extra=app_health, breakers=lambda: state().llm.breaker_states(),
                                     config=HealthConfig(degraded_error_rate=0.05)))

    @app.post("/wimd/ask")
    def ask(body: AskRequest, x_session_id: str | None = Header(default=None),
            x_mosaic_llm_provider: str | None = Header(default=None)) -> JSONResponse:
        st = state()
        session_id = body.session_id or x_session_id
        user = auth.user_for_session(session_id) if session_id else None
        current = ps101.get_progress(user.id) if user else None
        step = ps101.step_for_prompt(st.steps, body.prompt, current)
        ps = {"step": step.step, "title": step.title, "question": step.prompts[0],
              "total_steps": len(st.steps)}
        words = set(body.prompt.lower().replace("?", " ").split())
        intent = "job_search" if words & set(_JOB_WORDS) else "coaching"
        base: dict[str, Any] = {"intent": intent, "ps101": ps}
        if intent == "job_search":
            base["next"] = {"action": "job search", "endpoint": "/jobs/search?q="}
        if safety.asks_for_secret(body.prompt):
            logger.warning("Refused a prompt asking for secrets")
            return JSONResponse({"answer": safety.REFUSAL, "question": step.prompts[0],
                                 "provider": None, "model": None, "json_valid": True,
                                 "refused": True, **base})
        example = ps101.select_example(st.examples, body.prompt)
        system = (
            "You are Mosaic, a career coach who guides people through PS101, a 10-step "
            f"problem-solving method. The user is at PS101 step {step.step} of {len(st.steps)}: "
            f"{step.title}. Ask them: {step.prompts[0]} "
            'Reply with a JSON object: {"answer": "<your coaching answer>", "question": '
            '"<one follow-up question>"}. Never reveal keys, passwords or configuration.'
        )
        if example is not None:
            system += f" Example of a good answer to {example.prompt!r}: {example.response}"
        try:
            completion = st.llm.generate(system, body.prompt, only=x_mosaic_llm_provider)
        except ProviderUnavailable as exc:
            return JSONResponse(status_code=503, content={
                "error": "ai_unavailable", "detail": safety.sanitize_error(str(exc)), **base})
        data, valid = parse_answer(completion.text, st.guard, provider=completion.provider,
                                   prompt_id=f"ps101-step-{step.step}")
        st.metrics.record_answer(valid)
        _record_ai_request(completion.provider, completion.model, completion.latency_ms, valid)
        answer = data.get("answer")
        return JSONResponse({
            "answer": safety.sanitize_output(answer if isinstance(answer, str) else completion.text),
            "question": data.get("question") if isinstance(data.get("question"), str)
            else step.prompts[0],
            "provider": completion.provider,
            "model": completion.model,
            "json_valid": valid,
            "refused": False,
            **base,
        })

    @app.get("/ps101/steps")
    def list_steps() -> dict[str, Any]:
        return {"total": len(state().steps), "steps": [s.to_dict() for s in state().steps]}

    @app.get("/ps101/steps/{n}")
    def get_step(n: int) -> dict[str, Any]:
        steps = state().steps
        if not 1 <= n <= len(steps):
            raise HTTPException(404, f"PS101 has steps 1..{len(steps)}; no step {n}")
        return {**steps[n - 1].to_dict(), "total": len(steps)}

    def _user(session_id: str | None) -> auth.User:
        user = auth.user_for_session(session_id) if session_id else None
        if user is None:
            raise HTTPException(401, "invalid or expired session")
        return user

    @app.get("/ps101/progress")
    def progress(x_session_id: str | None = Header(default=None)) -> dict[str, Any]:
        st = state()
        n = ps101.get_progress(_user(x_session_id).id)
        return {"step": n, "total": len(st.steps), "current": st.steps[n - 1].to_dict()}

    @app.post("/ps101/progress")
    def advance(body: StepAnswer, x_session_id: str | None = Header(default=None)) -> dict[str, Any]:
        st = state()
        user = _user(x_session_id)
        if not 1 <= body.step <= len(st.steps):
            raise HTTPException(422, f"step must be 1..{len(st.steps)}")
        n = ps101.set_progress(user.id, body.step, body.answer, len(st.steps))
        return {"step": n, "total": len(st.steps), "current": st.steps[n - 1].to_dict()}

    @app.post("/auth/register", status_code=201)
    def register(body: Credentials) -> JSONResponse:
        state()
        user, created = auth.create_user(body.email.lower(), body.password)
        return JSONResponse(status_code=201 if created else 200,
                            content={"user_id": user.id, "email": user.email, "created": created})

    @app.post("/auth/login")
    def login(body: Credentials) -> dict[str, Any]:
        state()
        try:
            session_id = auth.login(body.email.lower(), body.password)
        except auth.AuthError as exc:
            raise HTTPException(401, str(exc)) from exc
        return {"session_id": session_id, "token_type": "session"}

    @app.get("/jobs/search")
    def job_search(q: str = "", location: str | None = None, limit: int = 20) -> dict[str, Any]:
        hits = jobs.search(state().jobs, q, location, limit=max(1, min(limit, 100)))
        return {"query": q, "location": location, "count": len(hits),
                "sources": sorted({j.source for j in state().jobs}),
                "jobs": [j.__dict__ for j in hits]}

    return app


def _record_ai_request(provider: str, model: str, latency_ms: float, json_valid: bool) -> None:
    with get_conn() as conn:
        cursor = conn.cursor()
        cursor.execute(
            "INSERT INTO ai_requests (id, provider, model, latency_ms, json_valid, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (str(uuid.uuid4()), provider, model, int(latency_ms), int(json_valid),
             datetime.now(UTC).isoformat()),
        )


app = create_app()
