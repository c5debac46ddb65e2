"""Write `mosaic_diag/classifier/rules/pg_l10n.yml` from PostgreSQL's own message catalogs (run by hand).

    python3 tools/pg_catalogs.py [--localedir /usr/share/locale] [--out PATH]

PostgreSQL's server (`postgres-NN.mo`) and libpq (`libpq5-NN.mo`) translate their messages by the locale
(`lc_messages` on the server, `LANGUAGE`/`LC_MESSAGES` in the client), and libpq appends glibc's own translated
`strerror` text (`libc.mo`: `Connection refused`, `No route to host`, ...). The classifier's rules are written
against the English messages; this script takes the English message ids the rules depend on and writes each
translation as a regex, with its locale and msgid, so that the classifier can read a translated message back
into its English msgid and give it the label the English text gets.

Which msgids: chosen by the rules themselves, not listed here.
  - a server or libpq msgid whose English text, its `%s`/`%d`/... filled in, the shipped rules label;
  - a libpq/server msgid that labels only followed by a glibc message the rules quote (libpq's `connection to
    server at "%s" (%s), port %s failed: ` before `Connection refused`);
  - glibc messages the rules quote word for word (`Connection refused`, `Network is unreachable`, ...);
  - the severity and field words (`ERROR`, `FATAL`, `DETAIL:  `, `HINT:  `, ...), as a word table.
Debian's postgresql-NN and libpq5 packages ship the compiled catalogs (`.mo`); glibc's come with `locales`.
"""

from __future__ import annotations

import argparse
import gettext
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mosaic_diag.classifier.classify import Classifier  # noqa: E402
from mosaic_diag.classifier.l10n import CONVERSION, DATA_FILE, SEVERITIES_FILE, Catalog, translation_regex  # noqa: E402
from mosaic_diag.classifier.taxonomy import load_taxonomy  # noqa: E402

# PostgreSQL's severity words (elog.c's error_severity) and the field prefixes of its log lines and of libpq's
# messages (elog.c's send_message_to_server_log, libpq's pqBuildErrorMessage3)
SEVERITIES = ("DEBUG", "LOG", "INFO", "NOTICE", "WARNING", "ERROR", "FATAL", "PANIC")
FIELDS = ("DETAIL", "HINT", "QUERY", "CONTEXT", "LOCATION", "STATEMENT")
_FIELD_MSGID = re.compile(r"^([A-Z]+):\s+(?:%s\n)?$")


def _catalog(path: Path) -> dict[str, str]:
    """A compiled catalog's singular messages (msgid -> msgstr), contexts and plurals left out."""
    with path.open("rb") as f:
        raw = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    return {k: v for k, v in raw.items() if isinstance(k, str) and k and "\x04" not in k and v and v != k}


ARGUMENTS: set[str] = set()  # the msgids `choose` took as another message's argument


def _fill(msgid: str, filler: str) -> str:
    return CONVERSION.sub(lambda m: "%" if m.group(0) == "%%" else filler, msgid)


def _label(clf: Classifier, text: str) -> str | None:
    """The label a PostgreSQL rule (`pg.*`, `data.*`) gives `text`, else None."""
    got = clf.classify_text(text)
    return got.label if got.rule_id and got.rule_id.startswith(("pg.", "data.")) else None


def _rule_id(clf: Classifier, msgid: str) -> str:
    return clf.classify_text(_fill(msgid, "x")).rule_id or ""


def _rule_patterns(clf: Classifier) -> list[str]:
    """Every regex source of the shipped rules, unescaped enough to find a message quoted in it, lower-cased."""
    return [source.lower() for source in _rule_sources(clf)]


ARGUMENTS_OF: dict[str, list[str]] = {}  # a msgid `choose` labelled with the rules' own words -> those arguments
FILLED_IN: set[str] = set()  # the msgids among those arguments (the parser's `syntax error`)


def _rule_sources(clf: Classifier) -> list[str]:
    """Every regex source of the shipped rules, unescaped, in its own case."""
    out = []
    for rule in clf.rules:
        for cond in (*rule.match, *rule.unless):
            for value in vars(cond).values():
                pattern = getattr(value, "pattern", None)
                if isinstance(pattern, str):
                    out.append(re.sub(r"\\(.)", r"\1", pattern))
    return out


def _quoted_arguments(msgid: str, sources: list[str]) -> list[list[str]]:
    """The arguments the rules quote `msgid` with (`syntax error at or near "AUTOINCREMENT"` gives `%s at or near
    "%s"` the arguments `syntax error`, `AUTOINCREMENT`): each rule text the msgid's own words match, its conversions
    read as the words between them (a conversion at an end: the rule text's word run there)."""
    convs = list(CONVERSION.finditer(msgid))
    if not convs or any(c.group(0) == "%%" for c in convs):
        return []
    parts, pos = [], 0
    for i, c in enumerate(convs):
        parts.append(re.escape(msgid[pos:c.start()]))
        pos = c.end()
        if i == 0 and c.start() == 0:
            parts.append(r"(\w[\w ]*?)")  # (a leading argument: the words right before the message's own)
        elif i == len(convs) - 1 and c.end() == len(msgid):
            parts.append(r"(\w+)")
        else:
            parts.append(r"([^\n]+?)")
    parts.append(re.escape(msgid[pos:]))
    own = re.sub(r"\s+", "", CONVERSION.sub("", msgid))
    if len(own) < 8:
        return []
    rx = re.compile("".join(parts), re.IGNORECASE)
    found: list[list[str]] = []
    for source in sources:
        for m in rx.finditer(source):
            args = [g.strip() for g in m.groups()]
            if all(args) and args not in found:
                found.append(args)
    return found


def _fill_with(msgid: str, args: list[str]) -> str:
    it = iter(args)
    return CONVERSION.sub(lambda m: "%" if m.group(0) == "%%" else next(it, "x"), msgid)


def choose(english: list[str], libc: list[str], clf: Classifier) -> tuple[dict[str, str], dict[str, str]]:
    """(server/libpq msgid -> the label its English text gets, glibc msgid -> the label it takes part in)."""
    patterns = _rule_patterns(clf)
    sources = _rule_sources(clf)
    known = set(english)
    quoted = [m for m in libc if "%" not in m and len(m) >= 10 and " " in m
              and any(m.lower() in p for p in patterns)]
    tails: dict[str, str] = {}
    for tail in quoted:  # a glibc message the rules label alone
        label = _label(clf, tail)
        if label:
            tails[tail] = label
    alone = set(tails)
    chosen: dict[str, str] = {}
    for msgid in english:
        if _FIELD_MSGID.match(msgid) or len(_fill(msgid, "")) < 8:
            continue
        for filler in ("x", "(x)=(1)"):
            label = _label(clf, _fill(msgid, filler))
            if label:
                chosen[msgid] = label
                break
        else:
            # a message the rules label only by what fills it in (`%s at or near "%s"`, the parser's `syntax error`
            # and the token: `AUTOINCREMENT`, `?`): filled with the arguments the rules quote it with; an argument
            # that is itself a msgid the label needs is read back on its own (`syntax error`)
            for args in _quoted_arguments(msgid, sources):
                label = _label(clf, _fill_with(msgid, args))
                if not label:
                    continue
                chosen[msgid] = label
                ARGUMENTS_OF[msgid] = args
                for i, arg in enumerate(args):
                    if arg in known and arg not in chosen and not _label(
                            clf, _fill_with(msgid, [*args[:i], "x", *args[i + 1:]])):
                        chosen[arg] = label
                        FILLED_IN.add(arg)
                break
            if msgid in chosen:
                continue
            # a prefix the rules quote, which labels only with the glibc message libpq writes after it
            # (`connection to server at "%s" (%s), port %s failed: ` + `Connection refused`)
            head = msgid[:-2] if msgid.endswith("%s") else msgid
            longest = max(CONVERSION.sub("\0", head).split("\0"), key=len).strip(" \"'(),:").lower()
            if not head.rstrip().endswith(":") or len(longest) < 12 or not any(longest in p for p in patterns):
                continue
            for tail in quoted:
                label = None if tail in alone else _label(clf, _fill(head, "x") + tail)
                if label:
                    chosen[msgid] = label
                    tails.setdefault(tail, label)
    # a word a message takes as its argument, which the rules quote (`no encryption` after pg_hba's `no pg_hba.conf
    # entry for host "%s", user "%s", database "%s", %s`): read back on its own
    for word in english:
        if "%" in word or len(word) < 8 or " " not in word or word in chosen or not any(word.lower() in p
                                                                                      for p in patterns):
            continue
        for msgid, label in list(chosen.items()):
            if msgid.endswith("%s"):
                other = _label(clf, _fill(msgid[:-2], "x") + word)
                if other and other != label:
                    chosen[word] = other
                    ARGUMENTS.add(word)
                    break
    return chosen, tails


def build(localedir: Path, version: str) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The data files' content (messages, severity words) from the catalogs under `localedir`."""
    domains = {"postgres": f"postgres-{version}", "libpq": f"libpq5-{version}", "libc": "libc"}
    catalogs: dict[str, dict[str, dict[str, str]]] = {}  # domain -> locale -> catalog
    for domain in domains.values():
        for path in sorted(localedir.glob(f"*/LC_MESSAGES/{domain}.mo")):
            catalogs.setdefault(domain, {})[path.parts[-3]] = _catalog(path)
    if domains["postgres"] not in catalogs or domains["libpq"] not in catalogs:
        raise SystemExit(f"no {domains['postgres']}.mo / {domains['libpq']}.mo under {localedir}")
    pg_locales = sorted(set(catalogs[domains["postgres"]]) | set(catalogs[domains["libpq"]]))
    clf = Classifier(load_taxonomy(), translations=False)  # the English rules alone
    english = {d: sorted({k for cat in catalogs[d].values() for k in cat}) for d in (domains["postgres"],
                                                                                       domains["libpq"])}
    every = sorted(set(english[domains["postgres"]]) | set(english[domains["libpq"]]))
    libc_ids = sorted({k for loc, cat in catalogs.get("libc", {}).items() if loc in _with_region(pg_locales)
                       for k in cat})
    chosen, tails = choose(every, libc_ids, clf)
    # the server's messages of a connection before the session's encoding is known: its `pg.*` rules' ones
    at_connection = {m for m in chosen if m in ARGUMENTS or _rule_id(clf, m).startswith("pg.")}

    words: dict[str, dict[str, str]] = {}
    for domain in (domains["postgres"], domains["libpq"]):
        for loc, cat in catalogs[domain].items():
            for word in (*SEVERITIES, *FIELDS):
                for msgid in (word, f"{word}:  ", f"{word}:  %s\n"):
                    said = cat.get(msgid)
                    if said:
                        said = said.replace("%s", "").strip().rstrip(":：").strip()
                        if said and said != word:
                            words.setdefault(loc, {})[said] = word
    for loc, table in list(words.items()):
        ascii_words = transliterate(list(table))
        extra = {a: w for a, w in zip(ascii_words, table.values(), strict=True)
                 if a and a.isalpha() and a not in table and a != w}
        if extra:
            words[f"{loc}.ascii"] = extra
    messages = []
    for domain, ids in ((domains["postgres"], sorted(chosen)), (domains["libpq"], sorted(chosen)),
                        ("libc", sorted(tails))):
        for msgid in ids:
            if domain != "libc" and msgid not in english[domain]:
                continue
            translations = {}
            for loc, cat in sorted(catalogs.get(domain, {}).items()):
                if domain == "libc" and loc not in _with_region(pg_locales):
                    continue
                said = cat.get(msgid)
                if not said:
                    continue
                made = translation_regex(said)
                if made is None:
                    continue
                regex, args = made
                translations[loc] = {"text": said, "regex": regex, "args": args}
            if domain == domains["postgres"] and msgid in at_connection:
                plain = dict(zip(list(translations), transliterate([t["text"] for t in translations.values()]),
                                 strict=True))
                for loc, text in plain.items():
                    made = translation_regex(text) if text != translations[loc]["text"] else None
                    if made is not None and sum(c.isalpha() for c in text) >= 10:
                        translations[f"{loc}.ascii"] = {"text": text, "regex": made[0], "args": made[1]}
            if msgid in ARGUMENTS_OF:
                translations = {loc: tr for loc, tr in translations.items()
                                if _reads_back(clf, msgid, chosen[msgid], loc, tr, catalogs[domain][loc])}
            if translations:
                entry = {"domain": domain, "msgid": msgid, "label": chosen.get(msgid) or tails[msgid]}
                if msgid in ARGUMENTS or msgid in FILLED_IN:
                    entry["argument"] = True  # (labels only as another message's argument)
                if msgid in ARGUMENTS_OF:
                    entry["arguments"] = ARGUMENTS_OF[msgid]  # (labels only with these arguments, the rules' words)
                messages.append({**entry, "translations": translations})
    return {"version": 1, "catalogs": {d: sorted(catalogs.get(d, {})) for d in domains.values()},
            "messages": messages}, dict(sorted(words.items()))


def _reads_back(clf: Classifier, msgid: str, label: str, loc: str, tr: dict[str, Any], cat: dict[str, str]) -> bool:
    """Whether a translation of a message the rules label by its arguments, filled with them as the server writes
    them (an argument that is a msgid in `loc`'s words), reads back into English with that label (not Japanese
    `"%2$s"またはその近辺で%1$s`: a conversion at the end of a regex reads nothing)."""
    args = ARGUMENTS_OF[msgid]
    said = [cat.get(a, a) for a in args]
    fill = iter(said[a - 1] if 0 < a <= len(said) else "x" for a in tr["args"])
    text = CONVERSION.sub(lambda c: "%" if c.group(0) == "%%" else next(fill), tr["text"])
    entries = [{"msgid": msgid, "translations": {loc: tr}}]
    for a in args:
        made = translation_regex(cat[a]) if a in cat else None
        if made is not None:
            entries.append({"msgid": a, "translations": {loc: {"text": cat[a], "regex": made[0], "args": made[1]}}})
    return _label(clf, Catalog({"messages": entries}, words={}).to_english(text)[0]) == label


def transliterate(texts: list[str]) -> list[str]:
    """`texts` as the server writes them before it knows the session's encoding (the authentication and
    connection messages of a server whose LC_CTYPE is C): glibc's gettext converts them to ASCII with
    transliteration (`»` -> `>>`, `ü` -> `?`, Cyrillic to Latin letters), as `iconv -t ASCII//TRANSLIT` does."""
    joined = "\n".join(t.replace("\n", " ") for t in texts)
    out = subprocess.run(["iconv", "-f", "UTF-8", "-t", "ASCII//TRANSLIT"], input=joined.encode(),
                         capture_output=True, check=True, env={**os.environ, "LC_ALL": "C"})
    lines = out.stdout.decode("ascii").split("\n")
    return lines if len(lines) == len(texts) else [""] * len(texts)


def _with_region(locales: list[str]) -> set[str]:
    """The PostgreSQL locales and their glibc names (`zh_CN`, `pt_BR` as they are; `de` also `de_DE`)."""
    return set(locales) | {loc.split("_")[0] for loc in locales}


def dump(data: dict[str, Any], head: str | None = None) -> str:
    import yaml

    head = head or ("# GENERATED by tools/pg_catalogs.py from PostgreSQL's and glibc's message catalogs: do not edit,\n"
            "# rerun it.\n"
            "# messages: English msgid -> its translations per locale as a regex (printf conversions -> groups;\n"
            "#   args: the English argument each group holds). label: what the English rules gave the msgid when\n"
            "#   this was written (the classifier reads the translation back into English and runs the rules).\n"
            "# (the severity words are in pg_severities.yml)\n")
    return head + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=160)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--localedir", type=Path, default=Path("/usr/share/locale"))
    parser.add_argument("--version", default="15", help="PostgreSQL major version of the catalogs")
    parser.add_argument("--out", type=Path, default=DATA_FILE)
    args = parser.parse_args(argv)
    data, words = build(args.localedir, args.version)
    args.out.write_text(dump(data))
    severities = args.out.with_name(SEVERITIES_FILE.name)
    severities.write_text(dump(words, "# GENERATED by tools/pg_catalogs.py from PostgreSQL's message catalogs: do not "
                                      "edit, rerun it.\n# A locale's word for PostgreSQL's severities and fields "
                                      "(ERROR, FATAL, DETAIL, HINT, ...; `.ascii`: as a server\n# whose LC_CTYPE is C "
                                      "writes it) -> the English word.\n"))
    n = sum(len(m["translations"]) for m in data["messages"])
    print(f"{args.out}: {len(data['messages'])} msgids, {n} translations; {severities}: {len(words)} locales")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
