"""Manifest generation from git blobs, determinism, dirty flag, diff findings."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from mosaic_diag.errors import ConfigError, UsageError
from mosaic_diag.manifest import ManifestSettings, diff_manifests, generate_manifest, load_manifest
from tests.test_manifest_support import commit_all, deploy_repo, git, set_git_env, write

PY = "3.11.9"


def fixed_clock(hour: int = 12):
    return lambda: datetime(2025, 1, 2, hour, 0, tzinfo=UTC)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    set_git_env(monkeypatch)
    return deploy_repo(tmp_path)


def gen(repo, ref=None, **kw):
    kw.setdefault("python_version", PY)
    return generate_manifest(repo.work, ref, **kw)


def test_manifest_reads_blobs_of_the_ref(repo):
    m = gen(repo, repo.commits["c1"], env={"OPENAI_MODEL": "gpt-4"})
    assert m.commit == repo.commits["c1"]
    assert set(m.dependencies) == {"requirements.txt"}
    assert set(m.prompts) == {"prompts/ps101_steps.json"}
    assert set(m.golden) == {"golden/ps101.yml"}
    assert m.schema.source == ("schema.sql",) and len(m.schema.hash) == 64
    assert m.feature_flags == {"new_ui": False} and m.flags_source == "feature_flags.json"
    assert m.models == {"openai": "gpt-4"}
    assert m.dirty is False
    # the schema hash of c1 differs from c5's (c4 changed schema.sql) though the working tree is at c5
    assert m.schema.hash != gen(repo, repo.commits["c5"]).schema.hash


def test_same_tree_same_manifest_but_for_the_time(repo):
    a = gen(repo, "HEAD~1", clock=fixed_clock(1)).to_dict()
    b = gen(repo, repo.commits["c4"], clock=fixed_clock(2)).to_dict()
    assert a.pop("generated_at") != b.pop("generated_at")
    a["git"].pop("ref"), b["git"].pop("ref")
    assert a == b
    text = gen(repo, "HEAD", clock=fixed_clock()).to_json()
    assert text == gen(repo, "HEAD", clock=fixed_clock()).to_json()
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_working_tree_dirty_is_flagged_and_hashes_come_from_head(repo):
    clean = gen(repo, None)
    assert clean.dirty is False and clean.branch == "main"
    write(repo.work, "prompts/ps101_steps.json", "{}")
    write(repo.work, "notes.txt", "scratch")
    dirty = gen(repo, None)
    assert dirty.dirty is True
    assert dirty.dirty_paths == ("notes.txt", "prompts/ps101_steps.json")
    assert dirty.prompts == clean.prompts  # what deploys is HEAD, not the working tree
    finding = diff_manifests(clean, dirty).findings[0]
    assert finding.code == "dirty_tree" and finding.severity == "high"
    assert gen(repo, "HEAD").dirty is False  # an explicit ref ignores the working tree


def test_unknown_ref_is_a_usage_error(repo):
    with pytest.raises(UsageError, match="unknown git ref 'deadbeef'"):
        gen(repo, "deadbeef")


def test_diff_has_meaning(repo):
    c = repo.commits
    d = diff_manifests(gen(repo, c["c2"]), gen(repo, c["c3"]))
    msgs = [f.message for f in d.findings]
    assert "prompt ps101_steps.json changed but the golden set did not" in msgs
    assert not d.schema_changed
    d = diff_manifests(gen(repo, c["c3"]), gen(repo, c["c4"]))
    assert d.schema_changed and d.findings[0].severity == "critical"
    assert d.findings[0].message.startswith("schema changed: a rollback will not undo the database")
    d = diff_manifests(gen(repo, c["c5"], env={"OPENAI_MODEL": "gpt-4"}),
                       gen(repo, c["c5"], env={"OPENAI_MODEL": "gpt-4o"}))
    assert [f.message for f in d.findings] == ["model pin changed: openai gpt-4 -> gpt-4o"]


def test_dependencies_flags_and_golden_findings(repo):
    base = gen(repo, "HEAD")
    write(repo.work, "requirements.txt", "fastapi==0.111.0\n")
    write(repo.work, "feature_flags.json", json.dumps({"new_ui": True}))
    write(repo.work, "prompts/ps101_steps.json", "{}")
    write(repo.work, "golden/ps101.yml", "cases: [1]\n")
    commit_all(repo.work, "deps, flags, prompt + golden")
    d = diff_manifests(base, gen(repo, "HEAD"))
    codes = {f.code: f.message for f in d.findings}
    assert codes["dependencies_changed"] == "dependencies changed: requirements.txt"
    assert codes["feature_flag_changed"] == "feature flag new_ui: False -> True"
    assert codes["prompt_changed"] == "prompt ps101_steps.json changed; the golden set changed too"
    assert "prompt_changed_golden_unchanged" not in codes


def test_settings_from_config_and_yaml_flags(repo):
    from mosaic_diag.config import Config

    write(repo.work, "db/001.sql", "CREATE TABLE a (x int);\n")
    write(repo.work, "flags.yml", "beta: true\nkey: sk-proj-abcdefghijklmnopqrstuvwxyz\n")
    commit_all(repo.work, "migrations + yaml flags")
    cfg = Config(root=repo.work, values={"manifest": {"schema": ["db/*.sql"], "flags": "flags.yml",
                                                      "models": {"openai": "gpt-4-0613"}}})
    m = gen(repo, "HEAD", settings=ManifestSettings.from_config(cfg), env={"ANTHROPIC_MODEL": "claude-3-haiku"})
    assert m.schema.source == ("db/001.sql",)
    assert m.feature_flags["beta"] is True
    assert "abcdefghijklmnop" not in m.to_json()  # secrets never in a manifest
    assert m.models == {"openai": "gpt-4-0613", "anthropic": "claude-3-haiku"}


def test_malformed_flags_names_file_and_line(repo):
    write(repo.work, "feature_flags.json", '{\n  "a": true,\n  oops\n}')
    commit_all(repo.work, "broken flags")
    with pytest.raises(ConfigError) as info:
        gen(repo, "HEAD")
    assert str(info.value).startswith("HEAD:feature_flags.json:3: invalid JSON")


def test_manifest_file_round_trip_and_bad_file(repo, tmp_path):
    m = gen(repo, "HEAD")
    p = tmp_path / "m.json"
    p.write_text(m.to_json())
    assert load_manifest(p).to_json() == m.to_json()
    p.write_text("{\n\n nope")
    with pytest.raises(ConfigError, match=r"m.json:3: invalid JSON"):
        load_manifest(p)
    with pytest.raises(UsageError, match="no such manifest file"):
        load_manifest(tmp_path / "missing.json")


@pytest.mark.parametrize(("edit", "says"), [
    (lambda d: d["git"].update(commit="main~1"), "git.commit 'main~1' is not a full commit id"),
    (lambda d: d["git"].update(commit="not hex" + "0" * 33), "is not a full commit id"),
    (lambda d: d["git"].update(commit="\x1b]8;;http://evil\x07"), r"'\\x1b\]8;;http://evil\\x07' is not a full"),
    (lambda d: d.update(dependencies="requirements.txt"), "dependencies is not an object of path: hash"),
    (lambda d: d.update(prompts={"../../etc/passwd": "0" * 64}), "'../../etc/passwd' is not a path inside the rep"),
    (lambda d: d.update(prompts={"/etc/passwd": "0" * 64}), "is not a path inside the repository"),
    (lambda d: d["golden"].update(files={"cases.yml": "xyz"}), "golden.files: the hash of 'cases.yml' is not a sha"),
    (lambda d: d.update(git=["x"]), "git is not an object"),
    (lambda d: d.update(schema="x"), "schema is not an object"),
])
def test_a_hand_edited_manifest_is_one_error(repo, tmp_path, edit, says):
    """A manifest file is read back as `generate` writes it: a commit that is a ref (`main~1` would be recorded and
    rolled back to as whatever it names then), not hex, or terminal controls; a path with `..` or absolute; a hash
    that is none; a section of the wrong type (a ValueError traceback for a string) are a one-line error."""
    data = json.loads(gen(repo, "HEAD").to_json())
    edit(data)
    p = tmp_path / "m.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=says):
        load_manifest(p)


def test_not_a_repository(tmp_path):
    with pytest.raises(UsageError, match="not a git repository"):
        generate_manifest(tmp_path, python_version=PY)


def test_git_state_untouched(repo):
    before = git(repo.work, "status", "--porcelain"), git(repo.work, "rev-parse", "HEAD")
    gen(repo, repo.commits["c1"])
    assert (git(repo.work, "status", "--porcelain"), git(repo.work, "rev-parse", "HEAD")) == before


def test_live_schema_from_a_real_database(repo, pg_db):
    import psycopg2

    conn = psycopg2.connect(pg_db)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE users (id TEXT PRIMARY KEY)")
    before = gen(repo, "HEAD", database_url=pg_db)
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE users ADD COLUMN email TEXT")
    conn.close()
    after = gen(repo, "HEAD", database_url=pg_db)
    assert before.schema.live_tables == 1 and before.schema.live_hash != after.schema.live_hash
    assert before.schema.hash == after.schema.hash
    assert [f.code for f in diff_manifests(before, after).findings] == ["live_schema_changed"]
    assert "live" in json.loads(after.to_json())["schema"] and pg_db.split("@")[0] not in after.to_json()


def test_live_schema_unreachable_is_exit_3(repo, refused_port):
    from mosaic_diag.errors import UnreachableError

    with pytest.raises(UnreachableError, match=r"postgresql://mosaic:\*\*\*@127.0.0.1"):
        gen(repo, "HEAD", database_url=f"postgresql://mosaic:pw@127.0.0.1:{refused_port}/mosaic")


def test_out_to_a_fifo_or_device_writes_to_it_not_over_it(tmp_path):
    """`manifest generate --out /dev/stdout` (or `/dev/null`) replaced the device with a regular file (atomically:
    a temporary file renamed over it; as root, /dev/null itself): a path that is no regular file is written to."""
    import os
    import stat
    import threading

    from mosaic_diag.platform.atomic import write_atomic

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_atomic(fifo, '{"a": 1}\n', to_device=True)  # an output the user named
    reader.join(timeout=60)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert got == [b'{"a": 1}\n']


def test_the_toolkits_own_files_replace_a_link_to_a_device_never_write_through_it(tmp_path):
    """A committed `.mosaic-diag/watch-state.json -> /dev/...` (git stores symlinks): the toolkit's own state is
    written in the link's place; only an output the user named (`to_device`) is written through to a device."""
    import os

    from mosaic_diag.platform.atomic import write_atomic

    state = tmp_path / "state.json"
    state.symlink_to(os.devnull)
    write_atomic(state, '{"a": 1}\n')
    assert not state.is_symlink() and state.read_text() == '{"a": 1}\n'


def test_an_empty_history_says_how_to_record_a_deploy(repo):
    """`manifest history` with nothing recorded said only `no deploys recorded in file …`: a first user looking for
    the deploys is told how one is recorded, within 80 columns."""
    from tests.cli_inproc import run_cli

    for fmt in ("table", "markdown"):
        r = run_cli(["manifest", "history", "--repo", str(repo.work), "--format", fmt])
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].startswith("no deploys recorded in file ") and lines[0].endswith("deploys.jsonl"), lines
        assert lines[1:] == ["record one: `mosaic-diag manifest record` after a deploy (`deploy` does it itself)"]
    r = run_cli(["manifest", "history", "--repo", str(repo.work), "--format", "json"])
    assert json.loads(r.stdout) == []


def test_manifest_diff_of_a_fifo_a_device_or_bytes_not_utf8_is_one_error_line(repo, tmp_path):
    """`manifest diff old.json HEAD` read a FIFO named `old.json` (waited for a writer for ever) and a link to
    /dev/zero (read until memory ran out: a MemoryError traceback); a file not UTF-8 named no line. Each is one
    `file[:line]: cannot read manifest: …` line, exit 2, in a process of its own (its memory bounded)."""
    import os
    import resource
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    fifo, zero, latin = tmp_path / "fifo.json", tmp_path / "zero.json", tmp_path / "latin.json"
    os.mkfifo(fifo)
    zero.symlink_to("/dev/zero")
    latin.write_bytes(b'{\n  "commit": "caf\xe9"\n}\n')

    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    for path, says in ((fifo, "not a regular file"), (zero, "not a regular file"),
                       (latin, "not UTF-8 text (invalid continuation byte)")):
        r = subprocess.run([sys.executable, "-m", "mosaic_diag", "manifest", "diff", str(path), "HEAD"],
                           cwd=repo.work, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True,
                           timeout=120, preexec_fn=bounded, check=False)
        where = f"{path}:2" if path == latin else str(path)
        assert (r.returncode, r.stdout) == (2, ""), (path, r.stdout, r.stderr)
        assert r.stderr.startswith(f"mosaic-diag: error: {where}: cannot read manifest: {says}"), r.stderr
        assert r.stderr.count("\n") == 1, r.stderr


def test_generate_out_dash_is_stdout_and_an_unwritable_out_is_refused_before_the_manifest_is_made(
        repo, monkeypatch, refused_port):
    """`manifest generate -o -` wrote a file named `-` into the repository (every other `-o -` is stdout), and an
    `--out` that could never be written (a directory) was found only after the manifest was made: with the live
    schema of a database that is down, that run ended unreachable (exit 3) instead of naming the bad path."""
    from tests.cli_inproc import run_cli

    monkeypatch.chdir(repo.work)
    r = run_cli(["manifest", "generate", "HEAD", "-o", "-"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["git"]["commit"] == git(repo.work, "rev-parse", "HEAD")
    assert not (repo.work / "-").exists()
    monkeypatch.setenv("DATABASE_URL", f"postgresql://mosaic:pw@127.0.0.1:{refused_port}/mosaic")
    r = run_cli(["manifest", "generate", "HEAD", "--live-schema", "-o", str(repo.work)])
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip() == f"mosaic-diag: error: {repo.work}: cannot write (Is a directory)", r.stderr


def test_a_flag_under_a_secrets_name_is_masked_in_the_manifest_and_the_deploy_record(repo, tmp_path):
    """A flags file holding a key by its name (`"openai_api_key": "Zq81x…"`, `"db_password": …`): each string was
    redacted alone, which cannot tell a random word from a key, and `manifest record` wrote it to the deploy history
    (and `generate --out` to the manifest) as it is."""
    from tests.cli_inproc import run_cli

    secrets = {"openai_api_key": "Zq81xAbCdEfGhIjKlMnOpQr", "db_password": "hunter2horse", "smtp_pass": 904417}
    write(repo.work, "feature_flags.json", json.dumps({"new_ui": True, "max_tokens": 800, "password_length": 12,
                                                       **secrets, "alerts": {"webhook_secret": "WhS3cretValue1"}}))
    commit_all(repo.work, "flags with keys in them")
    r = run_cli(["manifest", "record", "--repo", str(repo.work), "--format", "json"])
    assert r.returncode == 0, r.stderr
    out = tmp_path / "manifest.json"
    r2 = run_cli(["manifest", "generate", "--repo", str(repo.work), "--out", str(out)])
    assert r2.returncode in (0, 1), r2.stderr
    written = {"record": (repo.work / ".mosaic-diag" / "deploys.jsonl").read_text(), "manifest": out.read_text(),
               "output": r.stdout + r.stderr + r2.stdout + r2.stderr}
    values = json.loads(out.read_text())["feature_flags"]["values"]
    assert values == {"new_ui": True, "max_tokens": 800, "password_length": 12, "openai_api_key": "***",
                      "db_password": "***", "smtp_pass": "***", "alerts": {"webhook_secret": "***"}}
    shown = [str(v) for v in (*secrets.values(), "WhS3cretValue1")]
    assert {where: [s for s in shown if s in text] for where, text in written.items()} == dict.fromkeys(written, [])
