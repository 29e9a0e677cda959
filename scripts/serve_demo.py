#!/usr/bin/env python3
"""`make run`'s last step: Latch on 127.0.0.1:8000 and the example app (examples/webapp) on :9000.

Both are Django's development server, each with its own settings; the example app is the demo-web
client and gets its secret from var/demo-credentials.json, which `manage.py load_demo` wrote. Ctrl-C
stops both, and when either stops the other is stopped too.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS = ROOT / "var" / "demo-credentials.json"
LATCH = ("127.0.0.1:8000", "http://localhost:8000")
WEBAPP = ("127.0.0.1:9000", "http://127.0.0.1:9000")


def webapp_environment() -> dict[str, str]:
    secret = json.loads(CREDENTIALS.read_text())["client_secrets"]["demo-web"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "examples.webapp.settings",
        "LATCH_URL": LATCH[1],
        "DEMO_WEB_URL": WEBAPP[1],
        "DEMO_WEB_CLIENT_ID": "demo-web",
        "DEMO_WEB_CLIENT_SECRET": secret,
        # The app calls Latch on loopback: never through a proxy the shell may name.
        "no_proxy": "127.0.0.1,localhost",
        "NO_PROXY": "127.0.0.1,localhost",
    }


def main() -> int:
    python = sys.executable
    servers = [
        subprocess.Popen([python, "manage.py", "runserver", LATCH[0]], cwd=ROOT),  # noqa: S603
        subprocess.Popen(  # noqa: S603
            [python, "-m", "django", "runserver", WEBAPP[0]], cwd=ROOT, env=webapp_environment()
        ),
    ]
    try:
        while all(server.poll() is None for server in servers):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass  # the terminal sent SIGINT to both servers too
    for server in servers:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
    for server in servers:
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0 if all(server.returncode in (0, -signal.SIGINT) for server in servers) else 1


if __name__ == "__main__":
    sys.exit(main())
