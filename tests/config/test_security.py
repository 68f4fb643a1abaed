"""Login throttling (django-axes) and the Content-Security-Policy header."""

import pytest

from tests.conftest import SAMPLE_DIR

pytestmark = pytest.mark.django_db


def test_admin_login__twenty_wrong_passwords_then_the_right_one_is_refused(
    client, django_user_model
):
    django_user_model.objects.create_superuser("root", "root@example.com", "right-password")
    for _ in range(20):
        client.post("/admin/login/?next=/admin/", {"username": "root", "password": "wrong"})
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "root", "password": "right-password"}
    )
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # still not signed in


def test_admin_login__the_right_password_works_before_the_limit(client, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", "right-password")
    for _ in range(3):
        client.post("/admin/login/?next=/admin/", {"username": "root", "password": "wrong"})
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "root", "password": "right-password"}
    )
    assert response.status_code == 302 and client.get("/admin/").status_code == 200


def test_csp__on_admin_and_api_responses(client, settings):
    settings.JSON_EXPORT_DIR = SAMPLE_DIR
    for path in ("/admin/login/", "/api/v1/status"):
        policy = client.get(path)["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
