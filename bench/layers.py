"""Where a profile's samples are, by layer: `python -m bench.layers PROFILE.txt [...]`.

PROFILE.txt is `py-spy record --format raw` output (docs/performance.md, "Profiling a scenario"):
one line per distinct stack, its frames joined by ";" from the outermost in, then its count. Each
sample goes to the innermost frame that is in a library or in Latch; the standard library's frames
go to whoever called them (a `json.dumps` in the audit log is the audit log's). One column per
file given, in per cent of its samples.
"""

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# (layer, a pattern of the frame's file path); the first that matches wins. py-spy names a
# library's file from its package down (`django/db/models/base.py`), or gives the whole path.
LAYERS = (
    ("psycopg: sending statements, waiting for their results", r"(^|/)psycopg(_c|_binary|_pool)?/"),
    ("Django ORM: model instances, fields, cursor wrapper, transactions", r"(^|/)django/db/"),
    ("DRF: authentication, permission, serializer, renderer", r"(^|/)rest_framework/"),
    ("oauthlib and DOT", r"(^|/)(oauthlib|oauth2_provider)/"),
    ("Redis: throttling counters, the applications' generation", r"(^|/)(redis|django/core/cache)/"),
    ("signing: jwcrypto, joserfc, cryptography", r"(^|/)(jwcrypto|joserfc|cryptography)/"),
    (
        "Django request handling: WSGI, middleware, URLs, request and response",
        r"(^|/)(django|allauth|asgiref)/",
    ),
    ("gunicorn", r"(^|/)gunicorn/"),
    ("Latch's own code", r"(^|/)(apps|config)/[^/]+"),
)
_FRAME = re.compile(r"\((?P<path>[^():]+)(:\d+)?\)\s*$")


def layer_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        match = _FRAME.search(frame)
        if match is None:
            continue
        path = match["path"]
        for layer, pattern in LAYERS:
            if re.search(pattern, path):
                return layer
    return "other (the interpreter, threads waiting)"


def layers(profile: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in profile.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        counts[layer_of(stack.split(";"))] += int(count)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    arguments = parser.parse_args(argv)
    columns = {profile.stem: layers(profile) for profile in arguments.profiles}
    names = sorted(
        {name for counts in columns.values() for name in counts},
        key=lambda n: -sum(c[n] for c in columns.values()),
    )
    print("| layer | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name in names:
        cells = []
        for counts in columns.values():
            total = sum(counts.values()) or 1
            cells.append(f"{100 * counts[name] / total:.0f}%" if counts[name] else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("| samples | " + " | ".join(str(sum(counts.values())) for counts in columns.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
