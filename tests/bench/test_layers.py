"""bench/layers.py puts each profile sample in the innermost library or Latch frame's layer."""

from bench.layers import layer_of, layers, main

SITE = "/work/latch/.venv/lib/python3.12/site-packages"


def frame(function: str, path: str, line: int = 1) -> str:
    return f"{function} ({path}:{line})"


def test_a_sample_goes_to_its_innermost_library_frame():
    stack = [
        frame("handle", f"{SITE}/gunicorn/workers/gthread.py"),
        frame("__call__", f"{SITE}/django/core/handlers/wsgi.py"),
        frame("verify", "/work/latch/apps/oauth/bearer.py"),
        frame("execute", f"{SITE}/psycopg/cursor.py"),
    ]

    assert layer_of(stack).startswith("psycopg")


def test_the_standard_librarys_frames_go_to_their_caller():
    stack = [
        frame("record", "/work/latch/apps/audit/services.py"),
        frame("dumps", "/usr/lib/python3.12/json/__init__.py"),
        frame("encode", "/usr/lib/python3.12/json/encoder.py"),
    ]

    assert layer_of(stack) == "Latch's own code"


def test_the_orm_and_djangos_request_handling_are_told_apart():
    orm = [frame("from_db", f"{SITE}/django/db/models/base.py")]
    handling = [frame("get_response", f"{SITE}/django/core/handlers/base.py")]

    assert layer_of(orm).startswith("Django ORM")
    assert layer_of(handling).startswith("Django request handling")


def test_a_profile_file_is_counted_by_its_samples(tmp_path, capsys):
    profile = tmp_path / "resource.txt"
    profile.write_text(
        f"{frame('get', f'{SITE}/rest_framework/views.py')} 3\n"
        f"{frame('first', '/work/latch/apps/core/precompiled.py')} 1\n"
        "garbage line\n"
    )

    assert layers(profile) == {
        "DRF: authentication, permission, serializer, renderer": 3,
        "Latch's own code": 1,
    }
    assert main([str(profile)]) == 0
    table = capsys.readouterr().out
    assert "| DRF: authentication, permission, serializer, renderer | 75% |" in table
    assert "| samples | 4 |" in table


def test_paths_as_py_spy_shortens_them_are_recognised():
    stack = [
        frame("handle", "gunicorn/workers/gthread.py"),
        frame("verify", "apps/oauth/bearer.py"),
        frame("get", "rest_framework/views.py"),
        frame("dumps", "json/__init__.py"),
    ]

    assert layer_of(stack).startswith("DRF")
    assert layer_of(stack[:2]) == "Latch's own code"
