"""Sign-in and sign-up rate limits: per IP, per account, and not fooled by X-Forwarded-For."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from gallery.social.ratelimit import client_ip

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings):
    settings.LOGIN_RATE_LIMIT_PER_IP = 3
    settings.LOGIN_RATE_LIMIT_PER_ACCOUNT = 2
    settings.SIGNUP_RATE_LIMIT_PER_IP = 2
    settings.NUM_PROXIES = 0
    return settings


def login(client, username, password, ip="10.0.0.1", **headers):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip, **headers
    )


def test_an_ip_over_its_limit_is_refused_even_with_the_right_password(client, alice, limits):
    for n in range(3):
        assert login(client, f"nobody{n}", "wrong").status_code == 200
    blocked = login(client, "alice", "alice-password-1")
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.content.decode()
    # Another address is not affected.
    assert login(client, "alice", "alice-password-1", ip="10.0.0.2").status_code == 302


def test_an_account_guessed_from_many_ips_is_locked_for_the_window(client, alice, bob, limits):
    limits.LOGIN_RATE_LIMIT_PER_IP = 100
    assert login(client, "alice", "guess-1", ip="10.0.1.1").status_code == 200
    assert login(client, "ALICE", "guess-2", ip="10.0.1.2").status_code == 200
    assert login(client, "alice", "alice-password-1", ip="10.0.1.3").status_code == 429
    assert login(client, "bob", "bob-password-1", ip="10.0.1.4").status_code == 302


def test_a_changing_x_forwarded_for_does_not_reset_the_limit_without_trusted_proxies(
    client, alice, limits
):
    for n in range(3):
        login(client, f"nobody{n}", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    response = login(client, "alice", "alice-password-1", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert response.status_code == 429


def test_behind_one_trusted_proxy_the_address_it_saw_is_the_client(client, alice, limits):
    limits.NUM_PROXIES = 1
    for n in range(3):
        # The client forges the left part; our proxy appends what it saw (203.0.113.7).
        login(
            client,
            f"nobody{n}",
            "wrong",
            ip="10.9.9.9",
            HTTP_X_FORWARDED_FOR=f"1.1.1.{n}, 203.0.113.7",
        )
    forged = login(
        client,
        "alice",
        "alice-password-1",
        ip="10.9.9.9",
        HTTP_X_FORWARDED_FOR="8.8.8.8, 203.0.113.7",
    )
    assert forged.status_code == 429
    other = login(
        client, "alice", "alice-password-1", ip="10.9.9.9", HTTP_X_FORWARDED_FOR="203.0.113.8"
    )
    assert other.status_code == 302


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "1.2.3.4", "10.0.0.1"),
        (1, "1.2.3.4", "1.2.3.4"),
        (1, "6.6.6.6, 1.2.3.4", "1.2.3.4"),
        (2, "6.6.6.6, 1.2.3.4, 5.5.5.5", "1.2.3.4"),
        (2, "1.2.3.4", "10.0.0.1"),  # fewer hops than proxies: the header is not ours
        (1, "", "10.0.0.1"),
    ],
)
def test_client_ip_trusts_exactly_num_proxies_hops(settings, proxies, forwarded, expected):
    settings.NUM_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_signups_are_limited_per_ip(client, limits, django_user_model):
    def signup(name, ip="10.0.2.1"):
        return client.post(
            "/accounts/signup/",
            {
                "username": name,
                "password1": "a-long-pass-phrase-9",
                "password2": "a-long-pass-phrase-9",
            },
            REMOTE_ADDR=ip,
        )

    assert signup("first").status_code == 302
    client.logout()
    assert signup("second").status_code == 302
    client.logout()
    third = signup("third")
    assert third.status_code == 429 and "Too many attempts" in third.content.decode()
    assert not django_user_model.objects.filter(username="third").exists()
    assert signup("fourth", ip="10.0.2.2").status_code == 302


def test_signup_passwords_go_through_djangos_validators(client, django_user_model):
    response = client.post(
        "/accounts/signup/", {"username": "weak", "password1": "password", "password2": "password"}
    )
    assert response.status_code == 200
    assert "too common" in response.content.decode()
    assert not django_user_model.objects.filter(username="weak").exists()


def test_the_api_token_endpoint_is_limited_too(api, alice, limits):
    for _ in range(2):
        response = api.post("/api/auth/token/", {"username": "alice", "password": "nope"})
        assert response.status_code == 400
    blocked = api.post("/api/auth/token/", {"username": "alice", "password": "alice-password-1"})
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.json()["detail"]
