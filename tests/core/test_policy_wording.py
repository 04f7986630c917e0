"""Every number and name people read comes from the loaded policy: no LA
wording written into pages, emails, messages or admin help, and no internal
references ("seed 002") reaching anyone.

Python sources are read token by token: comments and docstrings (for the
next engineer) may cite the seeds; every other string may reach a person."""

import io
import re
import token
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ["accounts", "onboarding", "training", "hmis_access", "hmis_accounts", "referrals", "partnerships", "hmis_portal"]

# What only the policy may say, and what nobody should read.
FORBIDDEN = [
    (re.compile(r"seed 00\d", re.I), "an internal reference"),
    (re.compile(r"\b(30|90) days\b", re.I), "a day count that is policy"),
    (re.compile(r"\b(three \(3\)|3) business days\b", re.I), "a business-day count that is policy"),
    (re.compile(r"\b(24|48) (clock )?hours\b", re.I), "an hour count that is policy"),
    (re.compile(r"HMIS Basic Navigation", re.I), "a course title that is policy"),
    (re.compile(r"\bsame day\b|\bat midnight\b", re.I), "a reactivation window that is policy"),
]


def _python_strings(path: Path):
    """(line, text) of each string literal that is not a docstring."""
    source = path.read_text()
    previous = token.NEWLINE
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (token.COMMENT, tokenize.NL):
            continue
        if tok.type in (token.STRING, getattr(token, "FSTRING_START", -1)):
            # A string that starts a statement is a docstring (or a bare note).
            if previous not in (token.NEWLINE, token.INDENT, token.DEDENT):
                yield tok.start[0], tok.string
        elif tok.type == getattr(token, "FSTRING_MIDDLE", -1):
            yield tok.start[0], tok.string
        previous = tok.type


def _template_lines(path: Path):
    text = re.sub(r"\{#.*?#\}", "", path.read_text(), flags=re.S)
    yield from enumerate(text.splitlines(), start=1)


def _findings():
    sources = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            sources.append((path, _python_strings(path)))
    for path in sorted((ROOT / "templates").rglob("*")):
        if path.suffix in {".html", ".txt", ".ics", ".xml"}:
            sources.append((path, _template_lines(path)))
    for path, lines in sources:
        for line, text in lines:
            for pattern, why in FORBIDDEN:
                if pattern.search(text):
                    yield f"{path.relative_to(ROOT)}:{line}: {why}: {text.strip()[:100]}"


def test_no_user_facing_text_writes_policy_or_internal_references_into_code():
    findings = list(_findings())
    assert not findings, "\n".join(findings)


def test_the_scan_finds_what_it_looks_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""Seed 002 in a docstring is fine."""\n# seed 002 in a comment is fine\n'
                      'x = f"no login for 30 days (seed 002)"\n')
    found = [text for _, text in _python_strings(sample)]
    assert any("seed 002" in text for text in found)
    assert not any("docstring" in text for text in found)
