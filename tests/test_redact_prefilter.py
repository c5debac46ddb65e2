"""The redactor's pre-checks (`_any_literal`: one search for every hint literal, over a line's or a whole text's
shape; `_env_name_sep` before the environment-assignment pattern; an `@` before the URL-password ones) skip only
work that could not change anything: with them and without them, the same texts come out."""

from __future__ import annotations

import json
import re
import string
import sys
import traceback
from functools import cache

import pytest

from mosaic_diag.platform import recache, redact
from mosaic_diag.platform.redact import redact_text
from tests.test_redact import SECRET_TEXTS

NEUTRAL = ["2026-01-01T10:00:00Z worker started", "  File \"/app/main.py\", line 12, in handler", "",
           "psycopg2.errors.UndefinedTable: relation \"sessions\" does not exist", "    return fetch(job)"]
FOLDED = "postgresql://app:Hunter2SecretPasswordLongEnough0123456789@db.internal/app"
ENV_NAMES = ["PGPASSWORD", "DB_PASSWD", "CLIENT_SECRET", "GITHUB_TOKEN", "OPENAI_API_KEY", "MY_APIKEY",
             "AWS_ACCESS_KEY", "SSH_PRIVATE_KEY", "AWS_SECRET_KEY", "GOOGLE_CREDENTIALS", "X-Goog-Api-Key",
             "Ocp-Apim-Subscription-Key", "private-key"]


def _formatted(message: str) -> str:
    """A traceback as Python prints it, of an error whose message is `message`."""
    try:
        raise RuntimeError(message)
    except RuntimeError:
        return traceback.format_exc()


def _texts() -> list[str]:
    out = [text for text, _, _ in SECRET_TEXTS]
    out += [f"{name}={value}" for name in ENV_NAMES for value in ("Hunter2Value99", '"quoted value 2"')]
    out += [f"  {name.lower()} :  Hunter2Value99, next" for name in ENV_NAMES]
    out += [f"export {name}=Hunter2Value99 # İstanbul" for name in ENV_NAMES[:3]]  # (not ASCII: always tried)
    out += ["KeyError: 'OPENAI_API_KEY'", "max_tokens: 100 and input_tokens=42", "passwd:1: not a value",
            "GITHUB_TOKEN : ghp_A1b2C3d4E5f6G7h8I9j0K1l2", "connect to redis://:Hunter2Value99@cache:6379 failed",
            "a3t AKIA sq0 gr1348941 t3blbkfj", "sq0csp-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghi in a request"]
    # (round 18's forms: cookies, bytes header tuples, Digest, short and suffixed names, percent-encoded names)
    out += ["Cookie: sessionid=Hunter2Value99; csrftoken=Hunter2Value98", "< Set-Cookie: sid=Hunter2Value99; Path=/",
            "[(b'Host', b'api.example'), (b'x-api-key', b'Hunter2Value99'), (b'set-cookie', b'a=Hunter2Value99')]",
            "<RequestsCookieJar[<Cookie sessionid=Hunter2Value99 for example.com/>]>",
            'Authorization: Digest username="app", nonce="6fa9", response="6629fae49393a05397450978507c4ef1"',
            "pw=Hunter2Value99 and DB_PASS=Hunter2Value99", '{"pw": "Hunter2Value99", "secret_value": "x"}',
            "GET /x?api%5Fkey=Hunter2Value99&pass%77ord=Hunter2Value99 200", "pass=12 fail=0 in a summary",
            "Authorization: Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag", "key AIza" + "Q7XK2M9ZP4R8T1VW6YB3NC5DQ7XK2M9ZP4R",
            "GET /a;jsessionid=Hunter2Value99?x=1"]
    lines = [*NEUTRAL, *out]
    composite = [
        "\n".join(lines),  # hints on some lines only
        "\n".join([*NEUTRAL * 40, out[1], *NEUTRAL * 40]),  # one hinted line far in
        "\n".join(NEUTRAL * 10),  # none
        "İİİ lower-cased longer\n" + "\n".join(lines),  # (`İ` lower-cased is two characters; folded, one: `i`)
        "ERROR connect to postgresql://app:Hunter2Se\ncretPassword@db.internal/app failed",  # a folded secret
        "\n".join(FOLDED[i:i + 26] for i in range(0, len(FOLDED), 26)),  # over three lines of a narrow console
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z\nqq\n-----END RSA PRIVATE KEY-----\n" + out[0],
        # (a marker's words folded over a panel's lines, its key cut short: no line holds `private key`)
        "│ key = '-----BEGIN RSA PRIVATE   │\n│       KEY-----\\nMIIEowIBAAKCAQEA0Zqq'+811 │\nValueError: bad key",
        _formatted(out[0]), _formatted("\n".join(out)),
        json.dumps({"events": [{"message": t} for t in out]}, indent=2),
    ]
    return out + composite + [t.replace("0", "7") for t in composite]  # (other digits: the same shapes)


@pytest.fixture
def hints(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kept regex code loaded (as in a triage that classified something): the one search is used."""
    monkeypatch.setenv("MOSAIC_DIAG_CACHE_DIR", str(tmp_path / "cache"))
    recache._loaded()
    assert redact._any_literal() is not None


def _without_prechecks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "_any_literal", lambda: None)  # every line's literals tested one by one
    monkeypatch.setattr(redact, "_env_name_sep", lambda text: True)
    redact._found_cache.clear()


def test_the_prechecks_change_no_output(hints: None, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _texts()
    redact._found_cache.clear()
    fast = [redact_text(t) for t in texts]
    _without_prechecks(monkeypatch)
    slow = [redact_text(t) for t in texts]
    assert fast == slow
    assert sum(a != b for a, b in zip(texts, slow, strict=True)) > len(texts) // 2  # (secrets were masked)
    assert "Hunter2Value99" not in "".join(slow) and "Hunter2SecretPassword" not in "".join(slow).replace("\n", "")


@pytest.mark.parametrize("name", ENV_NAMES)
def test_every_secret_name_passes_the_assignment_precheck(name: str) -> None:
    for text in (f"{name}=Hunter2Value99", f"x {name.lower()}\t: Hunter2Value99", f'{name} = "v a l u e"'):
        assert redact._env_name_sep(text), text
        assert "Hunter2Value99" not in redact_text(text) and "v a l u e" not in redact_text(text)
    assert not redact._env_name_sep(f"{name} was not set")


def test_a_line_or_text_with_no_hint_is_found_empty_by_the_one_search(hints: None) -> None:
    redact._found_cache.clear()
    assert redact._found("worker started at 10:00:01") == frozenset()
    assert redact._found("worker a3t started") == frozenset({"a3t"})
    assert redact._found("worker a4t started") == frozenset()  # (the same shape as the line before)
    text = "\n".join(NEUTRAL * 3)
    assert redact_text(text) is text
    assert redact._hinted_lines(redact._any_literal(), text, text.lower()) == []
    mixed = "\n".join([*NEUTRAL, "PGPASSWORD=Hunter2Value99", *NEUTRAL, "token=abc"])
    assert redact._hinted_lines(redact._any_literal(), mixed, mixed.lower()) == [5, 11]


# -- a key's name spelled with a letter's non-ASCII case variant ----------------------------------------------------


@cache
def _case_variants() -> dict[str, str]:
    """Every character other than an ASCII letter that a case-insensitive pattern matches as an ASCII letter, asked of
    the regex engine itself over all of Unicode: {character: the letter}."""
    letters = re.compile("(?i)[a-z]")
    out: dict[str, str] = {}
    for code in range(0x80, sys.maxunicode + 1):
        char = chr(code)
        if letters.fullmatch(char):
            (letter,) = [a for a in string.ascii_lowercase if re.fullmatch(f"(?i){a}", char)]
            out[char] = letter
    return out


def test_the_fold_table_is_every_non_ascii_case_variant_of_a_letter() -> None:
    assert _case_variants() == redact._CASE_FOLDS


def _variant_lines() -> list[str]:
    """Lines holding a hint literal (lower and upper case) with one of its letters, then all of them, replaced by each
    of the letter's non-ASCII case variants, in the places the patterns read a key's name."""
    variants: dict[str, list[str]] = {}
    for char, letter in _case_variants().items():
        variants.setdefault(letter, []).append(char)
    value = "Zq8vR2xT9wK4mN7pL3"
    lines: list[str] = []
    for literal in redact._ALL_LITERALS:
        for word in {literal, literal.upper()}:
            spellings = []
            for at, char in enumerate(word):
                spellings += [word[:at] + v + word[at + 1:] for v in variants.get(char.lower(), ())]
            for v in {v for vs in variants.values() for v in vs}:
                spellings.append("".join(v if c.lower() == _case_variants()[v] else c for c in word))
            for spelled in dict.fromkeys(s for s in spellings if s != word):
                lines += [f"{spelled}={value}", f"export APP_{spelled}={value}", f'{{"{spelled}": "{value}"}}',
                          f"https://example.com/cb?{spelled}={value}", f"{spelled}: {value}", f"{spelled} {value}"]
    return lines


def test_no_case_variant_of_a_hint_literal_skips_a_line_the_patterns_redact(hints: None) -> None:
    """The pre-checks (a line's hint literals, the one search over a text's shape) never skip what the patterns
    would redact: every line comes out as all the patterns make it, alone and among other lines."""
    every = frozenset(redact._ALL_LITERALS)
    redact._found_cache.clear()
    lines = _variant_lines()
    expected = [redact._redact_line(line, every) for line in lines]
    assert [redact_text(line) for line in lines] == expected
    text = "\n\n".join([NEUTRAL[0], *lines, NEUTRAL[1]])
    assert redact_text(text) == "\n\n".join([NEUTRAL[0], *expected, NEUTRAL[1]])
    masked = [line for line, out in zip(lines, expected, strict=True) if out != line]
    assert len(masked) > 200, len(masked)  # (the patterns do match such spellings)
    assert redact_text("PA\u017f\u017fWORD=hunter2") == "PA\u017f\u017fWORD=***"
    assert redact_text("api_\u212aey=Zq8vR2xT9wK4mN7pL3") == "api_\u212aey=***"
    assert redact_text('{"pr\u0131vate_key": "Zq8vR2xT9wK4mN7pL3"}') == '{"pr\u0131vate_key": "***"}'
