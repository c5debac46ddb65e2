"""Secret redaction for every output: one redactor for tables, JSON, Markdown, JUnit, the audit log,
incident notes and webhook bodies.

`redact_text` masks, in this order:

- secrets registered at run time (`register_secret`: the configured webhook URL, which for Slack or
  Teams *is* the credential), wherever they appear;
- private key blocks (PEM, OpenPGP; a block cut short, as a traceback's local shows it, is its base64 lines);
  credentials in URLs (`scheme://user:password@host`, a token as the user name), tokens in URL queries (`?token=`,
  `&api_key=`, `sig=`, `;jsessionid=` ..., percent-encoded too: `%3Ftoken%3D`) and in URL paths (chat webhooks, long
  random path segments);
- `password=`/`pwd=`/`pw=`/`pass=` pairs, environment-style assignments (`PGPASSWORD=`, `AWS_SECRET_ACCESS_KEY=`,
  `*_TOKEN=`, `*_API_KEY=`, `DB_PASS=`, `SECRET_VALUE=`), JSON and Python-dict style `"password": "..."`, bytes header
  tuples (`(b'x-api-key', b'...')`, httpcore's debug log), Authorization headers (`Bearer`, `Basic`, `Negotiate` ...,
  Digest's `response=`), `x-api-key` headers, cookies' values (`Cookie:`, `Set-Cookie:`, cookie jars), JWTs, provider
  keys (`sk-...`, `sk_live_...`, `whsec_...`, `rnd_...`, `ghp_...`, `xox...`, `xapp-...`, `AIza...`, `ya29.`);
- then whatever the regex detectors of detect-secrets (a maintained secret-detection library: AWS,
  GitHub, GitLab, Slack, Stripe, OpenAI, SendGrid, npm, PyPI, Twilio, Azure ... keys) still find.

A line that spells ASCII characters with JSON escapes (`"\\u0070assword"`, PHP's `https:\\/\\/`) or percent-encodes a
letter, `_` or `-` (`?api%5Fkey=`) is redacted as its reader reads it, escapes written out, when that masks more than
the line as written.

Fast path: text with no hint of a secret (a few substring tests) is returned as is, and in longer text only
the lines with a hint are scanned; detect-secrets is imported only when a line has a hint.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import cache, lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from mosaic_diag.platform import recache
from mosaic_diag.platform.digest import key_hash
from mosaic_diag.platform.lazyre import LazyPattern

MASK = "***"

# the password runs to the LAST '@' of the authority: an unescaped '@' in it must not leave its tail showing
_URL_PASSWORD = LazyPattern(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]{0,39}://[^:/?#@\s]*:)(?P<pw>[^/?#\s]+)(?=@[^@/?#\s]*)")
# a database URL's password may hold '/', '?', '#' and '@' unescaped (a generated password, written as it is): it runs
# to the last '@' before the host, so that no part of it shows (libpq and urlsplit cut it at the '/'); at most 1,024
# characters of it (unbounded, each `postgres://` of a run read the run to its end looking for an '@': "postgres://"
# repeated cost the square of its length, 33,000 characters 1.3 s)
_DSN_PASSWORD = LazyPattern(r"(?P<pre>\b(?:postgres(?:ql)?|mysql|mariadb|redis|rediss|amqps?|mongodb(?:\+srv)?)"
                            r"(?:\+[A-Za-z0-9]+)?://[^:/?#@\s]*:)(?P<pw>[^\s'\"<>]{1,1024})(?=@[^@/?#\s'\"<>]*)")
_URL_TOKEN_USER = LazyPattern(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]{0,39}://)(?P<tok>[A-Za-z0-9_\-.~]{20,})(?=@)")
# libpq's error about a DSN with an unescaped '@': `could not translate host name "TAIL@host"` (its quote escaped too:
# the error in a JSON answer, `host name \"TAIL@host\"`, quoted again in a JSON report)
_HOST_WITH_AT = LazyPattern(r'(host name \\*")[^"\s\\]*@')
_USERINFO_PASSWORD = LazyPattern(r":([^:@/\s]+)@")  # `user:pw@host`, with or without a scheme
# (values in quotes escaped as a JSON string holds them, `password=\"…\"`, are quoted values too; a bare value stops
# before a backslash, so that a JSON string's escape is never cut in half: the output stays valid JSON)
_ESCAPED_QUOTED = r'\\"(?:[^"\\]|\\[^"])*\\"'
# (`pass=` and `pw=` too: `--pass=…`, `user=app pass=…`; a count after `pass=` is a test summary's, `pass=12 fail=0`)
_KEYWORD_PASSWORD = LazyPattern(r"(?i)\b(password|passwd|pwd|pw|pass)\s*=\s*(" + _ESCAPED_QUOTED
                                + r"|'[^']*'|\"[^\"]*\"|[^\s'\"\\]+)")
_SECRET_WORDS = (r"password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
                 r"client[_-]?secret|auth[_-]?token|access[_-]?token|refresh[_-]?token|authorization|credentials?|"
                 r"subscription[_-]?key")
# a word after a secret's name that names its value, not something else about it (`secret_value`, AWS Secrets
# Manager's `SecretString`; not `token_count`, `password_length`)
_VALUE_SUFFIX = r"(?:[_\-]?(?:value|string|binary|plain(?:text)?|raw|data|bytes))?"
# a key's name that holds a secret: one ending in a secret word (and its value's suffix), or `pass` / `pw` alone or
# as the last word (`db_pass`, `smtp-pw`; not `bypass`, `compass`)
_SECRET_NAME = (r"(?:[A-Za-z0-9_\-]*(?:" + _SECRET_WORDS + r")" + _VALUE_SUFFIX
                + r"|(?:[A-Za-z0-9_\-]*[_\-])?(?:pass|pw))")
# PGPASSWORD=..., AWS_SECRET_ACCESS_KEY=..., GITHUB_TOKEN: ..., export STRIPE_API_KEY="..."
# (and a header's name, words joined by `-`: `Api-Key: …`, `x-goog-api-key: …`, `Ocp-Apim-Subscription-Key: …`)
_ENV_SECRET = LazyPattern(r"(?i)(?<![/\\])\b(?P<name>[A-Z0-9_\-]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API[_\-]KEY|APIKEY|"
                          r"ACCESS[_\-]KEY|PRIVATE[_\-]KEY|SECRET[_\-]KEY|SUBSCRIPTION[_\-]KEY|CREDENTIALS)"
                          + _VALUE_SUFFIX + r"|[A-Z0-9_\-]*[_\-](?:PASS|PW))"
                          r"(?P<sep>\s*[=:]\s*)"
                          r"(?!\d+:(?:\d+:)?(?:\s|$))"  # a file's `path:LINE:` (`passwd:1: …`), not a value
                          r"(?P<val>" + _ESCAPED_QUOTED + r"|'[^']*'|\"[^\"]*\"|[^\s'\",;&\\]+)")
# "password": "...", 'api_key': '...', "token":"..."
_QUOTED_SECRET = LazyPattern(r"(?i)(?P<key>[\"']" + _SECRET_NAME + r"[\"'])(?P<sep>\s*:\s*)"
                             r"(?P<q>[\"'])(?P<val>(?:(?!(?P=q))[^\\]|\\.)*)(?P=q)")
# the same inside a JSON string (a JSON body quoted in a JSON report): \"password\": \"...\"
_ESCAPED_SECRET = LazyPattern(r'(?i)(?P<key>\\"' + _SECRET_NAME + r'\\")(?P<sep>\s*:\s*)'
                              r'(?P<q>\\")(?P<val>.*?)\\"')
_QUERY_NAMES = (r"(?:" + _SECRET_NAME + r"|key|sig|signature|code|auth|j?sessionid|phpsessid|x-amz-signature|"
                r"x-amz-credential)")
_QUERY_TOKEN = LazyPattern(r"(?i)(?P<pre>[?&;]" + _QUERY_NAMES + r"=)(?P<val>[^&#\s\"'<>\\]+)")
# the same in a URL that is itself a query's value, percent-encoded (`?next=https%3A%2F%2Fapp%2Fcb%3Ftoken%3D…`, an
# OAuth `redirect_uri`, a login's return URL): `%3F`/`%26`/`%3B` before the name, `%3D` after it, the value up to
# an encoded `&` or `#`
_ENCODED_QUERY_TOKEN = LazyPattern(r"(?i)(?P<pre>(?:[?&;]|%3F|%26|%3B)" + _QUERY_NAMES + r"%3D)"
                                   r"(?P<val>(?:[^%&#\s\"'<>\\]|%(?!2[36])[0-9A-F]{2})+)")
# chat webhooks: the path is the credential
_WEBHOOK_PATH = LazyPattern(r"(?i)(?P<pre>https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)|"
                            r"(?:[a-z0-9-]+\.)?discord(?:app)?\.com/api/webhooks|"
                            r"[a-z0-9-]+\.webhook\.office\.com|outlook\.office(?:365)?\.com/webhook|"
                            r"api\.telegram\.org/bot))(?P<val>[^\s\"'<>?#]+)")
# a long random path segment (letters and digits, not a plain hex digest or a word): a token in the path, within the
# first 64 segments (unbounded, each `scheme://` of a run read every segment after it: "a://b/" repeated cost the
# square of its length, 33,000 characters 1.6 s)
_PATH_TOKEN = LazyPattern(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]{0,39}://[^/\s\"'<>]+(?:/[^/\s\"'<>?#]*){0,63}?/)"
                          r"(?P<val>(?=[A-Za-z0-9_\-]*[0-9])(?=[A-Za-z0-9_\-]*[A-Za-z])(?![0-9a-fA-F\-]+(?:[/?#\s\"'<>]|$))"
                          r"[A-Za-z0-9_\-]{28,})")
_API_KEYS = LazyPattern(
    r"\b(sk-ant-[A-Za-z0-9_\-]{6,}|sk-(?:proj-)?[A-Za-z0-9_\-]{16,}|rnd_[A-Za-z0-9]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_\-]{20,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}|xapp-\d-[A-Za-z0-9\-]{10,}|[rs]k_(?:live|test)_[A-Za-z0-9]{10,}"
    r"|whsec_[A-Za-z0-9+/=]{20,}|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{35}|ya29\.[0-9A-Za-z_\-]{20,})"
)
_JWT = LazyPattern(r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*")
# (an Authorization header's scheme, then its credential: `Basic`, `Negotiate`, `NTLM`, `AWS4-HMAC-SHA256` …; a scheme
# of 8 letters or more was taken for the credential and masked, the credential shown. Digest's parameters,
# `username="…"`, are not one credential: its `response` is masked by _DIGEST_RESPONSE)
_AUTH_SCHEMES = (r"basic|token|negotiate|ntlm|kerberos|apikey|api-key|key|ssws|sso-key|dpop|splunk|aws4-hmac-sha256|"
                 r"gitlab|vapid|hawk|mac")
# (a challenge's parameter, `Bearer error_description="…"`, is no credential; a credential is masked whole: a quote
# after it, `curl -H "Authorization: Bearer …"`, once kept its last character shown)
_BEARER = LazyPattern(r"(?i)\b(bearer|x-api-key:?|(?:proxy-)?authorization:\s*(?:(?:" + _AUTH_SCHEMES + r")\b)?)"
                      r"\s+(?![A-Za-z_\-]+=\\?\")([A-Za-z0-9._\-+/=~]{8,})")
# HTTP Digest authentication's `response="…"` (a hash of the password, the nonce and the request: cracked offline, it
# gives the password), in an Authorization or Proxy-Authorization header
_DIGEST_RESPONSE = LazyPattern(r"(?i)(?P<pre>\bdigest\s[^\n]*?\bresponse\s*=\s*(?:\\*\")?)[0-9a-f]{16,}")
# a Cookie / Set-Cookie header's value, as a header line (`Cookie: a=1; b=2`, curl's `> Cookie:`), a dict's or JSON's
# item (`{'Cookie': '…'}`, requests' and httpx's headers), a bytes header tuple (`(b'set-cookie', b'…')`: httpcore's
# debug log) or curl's `--cookie`: a cookie's value is a credential (a session's). Each cookie's value is masked
# (`_COOKIE_PAIR`), its name and Set-Cookie's attributes kept; the value runs to a quote, a backslash (a JSON string's
# escape, http.client's `\r\n`) or the line's end
_COOKIE_HEADER = LazyPattern(r"(?i)(?P<pre>\b(?:set-)?cookie2?(?:\\?[\"']\s*[:,]\s*b?\\?[\"']|\s*:\s*)"
                             r"|--cookie(?:=|\s+)[\"']?)(?P<val>[^'\"\\\n]+)")
_COOKIE_PAIR = LazyPattern(r"(?P<pre>(?:^|[;,])\s*(?P<name>[^\s=;,]+)\s*=\s*)(?P<val>[^;,\s]+)")
_COOKIE_ATTRIBUTES = frozenset({"path", "domain", "expires", "max-age", "samesite", "secure", "httponly", "priority",
                                "partitioned", "version", "comment", "commenturl", "discard", "port"})
# a cookie as Python's cookie jars show it: `<Cookie sessionid=… for example.com/>` (requests' and httpx's jars),
# `Cookie(version=0, name='sessionid', value='…', …)` (http.cookiejar's repr), `<SimpleCookie: sessionid='…'>`
_COOKIE_OBJECT = LazyPattern(r"(?P<pre><Cookie [^\s=<>]+=)(?P<val>[^\s<>]+)(?= for )"
                             r"|(?P<pre2>\bCookie\(version=[^()]*?\bvalue=(?P<q>['\"]))(?P<val2>[^'\"]*)(?P=q)"
                             r"|(?P<pre3><SimpleCookie: )(?P<val3>[^<>]*)(?=>)")
_SIMPLE_COOKIE_VALUE = LazyPattern(r"(?P<pre>[^\s=]+=(?P<q>['\"]?))(?P<val>(?:(?!(?P=q))[^\s\\])+)")
# a header of a bytes tuple, as h11 / httpcore / an ASGI scope hold them (`(b'x-api-key', b'…')`: httpcore's debug
# log of a response's headers, an app logging `request.headers.raw` or `scope['headers']`): the name a secret's
_BYTES_HEADER = LazyPattern(r"(?i)(?P<pre>\bb(?P<q>[\"'])" + _SECRET_NAME + r"(?P=q),\s*b(?P<q2>[\"']))"
                            r"(?P<val>(?:(?!(?P=q2))[^\\]|\\.)*)(?P=q2)")
# (a block masked already, `-----BEGIN … PRIVATE KEY----- ***`, has no END line: read as a block cut by the end of the
# text, redacting again masked all after it.) A block with no END (a traceback's local cut short by rich's or
# loguru's repr: `'-----BEGIN RSA PRIVATE KEY-----\nMIIC…'+811`, a cut log) is its base64 lines only: to the end of the
# text, it masked the traceback after it. Its marker's words may be split over two lines, between a panel's
# borders (`│ key = '-----BEGIN RSA PRIVATE   │` / `│       KEY-----\nMIIC…`: rich's locals at a console's width)
_PEM_SPACE = r"(?:[ \t]+|[ \t│┃║|]*\r?\n[ \t│┃║|]*)"
_PRIVATE_KEY = LazyPattern(r"-----BEGIN" + _PEM_SPACE + r"(?P<kind>(?:[A-Z0-9]+" + _PEM_SPACE + r")*?)PRIVATE"
                           + _PEM_SPACE + r"KEY(?P<block>" + _PEM_SPACE + r"BLOCK)?-----(?! " + re.escape(MASK) + r")"
                           r"(?P<body>.*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
                           r"|(?:(?:\r?\n|\\+(?:r\\+)?n)(?:[A-Za-z0-9+/=]*(?=\r?\n|\\+[rn]|['\"]|\.\.\.|…|\Z)"
                           r"|(?:Proc-Type|DEK-Info|Version|Comment|Hash|Charset): [^\n\\]*))*)", re.DOTALL)


def _query_masked(m: re.Match[str]) -> str:
    """A query's secret value masked; one masked before kept as it is (`&api_key=***+811…`: what was glued to the
    mask is not the value's)."""
    return m.group(0) if m.group("val").startswith(MASK) else m.group("pre") + MASK


def _keyword_masked(m: re.Match[str]) -> str:
    """`password=…` (`_KEYWORD_PASSWORD`) masked; `pass=12` (a count of passed tests) kept, and a value a pattern
    before masked (`?password=***&page=2`: the query's next item is not the password's)."""
    if m.group(2).startswith(MASK) or (m.group(1).lower() == "pass" and m.group(2).isdigit()):
        return m.group(0)
    return f"{m.group(1)}={MASK}"


def _pem_masked(m: re.Match[str]) -> str:
    """A private key block masked: its BEGIN line (its words on one line), then the mask; a marker that no key
    follows (`see -----BEGIN RSA PRIVATE KEY----- in the docs`) as it is."""
    if not m.group("body"):
        return m.group(0)
    kind = "".join(f"{word} " for word in re.findall(r"[A-Z0-9]+", m.group("kind")))
    return f"-----BEGIN {kind}PRIVATE KEY{' BLOCK' if m.group('block') else ''}----- {MASK}"


def _cookie_values(m: re.Match[str]) -> str:
    """A Cookie / Set-Cookie header's value (`_COOKIE_HEADER`) with each cookie's value masked."""
    masked = _COOKIE_PAIR.sub(lambda p: p.group(0) if p.group("name").lower() in _COOKIE_ATTRIBUTES
                              or p.group("val") == MASK else p.group("pre") + MASK, m.group("val"))
    return m.group("pre") + masked


def _cookie_object(m: re.Match[str]) -> str:
    """A cookie jar's cookie (`_COOKIE_OBJECT`) with its value masked."""
    if m.group("pre") is not None:
        return m.group("pre") + MASK
    if m.group("pre2") is not None:
        return f"{m.group('pre2')}{MASK}{m.group('q')}"
    return m.group("pre3") + _SIMPLE_COOKIE_VALUE.sub(lambda p: p.group("pre") + MASK, m.group("val3"))

# how each alternative of _API_KEYS (case-sensitive) starts: text without any of them holds no such key
_API_KEY_STARTS = ("sk-", "rnd_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xoxa-", "xoxb-",
                   "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xapp-", "rk_live_", "rk_test_", "sk_live_", "sk_test_",
                   "whsec_", "AKIA", "ASIA", "AIza", "ya29.")
_KEY_PREFIXES = ("sk-", "rnd_", "gh", "github_pat", "glpat-", "xox", "xapp-", "sk_", "rk_", "whsec_", "akia", "asia",
                 "aiza", "ya29.")
# the starts of _API_KEY_STARTS each hint literal of _KEY_PREFIXES stands for (only those are looked for in a line)
_KEY_STARTS = {lit: tuple(start for start in _API_KEY_STARTS if start.lower().startswith(lit)) for lit in _KEY_PREFIXES}
# every _SECRET_WORDS word, and `pw` as a key's name ends (`pw=`, `"pw":`, `\"pw\"`, `db_pw`)
_PW_LITERALS = ("pw=", "pw\"", "pw'", "pw\\", "_pw", "-pw")
_SECRET_LITERALS = ("pass", "pwd", "secret", "token", "key", "auth", "credential", *_PW_LITERALS)
_ENV_LITERALS = ("password", "passwd", "secret", "token", "api_key", "apikey", "access_key", "private_key",
                 "credentials", "api-key", "access-key", "private-key", "subscription_key", "subscription-key",
                 "_pass", "-pass", "_pw", "-pw")
# a JSON or Python escape of an ASCII character (`\u0070`, `\/`), a percent-encoded letter, `_` or `-` (`api%5Fkey`,
# `pass%77ord`): a line holding one is redacted as its reader reads it too (`_unescaped_ascii`)
_ESCAPE_LITERALS = frozenset({"\\u00", "\\/", "%2d", "%5", "%4", "%6", "%7"})

# a line with none of these (lower-cased) can match no pattern here nor any detector below: one pass of
# substring tests instead of a regex search per pattern (on the line folded first: `_folded`)
_HINTS = (
    "://", "pass", "pwd", "secret", "token", "key", "auth", "bearer", "credential", "signature", "sig=", "code=",
    "host name", "sk-", "sk_", "rk_", "rnd_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat", "glpat-",
    "gldt-", "glptt-", "glrt-", "glsoat-", "glft-", "glimt-", "glagent-", "gloas-", "glcbt-", "gr1348941", "xox",
    "eyj", "akia", "asia", "abia", "acca", "a3t", "sg.", "npm_", "pypi-", "-us", "hooks.", "webhook", "cloudant",
    "sq0", "private key", "aws", "accountkey", "ibm", "hmac", "softlayer", "t3blbkfj", "_authtoken", "%3d",
    *_ESCAPE_LITERALS, *_PW_LITERALS, "cookie", "sessionid", "sessid", "response=", "-----begin", "xapp-", "whsec_",
    "aiza", "ya29.",
)


# the characters other than ASCII letters that a case-insensitive pattern here (or a detector's) matches as an ASCII
# letter of a hint literal (`(?i)s` matches `ſ`, `(?i)k` the Kelvin sign, `(?i)i` both `İ` and `ı`): lower-casing
# keeps `ſ` and `ı` and makes `İ` two characters, so a line spelling a key's name with them (`PAſſWORD=hunter2`) held no
# literal and was skipped, its secret shown. Folded to their letter before the literals are looked for (one
# character for one: positions stay the text's); an ASCII line is not touched
_CASE_FOLDS = {"\u017f": "s", "\u212a": "k", "\u0130": "i", "\u0131": "i"}
_CASE_FOLDED = str.maketrans(_CASE_FOLDS)


def _folded(text: str) -> str:
    """`text` with the characters of `_CASE_FOLDS` made their ASCII letter (ASCII text as it is)."""
    return text if text.isascii() else text.translate(_CASE_FOLDED)


def _found(line: str) -> frozenset[str]:
    """The hint literals in `line` (empty: nothing to redact). One set comprehension of C substring tests,
    done once per line shape: lines that differ only in their digits (line numbers, timestamps, counters
    of one event after another) share the tests of the literals without a digit (no literal holds the `#`
    the digits become, so blanking them neither makes nor breaks such a literal, and lower-casing does the
    same to both lines but for their digits); a literal with a digit is tested on a line only when its
    shape has the literal's letters in place."""
    key = line.encode("utf-8", "surrogatepass").translate(_DIGITS_BLANKED)
    known = _found_cache.get(key)
    if known is None:
        if len(_found_cache) >= 4096:
            _found_cache.clear()
        low = _folded(line).lower()
        shape = low.translate(_DIGITS_BLANKED_STR)
        hints = _any_literal()
        if hints is not None and hints.search(shape) is None:  # most lines: one search, not a test per literal
            known = _found_cache[key] = _NOTHING
        else:
            known = _found_cache[key] = (frozenset(h for h in _PLAIN_LITERALS if h in low),
                                         tuple(h for h in _DIGIT_LITERALS if h.translate(_DIGITS_BLANKED_STR) in shape))
    found, maybe = known
    if maybe:
        low = _folded(line).lower()
        digits = [h for h in maybe if h in low]
        return found.union(digits) if digits else found
    return found


# detect-secrets' regex detectors this redactor runs: (module, class, literals one of which a line must hold,
# lower-cased, for the detector to be worth running); every literal is also in _HINTS
_DETECTORS = (
    ("aws", "AWSKeyDetector", ("akia", "asia", "abia", "acca", "a3t", "aws")),
    ("azure_storage_key", "AzureStorageKeyDetector", ("accountkey",)),
    ("basic_auth", "BasicAuthDetector", ("://",)),
    ("cloudant", "CloudantDetector", ("cloudant",)),
    ("github_token", "GitHubTokenDetector", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    ("gitlab_token", "GitLabTokenDetector", ("glpat-", "gldt-", "glptt-", "glrt-", "glsoat-", "glft-", "glimt-",
                                             "glagent-", "gloas-", "glcbt-", "gr1348941")),
    ("ibm_cloud_iam", "IbmCloudIamDetector", ("ibm",)),
    ("ibm_cos_hmac", "IbmCosHmacDetector", ("ibm", "hmac")),
    ("jwt", "JwtTokenDetector", ("eyj",)),
    ("mailchimp", "MailchimpDetector", ("-us",)),
    ("npm", "NpmDetector", ("npm_", "_authtoken")),
    ("openai", "OpenAIDetector", ("t3blbkfj",)),
    ("pypi_token", "PypiTokenDetector", ("pypi-",)),
    ("sendgrid", "SendGridDetector", ("sg.",)),
    ("slack", "SlackDetector", ("xox", "hooks.slack.com")),
    ("softlayer", "SoftlayerDetector", ("softlayer",)),
    ("square_oauth", "SquareOAuthDetector", ("sq0",)),
    ("stripe", "StripeDetector", ("sk_live_", "rk_live_")),
)

_BEARER_LITERALS = frozenset({"bearer", "x-api-key", "authorization"})
_ALL_LITERALS = tuple(sorted(set(_HINTS) | set(_KEY_PREFIXES) | set(_SECRET_LITERALS) | set(_ENV_LITERALS)
                             | _BEARER_LITERALS | {lit for _, _, lits in _DETECTORS for lit in lits}))
_DETECTOR_LITERALS = frozenset(lit for _, _, lits in _DETECTORS for lit in lits)
_DIGIT_LITERALS = tuple(h for h in _ALL_LITERALS if any(c.isdigit() for c in h))
_PLAIN_LITERALS = tuple(h for h in _ALL_LITERALS if h not in _DIGIT_LITERALS)
_DIGITS_BLANKED = bytes.maketrans(b"0123456789", b"##########")
_DIGITS_BLANKED_STR = str.maketrans("0123456789", "##########")
_found_cache: dict[bytes, tuple[frozenset[str], tuple[str, ...]]] = {}
_NOTHING: tuple[frozenset[str], tuple[str, ...]] = (frozenset(), ())
_ANY_LITERAL: list[re.Pattern[str]] = []


def _any_literal() -> re.Pattern[str] | None:
    """A search of a line's shape (lower-cased, its digits `#`) that finds a hint literal wherever one is (or the
    blanked form of one with a digit, as `_found` tests them): found nowhere, the line has none. The literals by
    their first character, each group one branch (`a(?:#t|bia|cca|…)|b(?:earer)|…`): the engine skips a position
    whose character starts none and tries few alternatives at the others. Made from the kept regex code
    (`recache`) once a command has loaded it (a triage that classifies anything); before, None: a short run (an
    empty log's) tests the literals one by one rather than load or compile a pattern for a few lines."""
    if not _ANY_LITERAL:
        if not recache.loaded():
            return None
        every = {*_PLAIN_LITERALS, *(h.translate(_DIGITS_BLANKED_STR) for h in _DIGIT_LITERALS)}
        # (a literal holding another is found wherever that one is: only the others are searched for)
        shapes = sorted(h for h in every if not any(o != h and o in h for o in every))
        by_first: dict[str, list[str]] = {}
        for literal in shapes:
            by_first.setdefault(literal[0], []).append(re.escape(literal[1:]))
        _ANY_LITERAL.append(recache.compile("|".join(f"{re.escape(first)}(?:{'|'.join(rests)})"
                                                     for first, rests in by_first.items())))
    return _ANY_LITERAL[0]


# the words a _QUOTED_SECRET / _ESCAPED_SECRET key ends with, by the hint literal each holds: such a key
# is a quoted name ending in one of them, so one of them stands right before a quote or a backslash
_KEY_ENDS = {"pass": ("password", "passwd", "pass"), "pwd": ("pwd",), "secret": ("secret",), "token": ("token",),
             "key": ("key",), "auth": ("authorization",), "credential": ("credential", "credentials"),
             "pw\"": ("pw",), "pw'": ("pw",), "pw\\": ("pw",)}
# what follows a key's end in a quoted key's name: its closing quote, or a word naming the value then the quote
# (`"secret_value"`, `'SecretString'`: `_VALUE_SUFFIX`)
_KEY_END_QUOTE = LazyPattern(_VALUE_SUFFIX + r"[\"'\\]")


def _quoted_key(text: str, found: frozenset[str]) -> bool:
    """Whether `text` may hold a quoted secret key (`"api_key":`, `\\"password\\":`): exact for ASCII text
    (the patterns are case-insensitive, the test is on the lower-cased text); other text is always tried."""
    if not text.isascii():
        return True
    low = text.lower()
    for lit in found.intersection(_KEY_ENDS):
        for end in _KEY_ENDS[lit]:
            at = low.find(end)
            while at >= 0:
                at += len(end)
                if _KEY_END_QUOTE.match(low, at) is not None:
                    return True
                at = low.find(end, at)
    return False

# what every _ENV_SECRET match holds: the end of its name (one of its words), then its separator. Searched in the
# lower-cased text without the name's `[A-Z0-9_]*`, which the engine retries at every word of a line (most of a JSON
# report's redaction when it ran on every line with a `token` or a `key` and a colon)
_ENV_NAME_END = LazyPattern(r"(?:[_\-](?:pass|pw)|(?:password|passwd|secret|token|api[_\-]key|apikey|access[_\-]key|"
                            r"private[_\-]key|secret[_\-]key|subscription[_\-]key|credentials)" + _VALUE_SUFFIX
                            + r")\s*[=:]")


def _env_name_sep(text: str) -> bool:
    """Whether `text` may hold an _ENV_SECRET match: exact for ASCII text (the pattern is case-insensitive, this
    test is on the lower-cased text); other text is always tried."""
    return not text.isascii() or _ENV_NAME_END.search(text.lower()) is not None


_known_lock = threading.Lock()
_known: dict[str, str] = {}  # secret -> how it is shown


def register_secret(value: str | None, shown: str | None = None) -> None:
    """Mask `value` wherever it appears in any later output (e.g. the configured webhook URL)."""
    if not value or len(value) < 6:
        return
    with _known_lock:
        _known[value] = shown if shown is not None else (redact_url(value) if "://" in value else MASK)


# an environment variable whose value is a secret by its name (OPENAI_API_KEY, RENDER_API_KEY, PGPASSWORD, ...)
_SECRET_ENV_NAME = LazyPattern(r"(?i)(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY|"
                               r"SECRET_KEY|CREDENTIALS)$")
ENV_SECRET_MIN = 12  # shorter values are left to the patterns: a short one (`postgres`) would mask common words


def register_env_secrets(env: Mapping[str, str]) -> None:
    """Mask the value of every secret-named variable of `env` wherever it appears later: a provider that echoes
    a key of no known shape (an Azure OpenAI key is 32 hex digits, a gateway's key anything) in its error."""
    for name, value in env.items():
        if len(value) >= ENV_SECRET_MIN and _SECRET_ENV_NAME.search(name):
            register_secret(value)


def redact_url(url: str) -> str:
    """`https://hooks.slack.com/services/T0/B0/XYZ` -> `https://hooks.slack.com/***`: scheme and host only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    if not parts.scheme or not host:
        return MASK
    return f"{parts.scheme}://{host}{port}/{MASK}"


DetectorSources = tuple[tuple[tuple[str, ...], tuple[tuple[str, int], ...]], ...]
_DETECTORS_FORMAT = "detectors-1"  # a change makes every cache key new


@lru_cache(maxsize=1)
def _detector_sources() -> DetectorSources:
    """(literals, (pattern, flags) of each denylist regex) of each detect-secrets detector this redactor runs.
    Importing detect-secrets (it imports requests) costs more than a triage's start-up: what it gives is kept in
    the on-disk cache (`yamlcache.put_plain`) under a key of the installed detect-secrets' files."""
    from mosaic_diag.platform import yamlcache

    key = _detectors_key()
    if key is not None:
        found = yamlcache.get_plain(key)
        if found is not yamlcache.MISS:
            return found
    out = _imported_detector_sources()
    if key is not None:
        yamlcache.put_plain(key, out)
    return out


_DETECT_SECRETS_LOGGER = "detect-secrets"


def _imported_detector_sources() -> DetectorSources:
    import logging
    import warnings
    from importlib import import_module

    out = []
    shown = warnings.showwarning
    # detect-secrets' own logger as the app set it up, if it did (detect-secrets resets it when imported)
    found = logging.Logger.manager.loggerDict.get(_DETECT_SECRETS_LOGGER)
    app_set = ((found, found.level, found.propagate, found.disabled, list(found.handlers))
               if isinstance(found, logging.Logger) else None)
    try:
        for module, name, literals in _DETECTORS:
            try:
                cls = getattr(import_module(f"detect_secrets.plugins.{module}"), name)
            # an older or newer detect-secrets: use what it has
            except (ImportError, AttributeError):  # mosaic-diag: ignore[MD006]
                continue
            out.append((literals, tuple((p.pattern, p.flags) for p in cls.denylist
                                        if isinstance(p, re.Pattern) and isinstance(p.pattern, str))))
    finally:
        # detect-secrets' logger module calls logging.captureWarnings(True) when it is imported: in an app (the
        # runtime kit redacts there) every warning would have gone to the `py.warnings` logger from then on
        if warnings.showwarning is not shown:
            logging.captureWarnings(False)
        # and its logger module empties the handlers of its logger `detect-secrets`, gives it one of its own on
        # stderr and sets it to ERROR: put back as the app had configured it (one it had not is detect-secrets' own)
        if app_set is not None:
            logger, level, propagate, disabled, handlers = app_set
            logger.handlers, logger.propagate, logger.disabled = handlers, propagate, disabled
            logger.setLevel(level)  # (which forgets the loggers' cached effective levels)
    return tuple(out)


def _detectors_key() -> str | None:
    """The cache key of the installed detect-secrets (where, when, how big: the files its detectors' patterns come
    from), found without importing it; None when it cannot be told."""
    from importlib.util import find_spec

    try:
        spec = find_spec("detect_secrets")
        origin = spec.origin if spec is not None else None
        if not origin:
            return None
        top = os.path.dirname(origin)
        files = [origin, os.path.join(top, "__version__.py"), os.path.join(top, "plugins", "base.py"),
                 *(os.path.join(top, "plugins", f"{module}.py") for module, _, _ in _DETECTORS)]
        stats = [(f, os.stat(f)) for f in files]
    except (ImportError, ValueError, OSError):
        return None
    stamp = "\0".join(f"{f}:{st.st_mtime_ns}:{st.st_size}" for f, st in stats)
    return key_hash(f"{_DETECTORS_FORMAT}\0{stamp}".encode("utf-8", "surrogatepass")).hexdigest()


@cache
def _detector_patterns(index: int) -> tuple[re.Pattern[str], ...]:
    """The compiled denylist regexes of the `index`-th detector of `_detector_sources()` (compiled on first need)."""
    return tuple(recache.compile(pattern, flags) for pattern, flags in _detector_sources()[index][1])


def _mask_match(m: re.Match[str]) -> str:
    """A detector match masked: its secret group when it has a long one (basic auth's password), else all
    of it but a short prefix that names the kind (`ghp_`, `AKIA`, `eyJh`)."""
    text = m.group(0)
    groups = [(m.start(i), m.end(i)) for i in range(1, (m.re.groups or 0) + 1) if m.group(i)]
    if groups:
        start, end = max(groups, key=lambda span: span[1] - span[0])
        if end - start >= 8:
            base = m.start(0)
            return text[:start - base] + MASK + text[end - base:]
    return (text[:4] if len(text) >= 20 else "") + MASK



def _redact_line(text: str, found: frozenset[str]) -> str:
    """`text` (one line) with its secrets masked; `found`: its hint literals (each pattern runs only when
    a literal it needs is there)."""
    if not found.isdisjoint(_ESCAPE_LITERALS):
        # a secret's name or a URL's `://` spelled with escapes (`{"\u0070assword": …}`) matched no pattern, its
        # value shown: the line is redacted as its reader reads it (the escapes written out), shown so when that masks
        # more
        found = found - _ESCAPE_LITERALS
        plain = _unescaped_ascii(text)
        if plain != text:
            plain_found = _found(plain) - _ESCAPE_LITERALS  # (a non-ASCII character's escape stays: not back here)
            masked = _redact_line(plain, plain_found) if plain_found else plain
            redacted = _redact_line(text, found) if found else text
            if masked != _unescaped_ascii(redacted) and masked.count(MASK) >= redacted.count(MASK):
                return masked
            return redacted
        if not found:
            return text
    if "private key" in found:  # a key written on one line (JSON-escaped newlines)
        text = _PRIVATE_KEY.sub(_pem_masked, text)
    if "://" in found:
        if "@" in text:  # (each of these three ends before an `@`)
            text = _DSN_PASSWORD.sub(lambda m: m.group("pre") + MASK, text)
            text = _URL_PASSWORD.sub(lambda m: m.group("pre") + MASK, text)
            text = _URL_TOKEN_USER.sub(lambda m: m.group("pre") + MASK, text)
        text = _WEBHOOK_PATH.sub(lambda m: m.group("pre") + ("" if m.group("pre").endswith("/") else "/") + MASK,
                                 text)
        text = _PATH_TOKEN.sub(lambda m: m.group("pre") + MASK, text)
    if "host name" in found:
        text = _HOST_WITH_AT.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    if "cookie" in found:
        text = _COOKIE_OBJECT.sub(_cookie_object, _COOKIE_HEADER.sub(_cookie_values, text))
    if "response=" in found:
        text = _DIGEST_RESPONSE.sub(lambda m: m.group("pre") + MASK, text)
    if "=" in text:
        text = _QUERY_TOKEN.sub(_query_masked, text)
    if "%3D" in text or "%3d" in text:
        text = _ENCODED_QUERY_TOKEN.sub(_query_masked, text)
    if "eyj" in found:
        text = _JWT.sub(lambda m: m.group(0)[:3] + MASK, text)
    if not found.isdisjoint(_KEY_PREFIXES) and any(start in text for lit in found.intersection(_KEY_PREFIXES)
                                                   for start in _KEY_STARTS[lit]):
        text = _API_KEYS.sub(lambda m: m.group(1)[:3] + MASK, text)
    if not found.isdisjoint(_SECRET_LITERALS):
        quoted = ":" in text and _quoted_key(text, found)
        if quoted and '\\"' in text:
            text = _ESCAPED_SECRET.sub(lambda m: f"{m.group('key')}{m.group('sep')}{m.group('q')}{MASK}{m.group('q')}"
                                       if m.group("val") and MASK not in m.group("val") else m.group(0), text)
        if quoted:
            text = _QUOTED_SECRET.sub(lambda m: f"{m.group('key')}{m.group('sep')}{m.group('q')}{MASK}{m.group('q')}"
                                      if m.group("val") and MASK not in m.group("val") else m.group(0), text)
        if ", b'" in text or ', b"' in text:
            text = _BYTES_HEADER.sub(lambda m: m.group("pre") + MASK + m.group("q2")
                                     if m.group("val") and m.group("val") != MASK else m.group(0), text)
        if "=" in text or ":" in text:
            if "pass" in found or "pwd" in found or "pw=" in found:
                text = _KEYWORD_PASSWORD.sub(_keyword_masked, text)
            if not found.isdisjoint(_ENV_LITERALS) and _env_name_sep(text):
                text = _ENV_SECRET.sub(lambda m: f"{m.group('name')}{m.group('sep')}{MASK}"
                                       if MASK not in m.group("val") else m.group(0), text)
    if not found.isdisjoint(_BEARER_LITERALS):
        text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}" if not m.group(2).startswith(MASK) else m.group(0),
                           text)
    if found.isdisjoint(_DETECTOR_LITERALS):  # detect-secrets is not even imported
        return text
    for index, (literals, _) in enumerate(_detector_sources()):
        if not found.isdisjoint(literals):
            for pattern in _detector_patterns(index):
                text = pattern.sub(_mask_match, text)
    return text


# a JSON (or Python) string's escape of a printable ASCII character other than a quote or a backslash (`\u0070` for
# `p`, JSON's `\/` for `/`), its backslash doubled by each level of quoting (a JSON log line quoted in a JSON report)
# (and a percent-encoded letter, `_` or `-`: a server reads `?api%5Fkey=` as `?api_key=`, a logged URL shows it encoded)
_ESCAPED_ASCII = LazyPattern(r"\\+(?:u00(?P<hex>2[013-689a-fA-F]|[346][0-9a-fA-F]|5[0-9abd-fABD-F]|7[0-9a-eA-E])|/)"
                             r"|%(?P<pct>2[dD]|5[fF]|4[1-9a-fA-F]|5[0-9aA]|6[1-9a-fA-F]|7[0-9aA])")


def _unescaped_ascii(text: str) -> str:
    """`text` with `_ESCAPED_ASCII`'s escapes (their backslashes all) written as their characters: the string a JSON
    (or Python) reader reads, at every level of quoting, in the form the patterns know (`"\\u0070assword": "…"` is
    `"password": "…"`; PHP's JSON writes every `/` as `\\/`: `postgres:\\/\\/u:pw@host`). A JSON text stays JSON."""
    return _ESCAPED_ASCII.sub(lambda m: chr(int(m.group("hex") or m.group("pct"), 16)) if m.lastgroup else "/", text)


def redact_text(text: str) -> str:
    """Mask every secret the redactor knows or detects in free text (see the module doc)."""
    if not text:
        return text
    if _known:
        with _known_lock:
            known = sorted(_known.items(), key=lambda kv: len(kv[0]), reverse=True)
        for secret, shown in known:
            if secret in text:
                text = text.replace(secret, shown)
    if text.isspace():  # a separator or an indent: no pattern matches whitespace alone
        return text
    if "\n" not in text:
        found = _found(text)
        return _redact_line(text, found) if found else text
    original = text
    hints = _any_literal()
    hinted = None
    if hints is not None:
        shape = _folded(text).lower().translate(_DIGITS_BLANKED_STR)
        hinted = _hinted_lines(hints, text, shape)
        if not hinted:
            return text  # no line holds a hint literal: none changes
        if len(shape) != len(text):  # (positions in the shape are not the text's)
            hinted = None
    if "-----BEGIN" in text:  # (a block over lines, its marker's words too)
        text = _PRIVATE_KEY.sub(_pem_masked, text)
    lines = text.split("\n")
    changed = text is not original
    # only the lines with a hint literal can change (a line the unfolding below cuts keeps a piece of itself:
    # no literal it did not hold); the others are not even looked at
    for n in hinted if hinted is not None and not changed else range(len(lines)):
        line = lines[n]
        if not line or line.isspace():
            continue
        found = _found(line)
        if found:
            masked = _redact_line(line, found)
            changed = _unfold_secret(lines, n, line, masked) or changed or masked != line
            if lines[n] is line:
                lines[n] = masked
    return "\n".join(lines) if changed else original


def _hinted_lines(hints: re.Pattern[str], text: str, shape: str) -> list[int]:
    """The numbers of the lines of `text` that hold a hint literal, by a search (`_any_literal`) of its `shape`
    (`_folded`, lower-cased, digits `#`) from one such line to the next line (each line's shape is a piece of the
    text's, a literal never spans two lines); when lower-casing changed the text's length (`İ`, the one character
    that lower-cases to two, is folded first: a guard), positions in the shape are not the text's: any hit then gives
    [0] (the caller looks at every line)."""
    search = hints.search
    out: list[int] = []
    pos = n = 0
    while (m := search(shape, pos)) is not None:
        if len(shape) != len(text):
            return [0]
        at = m.start()
        n += text.count("\n", pos, at)
        out.append(n)
        pos = text.find("\n", at) + 1
        if not pos:
            break
        n += 1
    return out


CUT_CONTEXT = 16_384  # how much of what follows a cut `redact_cut` redacts with the part kept


def redact_cut(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, redacted as they stand in it: the cut is made after redaction, which
    sees up to CUT_CONTEXT characters past it, so that a secret across the cut is masked whole; cut first, a DSN
    lost its `@` (`postgresql://u:Hunter2Se`) and a key its length, and their first characters showed."""
    return redact_text(text[:limit + CUT_CONTEXT])[:limit]


def redact_excerpt(excerpt: str, source: str) -> str:
    """`excerpt` redacted as it stands in `source` (the message a classifier took out of a text): when it starts a
    line of `source`, the line before it may end in the first piece of a secret a line break folded
    (`…app:Hunter2Se` / `cretPassword@host failed`), which `redact_text` of the excerpt alone cannot tell. The
    two are redacted together; a piece that then moves up into the masked word leaves the excerpt as `***`."""
    at = source.find(excerpt) if excerpt else -1
    if at <= 0 or source[at - 1] != "\n":
        return redact_text(excerpt)
    prev = source[source.rfind("\n", 0, at - 1) + 1:at - 1]
    head, sep, rest = redact_text(f"{prev}\n{excerpt}").partition("\n")
    if not sep:
        return redact_text(excerpt)
    return rest if head == redact_text(prev) else f"{MASK} {rest}".rstrip()


_FOLD_PIECES = 8  # how many lines one folded word may run over
# the narrowest console (a continuation at the margin) and message column (a continuation indented as RichHandler
# indents it, past the time and level columns) whose fold may cut a secret that its line already shows masked
_FOLD_MIN_WIDTH, _FOLD_MIN_COLUMN, _COLUMN_INDENT = 60, 40, 8
_FOLD_NEIGHBOURS = 64  # how many lines either side show how wide the console was


def _folded_at_edge(lines: list[str], n: int, edge: int, first: tuple[int, str]) -> bool:
    """Whether line `n`, whose secret runs to its end, was folded into the next line (`first`: its number and
    first word) rather than followed by a line of its own (`api_key=sk-…` / `three more`): the next line is that
    one word alone, or line `n` is as wide as a console folds (at least `_FOLD_MIN_WIDTH` columns, or
    `_FOLD_MIN_COLUMN` when the next line is indented as a message column) and no neighbouring line of words
    indented as the next line is wider (the console was not wider than line `n`)."""
    k, word = first
    cont = lines[k]
    body = cont.lstrip(" \t")
    if body.rstrip() == word:
        return True
    indent = len(cont) - len(body)
    if edge < (_FOLD_MIN_COLUMN if indent >= _COLUMN_INDENT else _FOLD_MIN_WIDTH):
        return False
    for other in lines[max(0, n - _FOLD_NEIGHBOURS):n + _FOLD_NEIGHBOURS]:
        text = other.rstrip()
        if len(text) > edge and len(text) - len(text.lstrip(" \t")) == indent and " " in text.lstrip(" \t"):
            return False
    return True


def _unfold_secret(lines: list[str], n: int, line: str, masked: str) -> bool:
    """A word cut at the end of line `n` by a terminal or a log renderer that folds long words (RichHandler,
    a narrow console: `postgresql://u:pa` / `ssword@host/db`, a key over three lines) can hide a secret that
    no piece shows whole. The last word of `line` joined with the first word of the next line (and of the
    lines after it while each is one word ending at the same column, the fold's edge) is redacted whole;
    when that masks more than the pieces did, the joined word, masked, ends line `n` (`masked`: the line
    redacted alone) and the pieces leave the lines below. True when lines changed."""
    edge = len(line.rstrip())
    tail = line[max(line.rfind(" ", 0, edge), line.rfind("\t", 0, edge)) + 1:edge]
    if not tail:
        return False
    pieces: list[tuple[int, str]] = []
    for k in range(n + 1, min(len(lines), n + 1 + _FOLD_PIECES)):
        words = lines[k].split(None, 1)
        if not words:
            break
        pieces.append((k, words[0]))
        if len(words) > 1 or len(lines[k].rstrip()) != edge:
            break
    if not pieces:
        return False
    rest = "".join(word for _, word in pieces)
    if not any(c.isalnum() for c in rest):  # (punctuation, curl's `> ` of the next header line: no piece of a secret)
        return False
    joined = tail + rest
    found = _found(joined)
    whole = _redact_line(joined, found) if found else joined
    alone = _found(tail)
    tail_masked = _redact_line(tail, alone) if alone else tail
    if whole == joined or whole == tail_masked + rest:
        return False
    # (a tail masked before, by the core's redaction of what the CLI's guard redacts again, is asked the same: taken
    # for a fold whatever its width, the first word of the next line was eaten, `GET /cb?code=***` / `worker done`)
    if tail_masked.endswith(MASK) and not _folded_at_edge(lines, n, edge, pieces[0]):
        return False
    cut = len(masked.rstrip())
    start = max(masked.rfind(" ", 0, cut), masked.rfind("\t", 0, cut)) + 1
    lines[n] = masked[:start] + whole + masked[cut:]
    last = pieces[-1][0]
    for k, word in pieces:
        at = lines[k].index(word)
        lines[k] = lines[k][:at] + lines[k][at + len(word):].lstrip(" \t") if k == last else ""
    return True


class RedactMemo:
    """`redact_text` for texts that repeat (the message of one event after another): each distinct text is
    redacted once and its result kept (up to `limit` texts), while no secret is registered (a registered
    secret is masked wherever it appears: then every text is redacted anew)."""

    def __init__(self, limit: int = 4096) -> None:
        self._done: dict[str, str] = {}
        self._limit = limit

    def __call__(self, text: str) -> str:
        if _known:
            return redact_text(text)
        done = self._done.get(text)
        if done is None:
            if len(self._done) >= self._limit:
                self._done.clear()
            done = self._done[text] = redact_text(text)
        return done


_SECRET_KEY = LazyPattern(r"(?i)" + _SECRET_NAME)


def secret_key(name: object) -> bool:
    """Whether a mapping's key names a secret (`api_key`, `db_password`, `webhook_secret`, `SMTP_PASS`): its value
    is one whatever it looks like, as `"api_key": "…"` is in a text (not `max_tokens`, `password_length`)."""
    return isinstance(name, str) and _SECRET_KEY.fullmatch(name) is not None


def redact_value(value: Any, redact: Callable[[str], str] = redact_text) -> Any:
    """`value` with every string inside it (mappings, lists, tuples) redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, redact) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_value(v, redact) for v in value)
    return value


def redact_dsn(dsn: str) -> str:
    """`postgresql://user:pw@host/db` -> `postgresql://user:***@host/db` (keyword DSNs too)."""
    dsn = _DSN_PASSWORD.sub(lambda m: m.group("pre") + MASK, dsn)  # before urlsplit cuts the password at a '/'
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return redact_text(dsn)
    if parts.scheme and parts.password is not None:
        user = parts.username or ""
        host = parts.hostname or ""
        netloc = f"{user}:{MASK}@{host}"
        try:
            port = parts.port
        except ValueError:
            port = None
        if port:
            netloc += f":{port}"
        return redact_text(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))
    return redact_text(dsn)


def redact_with_dsn(text: str, dsn: str) -> str:
    """`text` with the passwords written in `dsn` masked, even when `dsn` does not parse: libpq quotes a
    malformed DSN in its errors, and without `scheme://` `redact_text` cannot tell a password there."""
    found = {m.group(1) for m in _USERINFO_PASSWORD.finditer(dsn)}
    found |= {m.group(2).strip("'\"") for m in _KEYWORD_PASSWORD.finditer(dsn)}
    for m in _DSN_PASSWORD.finditer(dsn):  # and the pieces libpq may quote of a password cut at '/', '?', '#', '@'
        found |= {m.group("pw"), *(piece for piece in re.split(r"[/?#@:]", m.group("pw")) if len(piece) >= 4)}
    for secret in sorted(filter(None, found | {unquote(s) for s in found}), key=len, reverse=True):
        # a very short password is masked where a DSN writes it, not in every word that contains it
        text = text.replace(secret, MASK) if len(secret) >= 4 else text.replace(f":{secret}@", f":{MASK}@")
    return redact_text(text)


def presence(value: str | None) -> str | None:
    """How an API key is shown: `***SET***` or None."""
    return "***SET***" if value else None


def known_secrets() -> Iterable[str]:
    """The secrets registered so far (for tests and diagnostics: never print them)."""
    with _known_lock:
        return tuple(_known)
