from django.core.management.base import BaseCommand

from apps.oauth import client_cache


class Command(BaseCommand):
    help = (
        "Make every Latch instance read applications from the database again from its next request "
        "on. Changes made through Latch do this by themselves; run it after changing "
        "oauth_application outside Django (psql, a restored backup)."
    )

    def handle(self, *args, **options) -> None:
        if not client_cache.enabled():
            self.stdout.write("The client cache is off (LATCH_CLIENT_CACHE_SECONDS=0, or no shared cache).")
            return
        if not client_cache.applications_changed():
            self.stderr.write("The shared cache refused the new generation; see the log.")
            raise SystemExit(1)
        self.stdout.write("Every instance reads applications from the database again from its next request.")
