"""Stock django-oauth-toolkit, for `make bench` to compare Latch with: a minimal Django project.

What `django-admin startproject` gives (its apps and middleware, less the admin and static files
nobody requests here), plus DOT and DRF as DOT's tutorials add them, and nothing of Latch: DOT's own
models (no swapped ones), DOT's defaults (client secrets hashed with Django's default PBKDF2 hasher
unless an application says `hash_client_secret=False`, tokens stored in plaintext, rotation on),
DEBUG off. Served by the same gunicorn configuration (bench/gunicorn.conf.py) on its own PostgreSQL
database; seeded and minted for by bench/stock/helper.py in a process of its own (Django's settings
are one per process). docs/performance.md says what differs from Latch's requests.
"""
