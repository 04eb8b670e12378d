"""OAuth 2.0 client-credentials grant (RFC 6749 §4.4) and bearer-token checks (RFC 6750).

Access tokens are HS256 JWTs, but clients must treat them as opaque: only `expires_in` in the
token response tells how long one lives. Errors carry the RFC's error codes, so a standard OAuth
client library handles them without special cases.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import unquote_plus

import jwt
from flask import Request

from sandbox.volt.errors import ApiError

ISSUER = "volt-api"
AUDIENCE = "volt-api"
SCOPE = "accounts:read"
REALM = "volt"


def bearer_challenge(error: str | None = None, description: str | None = None) -> dict[str, str]:
    params = [f'realm="{REALM}"']
    if error:
        params.append(f'error="{error}"')
    if description:
        params.append(f'error_description="{description}"')
    return {"WWW-Authenticate": "Bearer " + ", ".join(params)}


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass
class TokenService:
    client_id: str
    client_secret: str
    jwt_secret: str
    ttl_seconds: int

    def authenticate_client(self, request: Request) -> str:
        """The client id, after checking the client's credentials (HTTP Basic or form fields, not both)."""
        basic = request.authorization if request.authorization and request.authorization.type == "basic" else None
        form_id = request.form.get("client_id")
        form_secret = request.form.get("client_secret")
        invalid_client = ApiError(401, "invalid_client", "client authentication failed",
                                    {"WWW-Authenticate": f'Basic realm="{REALM}"'})
        if basic is not None and (form_secret is not None or (form_id is not None and form_id != basic.username)):
            raise ApiError(400, "invalid_request", "use one client authentication method, not two")
        if basic is not None:
            given_id, given_secret = basic.username or "", basic.password or ""
            # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding; accept either form.
            candidates = {(given_id, given_secret), (unquote_plus(given_id), unquote_plus(given_secret))}
        elif form_id is not None and form_secret is not None:
            candidates = {(form_id, form_secret)}
        else:
            raise invalid_client
        if any(_same(i, self.client_id) & _same(s, self.client_secret) for i, s in candidates):
            return self.client_id
        raise invalid_client

    def issue(self, client_id: str, requested_scope: str | None) -> dict[str, object]:
        if requested_scope is not None and not set(requested_scope.split()) <= {SCOPE}:
            raise ApiError(400, "invalid_scope", f"the only scope is {SCOPE}")
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": client_id, "iat": now, "exp": now + self.ttl_seconds,
                  "jti": secrets.token_hex(8), "scope": SCOPE}
        return {"access_token": jwt.encode(claims, self.jwt_secret, algorithm="HS256"), "token_type": "Bearer",
                "expires_in": self.ttl_seconds, "scope": SCOPE}

    def verify(self, authorization: str | None) -> str:
        """The client id a bearer token was issued to; ApiError 401 when missing, expired or forged."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "a bearer access token is required", bearer_challenge())
        try:
            claims = jwt.decode(token.strip(), self.jwt_secret, algorithms=["HS256"], audience=AUDIENCE,
                                issuer=ISSUER, options={"require": ["exp", "iat", "sub", "aud", "iss"]})
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "invalid_token", "the access token expired",
                             bearer_challenge("invalid_token", "the access token expired")) from None
        except jwt.InvalidTokenError:
            raise ApiError(401, "invalid_token", "the access token is invalid",
                             bearer_challenge("invalid_token", "the access token is invalid")) from None
        if claims["sub"] != self.client_id:
            raise ApiError(401, "invalid_token", "the access token is invalid",
                             bearer_challenge("invalid_token", "the access token is invalid"))
        return str(claims["sub"])
