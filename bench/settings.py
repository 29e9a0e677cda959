"""The benchmark server's settings: Latch's own (config/settings.py, production values from the
environment python -m bench sets), plus one URL for the bare view that every ratio is measured to."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
