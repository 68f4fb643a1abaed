import pytest
from django.test import RequestFactory

from live import routing, runtime
from tests.conftest import SAMPLE_DIR, command

pytestmark = pytest.mark.django_db


def canary(percent, **extra):
    return runtime.State(active="json", canary_enabled=True, canary_percent=percent, **extra)


def client_request(address, cookie=None, **headers):
    request = RequestFactory().get("/api/v1/status", REMOTE_ADDR=address, **headers)
    if cookie:
        request.COOKIES[routing.CLIENT_COOKIE] = cookie
    return request


def test_canary_header__routes_to_the_database():
    state = canary(0)
    assert (
        routing.route(client_request("10.0.0.1", HTTP_X_CANARY="canary=true"), state)[0]
        == "database"
    )
    assert routing.route(client_request("10.0.0.1", HTTP_X_CANARY="nope"), state)[0] == "json"
    assert routing.route(client_request("10.0.0.1"), state)[0] == "json"


def test_canary_percentage__splits_10000_clients_within_tolerance():
    state = canary(10)
    routed = [
        routing.route(client_request(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"), state)[0]
        for i in range(10_000)
    ]
    share = routed.count("database") / len(routed)
    assert 0.09 <= share <= 0.11, share


def test_canary__is_sticky_and_monotonic_as_the_percentage_rises():
    clients = [f"192.168.{i // 256}.{i % 256}" for i in range(2000)]
    cookies = {address: routing.client_key(client_request(address))[1] for address in clients}
    previous = set()
    for percent in (1, 5, 10, 25, 50, 100):
        state = canary(percent)
        chosen = {
            address
            for address in clients
            if routing.route(client_request(address, cookies[address]), state)[0] == "database"
        }
        # The same clients again (by cookie), and by address alone: the same answer.
        again = {a for a in clients if routing.route(client_request(a), state)[0] == "database"}
        assert chosen == again
        assert previous <= chosen, "raising the percentage never moves a client back"
        previous = chosen
    assert len(previous) == len(clients)


def test_client_cookie__not_set_without_a_percentage_canary(client, settings):
    settings.JSON_EXPORT_DIR = SAMPLE_DIR
    assert routing.CLIENT_COOKIE not in client.get("/api/v1/status").cookies
    command("switch_backend", "canary", "enable", "--percent", "0", "--reason", "header only")
    assert routing.CLIENT_COOKIE not in client.get("/api/v1/status").cookies


def test_client_cookie__set_once_while_a_percentage_canary_is_on(client, settings):
    settings.JSON_EXPORT_DIR = SAMPLE_DIR
    command("switch_backend", "canary", "enable", "--percent", "5", "--reason", "5%")
    first = client.get("/api/v1/status", REMOTE_ADDR="10.1.2.3", secure=True)
    morsel = first.cookies[routing.CLIENT_COOKIE]
    assert routing.bucket(morsel.value) == routing.bucket(
        routing.client_key(client_request("10.1.2.3"))[0]
    )
    assert morsel["httponly"] and morsel["secure"] and morsel["samesite"] == "Lax"
    assert morsel["max-age"] == 24 * 3600
    second = client.get("/api/v1/status", REMOTE_ADDR="10.9.9.9")
    assert routing.CLIENT_COOKIE not in second.cookies  # the client sent it back


def test_canary_reads__answer_from_the_database_end_to_end(client, settings, sample_export):
    settings.JSON_EXPORT_DIR = sample_export
    command("backfill_json", str(sample_export))
    command("switch_backend", "canary", "enable", "--percent", "0", "--reason", "header only")
    assert client.get("/api/v1/status").json()["dataSource"] == "json"
    canary_body = client.get("/api/v1/status", HTTP_X_CANARY="canary=true").json()
    assert canary_body["dataSource"] == "database"
    assert canary_body["fallbackReason"] is None
