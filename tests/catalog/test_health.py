import json

import pytest

from tests.conftest import run_python

HEALTH_REQUEST = """
import django, json
django.setup()
from django.test import Client
response = Client().get("/healthz", HTTP_ACCEPT="application/json")
print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


@pytest.mark.django_db(transaction=True)
def test_healthz__200_when_database_cache_and_catalog_answer(client):
    response = client.get("/healthz", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    body = response.json()
    assert set(body.values()) == {"OK"}
    assert any("Database" in name for name in body)
    assert any("CatalogSchema" in name for name in body)


@pytest.mark.parametrize(
    "url",
    [
        # Nothing listens on port 1: a real refused connection.
        "postgres://catalog:s3cret-password@127.0.0.1:1/catalog",
        "sqlite:////nonexistent-directory/db.sqlite3",
    ],
)
def test_healthz__500_naming_the_failed_check_when_the_database_is_unreachable(url):
    result = run_python(
        HEALTH_REQUEST,
        env={
            "DJANGO_SETTINGS_MODULE": "config.test_settings",
            "DATABASE_URL": url,
            "ALLOWED_HOSTS": "testserver",
        },
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == 500
    failed = {name: message for name, message in outcome["body"].items() if message != "OK"}
    assert any("Database" in name for name in failed)
    assert "s3cret" not in result.stdout
