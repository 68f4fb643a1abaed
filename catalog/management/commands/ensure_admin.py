"""Create the first admin account, once, with a generated password printed a single time."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a superuser with a generated password when none exists (prints it once)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@localhost")

    def handle(self, *args, username, email, **options):
        users = get_user_model()
        existing = users.objects.filter(is_superuser=True).order_by("pk").first()
        if existing is not None:
            self.stdout.write(
                f"A superuser already exists ({existing.get_username()}); nothing changed."
            )
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email=email, password=password)
        self.stdout.write(self.style.SUCCESS(f"Created superuser {username!r}."))
        self.stdout.write(f"  password: {password}")
        self.stdout.write("  (shown once: note it now, or change it later in the admin)")
