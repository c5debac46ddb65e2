"""Truncation by salience (JSON never cut) and the output safety filter."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from mosaic_diag.runtime import estimate_tokens, safe_output, truncate
from mosaic_diag.runtime.text import segments

ROOT = Path(__file__).resolve().parent.parent


def _under_a_cpu_limit(code: str) -> subprocess.CompletedProcess[str]:
    """`code` run by a Python of its own under a CPU limit of 20 s; it must finish (a quadratic path would not)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)},
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CPU, (20, 20)))
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    return done


def test_token_estimate_is_bytes_over_four():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("é" * 4) == 2  # two bytes a character: more tokens, the safe side


def test_text_within_budget_is_untouched():
    result = truncate("short text", 100)
    assert result.text == "short text" and not result.truncated


def test_head_and_tail_are_kept_and_salient_middle_wins():
    filler = [f"Background paragraph {chr(65 + i)} about the weather and the sea." for i in range(10)]
    middle = filler[:5] + ["Traceback: psycopg2 error 42P01 failed at step 7?"] + filler[5:]
    text = "\n\n".join(["HEAD: the user's goal is a new career.", *middle, "TAIL: what should I do next?"])
    result = truncate(text, 60)
    assert result.truncated and result.tokens <= 60
    assert result.text.startswith("HEAD:") and result.text.rstrip().endswith("TAIL: what should I do next?")
    assert "Traceback: psycopg2 error 42P01" in result.text
    assert "omitted" in result.text
    assert result.dropped >= 5


def test_a_json_block_is_kept_whole_or_left_out_whole():
    answer = json.dumps({"answer": "x" * 120, "question": "why?"})
    text = "\n\n".join(["Intro line.", "```json\n" + answer + "\n```", "Filler " * 40, "Closing line?"])
    assert [s.json for s in segments(text)] == [False, True, False, False]
    for budget in (20, 45, 80, 120):
        out = truncate(text, budget).text
        if '{"answer"' in out:
            assert answer in out  # whole
        assert out.count("{") == out.count("}")


def test_a_bare_json_paragraph_is_a_block_too():
    blob = json.dumps({"steps": list(range(50))})
    parts = segments(f"before\n\n{blob}\n\nafter")
    assert [p.json for p in parts] == [False, True, False]
    assert blob not in truncate(f"before\n\n{blob}\n\nafter", 20).text


def test_one_huge_prose_paragraph_is_cut_in_its_middle():
    text = "START " + "word " * 2000 + " END"
    result = truncate(text, 100)
    assert result.cut and result.tokens <= 100
    assert result.text.startswith("START") and result.text.endswith("END")


def test_keep_words_raise_salience():
    parts = [f"Paragraph number {i} of plain narrative text here." for i in range(12)]
    parts[6] = "Paragraph about the coaching plan the user is on now, plain."
    text = "\n\n".join(parts)
    assert "coaching plan" in truncate(text, 55, keep=["Coaching Plan"]).text
    assert "coaching plan" not in truncate(text, 55).text


def test_bad_budget():
    with pytest.raises(ValueError):
        truncate("x", 0)


def test_safe_output_redacts_with_detectors_and_says_what():
    text = ("Contact jane.doe@example.com or +1 (415) 555-0134. Card 4111 1111 1111 1111, not 4111 1111 1111 1112. "
            "SSN 123-45-6789. Key sk-proj-abcdefghijklmnopqrstuv, db postgresql://app:hunter22@db.internal/app. "
            "Step 3 of 10 on 2026-11-27, order 12345.")
    out = safe_output(text)
    for secret in ("jane.doe@example.com", "555-0134", "4111 1111 1111 1111", "123-45-6789", "abcdefghijklmnop",
                   "hunter22"):
        assert secret not in out.text
    assert "4111 1111 1111 1112" in out.text  # fails the Luhn check: not a card number
    assert "Step 3 of 10 on 2026-11-27, order 12345." in out.text
    assert out.removed == {"secret": 2, "email": 1, "card": 1, "ssn": 1, "phone": 1}


def test_safe_output_leaves_clean_text_alone():
    out = safe_output("Let's take one small step: write down what you want to change.")
    assert not out.changed and out.removed == {}


def test_unclosed_fence_openings_are_read_in_linear_time():
    """The fenced-block search tried again from every later ``` once an opening found no close, each try reading the
    rest of the text: a context of "x```\\n" repeated (the caller's documents, a user's paste) cost the square of
    its length (40,000 characters: 2 s). Under a CPU limit of 20 s, 200,000 characters are cut within the budget, and
    a fenced JSON block before such openings is still found whole."""
    code = ("import json, sys\nfrom mosaic_diag.runtime.text import truncate, segments\n"
            "text = 'x```\\n' * 40000\nr = truncate(text, 200)\n"
            "blocks = [s.text for s in segments('```json\\n{\"a\": 1}\\n```\\n\\n' + text) if s.json]\n"
            "print(json.dumps([r.tokens <= 200, r.truncated, blocks]))")
    done = _under_a_cpu_limit(code)
    assert json.loads(done.stdout) == [True, True, ['```json\n{"a": 1}\n```']]


def test_a_text_of_blanks_only_past_the_budget_is_cut_to_nothing():
    """A text of spaces and newlines only, longer than the budget, has no segment: truncate raised IndexError."""
    result = truncate(" \n" * 40_000, 100)
    assert (result.text, result.tokens, result.truncated) == ("", 0, True)


def test_runs_of_url_starts_are_filtered_in_linear_time():
    """The redactor's database-URL password and path-token patterns started again at every `scheme://` of a run,
    each reading the run to its end (for an `@`, for a token segment): an answer of "postgres://" repeated (a prompt
    injection asks for it) cost the square of its length: 33,000 characters 3 s, a dead letter's 256,000 characters
    minutes of the store's thread. Under a CPU limit of 20 s: done, and a password and a path token after it still
    masked."""
    code = ("import json, sys\nfrom mosaic_diag.runtime.text import safe_output\nfrom mosaic_diag.runtime.guard import "
            "stored_payload\nout = []\n"
            "for run in ('postgres://' * 23000, 'a://b/' * 42000):\n"
            "    text = run + ' postgres://app:Xy7pQ2@db.internal:5432/app https://api.example.com/v1/hooks/"
            "Ab3kd9Qm2Lx8Pz7Rt6Yw5Nv4Hc3Jf2Gb1/x'\n"
            "    for filtered in (safe_output(text).text, stored_payload(text)):\n"
            "        out.append(['Xy7pQ2' in filtered, 'Ab3kd9Qm2Lx8Pz7Rt6Yw5Nv4Hc3Jf2Gb1' in filtered, "
            "filtered.startswith(run[:60])])\n"
            "print(json.dumps(out))")
    done = _under_a_cpu_limit(code)
    assert json.loads(done.stdout) == [[False, False, True]] * 4
