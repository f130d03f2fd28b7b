"""Helpers of the LTI tests: drive a launch as a browser would, between the tool (in-process) and the LMS."""

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from fakes.lti_platform import FakeLtiPlatform

TOOL_BASE = "http://backend.test"


@dataclass
class LoginStep:
    """The tool's answer to the login initiation: where it sends the browser, and the state cookie it set."""

    response: httpx.Response
    auth_query: dict[str, str]
    cookies: dict[str, str]

    @property
    def state(self) -> str:
        return self.auth_query["state"]

    @property
    def nonce(self) -> str:
        return self.auth_query["nonce"]


async def start_login(client: httpx.AsyncClient, initiation_url: str, *, method: str = "GET") -> LoginStep:
    url = urlparse(initiation_url)
    if method == "GET":
        response = await client.get(f"{url.path}?{url.query}")
    else:
        response = await client.post(url.path, data={k: v[0] for k, v in parse_qs(url.query).items()})
    assert response.status_code == 302, response.text
    location = urlparse(response.headers["location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    cookies = {c.name: c.value for c in response.cookies.jar}
    return LoginStep(response, query, cookies)


async def launch(
    client: httpx.AsyncClient, lms: FakeLtiPlatform, user_id: str, **launch_options: Any
) -> httpx.Response:
    """The whole login-launch flow for one user; returns the tool's answer to the launch form post."""
    step = await start_login(client, lms.initiation_url(user_id, **launch_options))
    async with httpx.AsyncClient() as browser:
        auth = await browser.get(
            f"{lms.base_url}/auth", params=step.auth_query
        )  # the platform's authorization endpoint answers the auto-posted form
    assert auth.status_code == 200, auth.text
    form = auth.json()
    assert form["launch_url"] == f"{TOOL_BASE}/lti/launch"
    return await client.post(
        "/lti/launch", data={"id_token": form["id_token"], "state": form["state"]}, headers=cookie_header(step.cookies)
    )


def cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    """The Cookie header a browser sends back over HTTPS (the test client talks plain HTTP to the app, and a
    cookie jar would hold back ``Secure`` cookies there)."""
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())} if cookies else {}


def code_and_fragment(response: httpx.Response) -> tuple[str, str]:
    assert response.status_code == 302, response.text
    location = urlparse(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == TOOL_BASE
    return parse_qs(location.query)["lti_code"][0], location.fragment


async def sign_in(client: httpx.AsyncClient, response: httpx.Response) -> tuple[dict[str, str], str]:
    """Exchange the launch's one-time code; the bearer header and the UI fragment the launch lands on."""
    code, fragment = code_and_fragment(response)
    token = await client.post("/api/auth/lti-token", json={"code": code})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}, fragment
