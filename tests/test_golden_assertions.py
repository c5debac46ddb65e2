"""Assertions on one answer and latency over many; the messages say what was wrong."""

from __future__ import annotations

import json
from pathlib import Path

from mosaic_diag.golden.assertions import check_answer, check_latency, percentile
from mosaic_diag.golden.cases import load_cases

BODY = json.dumps({"answer": "Start with PS101 step 1", "ps101": {"step": 1, "title": "Problem"},
                   "jobs": [{"url": "https://x"}], "refused": False})


def expect_of(tmp_path: Path, expect_yaml: str):
    path = tmp_path / "c.yml"
    path.write_text("cases:\n  - id: a\n    path: /x\n    expect:\n"
                    + "".join(f"      {line}\n" for line in expect_yaml.strip().splitlines()))
    return load_cases([path])[0].expect


def test_a_good_answer_passes_every_kind_of_assertion(tmp_path):
    e = expect_of(tmp_path, """
status: [200, 201]
contains: [PS101, step]
icontains: {any: [ps101, nothing-like-this]}
not_contains: [Traceback]
not_icontains: {all: [error, failed]}
regex: ['step \\d']
json_valid: true
json_path:
  $.ps101.step: {equals: 1}
  $.jobs[0].url: {matches: '^https://'}
  $.refused: {equals: false}
  $.missing: {exists: false}
json_schema: {type: object, required: [answer]}
max_chars: 500
""")
    assert check_answer(e, 200, BODY) == ()


def test_each_failure_is_named(tmp_path):
    e = expect_of(tmp_path, """
status: 200
contains: {all: [PS101, Mosaic]}
icontains: {any: [xyz, qqq]}
not_contains: [step]
regex: ['^nope']
json_path:
  $.ps101.step: {equals: 2}
  $.ps101.title: {matches: '^Root'}
  $.jobs[3].url: {exists: true}
json_schema: {type: object, required: [question]}
max_chars: 10
""")
    failures = check_answer(e, 503, BODY)
    assert failures == (
        "status: got 503, want 200",
        "contains: missing 'Mosaic'",
        "icontains: none of 'xyz', 'qqq'",
        "not_contains: found 'step'",
        "regex: no match for /^nope/",
        "json_path $.ps101.step: 1 != 2",
        "json_path $.ps101.title: 'Problem' does not match /^Root/",
        "json_path $.jobs[3].url: missing",
        "json_schema: $: 'question' is a required property",
        f"max_chars: {len(BODY)} > 10",
    )


def test_not_json_and_default_status(tmp_path):
    e = expect_of(tmp_path, "json_valid: true\njson_path: {$.a: {exists: true}}")
    failures = check_answer(e, 500, "<html>Internal Server Error</html>")
    assert failures[0] == "status: got 500, want 2xx"
    assert failures[1].startswith("json_valid: the body is not JSON (Expecting value at char 0)")
    assert failures[2] == "json_path $.a: missing"


def test_json_a_browser_would_refuse_is_not_json_and_nothing_raises(tmp_path):
    """NaN / Infinity (Python's parser takes them, JSON.parse does not) and nesting deeper than the parser
    goes are 'not JSON' failures of the case, not an exception that turns it into an error."""
    e = expect_of(tmp_path, "json_valid: true\njson_path: {$.a: {exists: true}}")
    deep = "[" * 100_000 + "]" * 100_000
    for body, why in (('{"a": NaN}', "NaN is not JSON"), ('{"a": [Infinity]}', "Infinity is not JSON"),
                      ('{"a": -Infinity}', "-Infinity is not JSON"), (deep, "nested too deeply")):
        failures = check_answer(e, 200, body)
        assert failures == (f"json_valid: the body is not JSON ({why})", "json_path $.a: missing"), failures
    assert check_answer(e, 200, '{"a": 1e400}') == ()  # a number too big for a float is still JSON
    c = expect_of(tmp_path, "contains_json: true")
    none = ("contains_json: no JSON object or array in the body",)
    assert check_answer(c, 200, 'the answer: {"a": NaN} and more') == none
    assert check_answer(c, 200, "[" * 100_000) == none
    assert check_answer(c, 200, 'prose {"a": 1} prose') == ()


def test_latency_percentiles_over_repeats(tmp_path):
    e = expect_of(tmp_path, "latency_ms: {p50: 100, p95: 300}")
    assert percentile([10, 20, 30, 40, 1000], 50) == 30
    assert percentile([10, 20, 30, 40, 1000], 95) == 1000
    assert check_latency(e, [50, 60, 70, 80, 90]) == ()
    assert check_latency(e, [50, 60, 70, 80, 900]) == (
        "latency_ms: p95 900 ms > 300 ms over 5 answer(s)",)


def test_numeric_json_paths_and_not_matches(tmp_path):
    body = json.dumps({"score": 0.82, "count": 3, "label": "ok", "flag": True, "answer": '{"raw": 1}'})
    e = expect_of(tmp_path, """
json_path:
  $.score: {gte: 0.8}
  $.count: {lt: 3}
  $.label: {gt: 1}
  $.flag: {lte: 1}
  $.answer: {not_matches: '^\\s*[\\[{]'}
""")
    assert check_answer(e, 200, body) == (
        "json_path $.count: 3 is not < 3",
        "json_path $.label: 'ok' is not a number (gt 1)",
        "json_path $.flag: true is not a number (lte 1)",  # a boolean is not a number
        """json_path $.answer: '{"raw": 1}' matches /^\\s*[\\[{]/""",
    )


def test_contains_json_in_the_body_or_at_a_path_with_a_schema(tmp_path):
    prose = 'Sure! Here it is: {"answer": "x", "question": "y?"} Hope that helps.'
    assert check_answer(expect_of(tmp_path, "contains_json: true"), 200, prose) == ()
    assert check_answer(expect_of(tmp_path, "contains_json: true"), 200, "no json {here") == (
        "contains_json: no JSON object or array in the body",)
    e = expect_of(tmp_path, """
contains_json:
  path: $.answer
  schema: {type: object, required: [answer, question]}
""")
    good = json.dumps({"answer": prose})
    assert check_answer(e, 200, good) == ()
    wrong = json.dumps({"answer": 'Here: {"response": "x"}'})
    assert check_answer(e, 200, wrong) == (
        "contains_json ($.answer): $: 'answer' is a required property",
        "contains_json ($.answer): $: 'question' is a required property")
    assert check_answer(e, 200, json.dumps({"other": 1})) == ("contains_json: $.answer: missing",)
