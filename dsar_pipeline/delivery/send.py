"""Deliver a finished package: upload with SSE-KMS, an expiring link by e-mail (and one to the CDOC
copy for ID-card holders), the passphrase by SMS, and purge what is no longer needed.

The link and the passphrase never travel together and are never logged or returned to Dagster:
the functions here return only non-personal evidence (object key, sizes, hashes, expiry).

Idempotency keys name the package (its SHA-256), so a retried send of the same package never
reaches the customer twice, while a rebuilt package (new passphrase) is sent anew.

A presigned link lives no longer than the credentials that signed it: signed with temporary
credentials (an IAM role's session) it dies with the session, hours before the date the mail
promises. So links are signed with the long-term keys of a presign-only user when
`DSAR_PRESIGN_ACCESS_KEY_ID`/`DSAR_PRESIGN_SECRET_ACCESS_KEY` are set, and delivery refuses to
promise a link signed with temporary credentials (deploy/delivery.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dsar_pipeline.delivery.notify import send_mail, send_sms

MAX_LINK_DAYS = 7
LINK_TEXT = {
    "et": ("Teie isikuandmete päringu vastus",
           "Tere!\n\nTeie isikuandmete päringu vastus on allalaaditav kuni {expires}:\n{url}\n\n"
           "Fail on krüpteeritud. Parooli saadame eraldi SMS-iga.\n"),
    "lv": ("Atbilde uz jūsu datu pieprasījumu",
           "Labdien!\n\nAtbilde uz jūsu personas datu pieprasījumu ir lejupielādējama līdz "
           "{expires}:\n{url}\n\nFails ir šifrēts. Paroli nosūtīsim atsevišķā īsziņā.\n"),
    "ru": ("Ответ на ваш запрос о персональных данных",
           "Здравствуйте!\n\nОтвет на ваш запрос доступен для загрузки до "
           "{expires}:\n{url}\n\nФайл зашифрован. Пароль мы отправим отдельным SMS.\n"),
    "en": ("The answer to your personal data request",
           "Hello,\n\nThe answer to your personal data request can be downloaded "
           "until {expires}:\n{url}\n\nThe file is encrypted. We send the passphrase separately by SMS.\n"),
}
CDOC_TEXT = {
    "et": "\nID-kaardiga avatav koopia (DigiDoc4, parooli pole vaja):\n{cdoc_url}\n",
    "lv": "\nKopija, ko var atvērt ar Igaunijas ID karti (DigiDoc4, parole nav vajadzīga):\n{cdoc_url}\n",
    "ru": "\nКопия, которая открывается ID-картой (DigiDoc4, пароль не нужен):\n{cdoc_url}\n",
    "en": "\nA copy you can open with your ID card (DigiDoc4, no passphrase needed):\n{cdoc_url}\n",
}
SMS_TEXT = {
    "et": "Teie andmepäringu vastuse parool: {passphrase}",
    "lv": "Jūsu datu pieprasījuma atbildes parole: {passphrase}",
    "ru": "Пароль к ответу на ваш запрос данных: {passphrase}",
    "en": "Passphrase for your data request answer: {passphrase}",
}


@dataclass(frozen=True)
class DeliveryEvidence:
    object_key: str
    size: int
    sha256: str
    link_expires: datetime
    cdoc_key: str | None = None

    def public(self) -> dict[str, Any]:
        return {"object_key": self.object_key, "size": self.size, "sha256": self.sha256,
                "link_expires": self.link_expires.isoformat(), "cdoc": bool(self.cdoc_key)}


def upload(client: Any, bucket: str, key: str, path: Path, kms_key_id: str | None) -> tuple[int, str]:
    """Stream the file to S3 with SSE-KMS; returns (size, sha256)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    extra = {"ServerSideEncryption": "aws:kms", **({"SSEKMSKeyId": kms_key_id} if kms_key_id else {})}
    client.upload_file(str(path), bucket, key, ExtraArgs=extra)
    return path.stat().st_size, digest.hexdigest()


class DeliveryError(RuntimeError):
    """Delivery cannot keep its promise as configured; one line, no personal data."""


def presign_client(client: Any, settings: Mapping[str, str]) -> Any:
    """The client that signs links: a presign-only user's long-term keys when configured, else
    `client`, which must then hold long-term keys too (temporary ones would cut the link short)."""
    import boto3

    key_id, secret = settings.get("DSAR_PRESIGN_ACCESS_KEY_ID"), settings.get("DSAR_PRESIGN_SECRET_ACCESS_KEY")
    if key_id and secret:
        return boto3.client("s3", endpoint_url=settings.get("DSAR_S3_ENDPOINT_URL") or None,
                            region_name=settings.get("DSAR_AWS_REGION") or None, aws_access_key_id=key_id,
                            aws_secret_access_key=secret)
    credentials = client._request_signer._credentials  # botocore has no public accessor for a client's keys
    if credentials is not None and credentials.get_frozen_credentials().token:
        raise DeliveryError("presigned links signed with temporary credentials expire with them; set "
                            "DSAR_PRESIGN_ACCESS_KEY_ID and DSAR_PRESIGN_SECRET_ACCESS_KEY (deploy/delivery.md)")
    return client


def deliver(client: Any, settings: Mapping[str, str], *, request_id: str, package: Path, passphrase: str,
            email: str, phone: str | None, language: str, package_sha256: str, link_days: int = MAX_LINK_DAYS,
            cdoc: Path | None = None) -> DeliveryEvidence:
    """Upload the package (and CDOC), mail the link(s), text the passphrase."""
    link_days = max(1, min(link_days, MAX_LINK_DAYS))
    signer = presign_client(client, settings)
    bucket, kms = settings["DSAR_PACKAGE_BUCKET"], settings.get("DSAR_KMS_KEY_ID") or None
    key = f"packages/{request_id}/response.zip"
    size, digest = upload(client, bucket, key, package, kms)
    if digest != package_sha256:
        client.delete_object(Bucket=bucket, Key=key)
        raise DeliveryError("the package changed after it was checked; not delivered")
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=link_days)

    def link(object_key: str) -> str:
        return str(signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": object_key},
                                                 ExpiresIn=link_days * 86400))

    cdoc_key = None
    subject, body = LINK_TEXT.get(language, LINK_TEXT["en"])
    text = body.format(url=link(key), expires=expires.date().isoformat())
    if cdoc is not None:
        cdoc_key = f"packages/{request_id}/response.cdoc"
        upload(client, bucket, cdoc_key, cdoc, kms)
        text += CDOC_TEXT.get(language, CDOC_TEXT["en"]).format(cdoc_url=link(cdoc_key))
    version = package_sha256[:16]
    send_mail(settings, to=email, subject=subject, text=text,
              idempotency_key=f"{request_id}-link-{version}")
    if phone:
        send_sms(settings, to=phone, text=SMS_TEXT.get(language, SMS_TEXT["en"]).format(passphrase=passphrase),
                 idempotency_key=f"{request_id}-passphrase-{version}")
    return DeliveryEvidence(key, size, digest, expires, cdoc_key)


def purge_package(client: Any, bucket: str, request_id: str) -> int:
    """Delete the delivered objects of a request; returns how many."""
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"packages/{request_id}/"):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            count += len(keys)
    return count
