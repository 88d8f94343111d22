"""A small fraud client: ask the decision API for APPROVE / REVIEW / DECLINE.

Against the deployed API the request is signed with SigV4 (IAM authorisation) using
botocore's signer and the caller's AWS credentials; against ``mdlc local serve`` it is
plain HTTP. Both return ``(status, body)`` with the API's response contract.

    python examples/fraud_client.py https://abc.execute-api.eu-west-1.amazonaws.com/v1/decisions
    python examples/fraud_client.py http://127.0.0.1:8080            # mdlc local serve
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REQUEST = Path(__file__).with_name("decision-request.json")


def _post(url: str, data: bytes, headers: dict[str, str], timeout: float) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class LocalClient:
    """Plain HTTP to ``mdlc local serve`` (base URL, e.g. http://127.0.0.1:8080)."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.url = base_url.rstrip("/") + "/decisions"
        self.timeout = timeout

    def decide(self, request: dict[str, Any] | str) -> tuple[int, dict[str, Any]]:
        body = request if isinstance(request, str) else json.dumps(request)
        return _post(self.url, body.encode(), {"Content-Type": "application/json"}, self.timeout)


class ApiClient:
    """SigV4-signed calls to the deployed decision API (its ``DecisionApiUrl`` output)."""

    def __init__(self, url: str, region: str | None = None, timeout: float = 10.0) -> None:
        import botocore.session

        self.url, self.timeout = url, timeout
        session = botocore.session.get_session()
        self.region = region or session.get_config_variable("region") or url.split(".")[2]
        self.credentials = session.get_credentials()
        if self.credentials is None:
            raise RuntimeError("no AWS credentials found; the decision API requires IAM (SigV4) signing")

    def signed_headers(self, body: bytes) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method="POST", url=self.url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(self.credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(request)
        return dict(request.headers.items())

    def decide(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        body = json.dumps(request).encode()
        return _post(self.url, body, self.signed_headers(body), self.timeout)


def client_for(url: str) -> LocalClient | ApiClient:
    """SigV4 for the AWS API (https://…amazonaws.com), plain HTTP otherwise."""
    return ApiClient(url) if ".amazonaws.com" in url else LocalClient(url)


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else "http://127.0.0.1:8080"
    request = json.loads((Path(argv[2]) if len(argv) > 2 else REQUEST).read_text(encoding="utf-8"))
    status, body = client_for(url).decide(request)
    print(status, json.dumps(body, indent=2))
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
