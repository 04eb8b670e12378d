"""Deliver a finished package: upload with SSE-KMS, an expiring link by e-mail, the passphrase by
SMS, and purge what is no longer needed.

The link and the passphrase never travel together and are never logged or returned to Dagster:
the functions here return only non-personal evidence (object key, sizes, hashes, expiry).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dsar_pipeline.notify import send_mail, send_sms

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


def deliver(client: Any, settings: Mapping[str, str], *, request_id: str, package: Path, passphrase: str,
            email: str, phone: str | None, language: str, link_days: int = MAX_LINK_DAYS,
            cdoc: Path | None = None) -> DeliveryEvidence:
    """Upload the package (and CDOC), mail the link, text the passphrase."""
    link_days = max(1, min(link_days, MAX_LINK_DAYS))
    bucket, kms = settings["DSAR_PACKAGE_BUCKET"], settings.get("DSAR_KMS_KEY_ID") or None
    key = f"packages/{request_id}/response.zip"
    size, digest = upload(client, bucket, key, package, kms)
    cdoc_key = None
    if cdoc is not None:
        cdoc_key = f"packages/{request_id}/response.cdoc"
        upload(client, bucket, cdoc_key, cdoc, kms)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=link_days)
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                        ExpiresIn=link_days * 86400)
    subject, body = LINK_TEXT.get(language, LINK_TEXT["en"])
    send_mail(settings, to=email, subject=subject, text=body.format(url=url, expires=expires.date().isoformat()),
              idempotency_key=f"{request_id}-link")
    if phone:
        send_sms(settings, to=phone, text=SMS_TEXT.get(language, SMS_TEXT["en"]).format(passphrase=passphrase),
                 idempotency_key=f"{request_id}-passphrase")
    return DeliveryEvidence(key, size, digest, expires, cdoc_key)


def purge_package(client: Any, bucket: str, request_id: str) -> int:
    """Delete the delivered objects of a request; returns how many."""
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"packages/{request_id}/")
    keys = [{"Key": o["Key"]} for o in listed.get("Contents", [])]
    if keys:
        client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    return len(keys)
