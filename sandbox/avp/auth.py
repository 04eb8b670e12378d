"""OAuth2 client-credentials tokens for the hub: issue an HS256 JWT, check a bearer on every call.

One registered client (the retailer's integration user). Tokens are short-lived like the real
hub's identity provider's, so a long export has to fetch a new one when it gets a 401.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
import uuid

import jwt
from flask import Request, Response

from sandbox.avp.protocol import Problem, json_response

TOKEN_TTL_S = 300
ISSUER = "avp-sandbox"
AUDIENCE = "avp-api"


class TokenService:
    """Issues and verifies the bearer tokens of one client."""

    def __init__(self, client_id: str, client_secret: str, jwt_secret: str, ttl_s: int = TOKEN_TTL_S) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.jwt_secret = jwt_secret
        self.ttl_s = ttl_s

    def issue(self) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": self.client_id, "azp": self.client_id,
                  "iat": now, "exp": now + self.ttl_s, "jti": str(uuid.uuid4())}
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")

    def client_of(self, authorization: str | None) -> str:
        """The client id of a valid bearer; Problem 401 otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("MISSING_TOKEN", "a bearer token is required (Authorization: Bearer <token>)")
        try:
            claims = jwt.decode(token.strip(), self.jwt_secret, algorithms=["HS256"], audience=AUDIENCE,
                                issuer=ISSUER, options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise _unauthorized("TOKEN_EXPIRED", "the bearer token has expired; request a new one") from None
        except jwt.InvalidTokenError:
            raise _unauthorized("INVALID_TOKEN", "the bearer token is not valid") from None
        if claims["sub"] != self.client_id:
            raise _unauthorized("INVALID_TOKEN", "the bearer token is not valid")
        return str(claims["sub"])

    def token_endpoint(self, req: Request) -> Response:
        """POST /oauth/token (RFC 6749 section 4.4): client credentials in Basic auth or in the form."""
        client_id, client_secret = _client_credentials(req)
        if req.form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
        known = hmac.compare_digest(client_id.encode(), self.client_id.encode())
        if not (hmac.compare_digest(client_secret.encode(), self.client_secret.encode()) and known):
            response = _oauth_error(401, "invalid_client", "client authentication failed")
            response.headers["WWW-Authenticate"] = 'Basic realm="avp"'
            return response
        response = json_response({"access_token": self.issue(), "token_type": "Bearer", "expires_in": self.ttl_s})
        response.headers["Cache-Control"] = "no-store"
        return response


def _client_credentials(req: Request) -> tuple[str, str]:
    header = req.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(encoded.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        return user, password
    return req.form.get("client_id", ""), req.form.get("client_secret", "")


def _oauth_error(status: int, error: str, description: str) -> Response:
    response = json_response({"error": error, "error_description": description}, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _unauthorized(code: str, message: str) -> Problem:
    challenge = 'Bearer realm="avp"' if code == "MISSING_TOKEN" else 'Bearer realm="avp", error="invalid_token"'
    return Problem(401, code, message, {"WWW-Authenticate": challenge})
