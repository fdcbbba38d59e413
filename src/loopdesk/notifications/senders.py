"""One sender per delivery kind, all with the same shape: `send` returns once the server accepted the message
and raises `DeliveryFailed` otherwise (`retry` false when another attempt cannot help). HTTP goes through the
SSRF-safe client of tools/net.py; e-mail through the configured SMTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, ClassVar

import aiosmtplib
import httpx

from loopdesk.core.settings import NotificationSettings
from loopdesk.notifications.models import NotificationDelivery
from loopdesk.tools.net import UnsafeDestination

SIGNATURE_HEADER = "X-Loopdesk-Signature"


class DeliveryFailed(Exception):
    """The message was not accepted. `reason` is kept on the delivery: it never holds a secret."""

    def __init__(self, reason: str, *, retry: bool = True):
        super().__init__(reason)
        self.reason, self.retry = reason, retry


@dataclass(frozen=True, slots=True)
class SendContext:
    http: httpx.AsyncClient  # the SSRF-safe client
    settings: NotificationSettings


class Sender(ABC):
    kind: ClassVar[str]

    @abstractmethod
    async def send(self, delivery: NotificationDelivery, config: dict[str, Any], context: SendContext) -> None:
        """Deliver it; `config` is the channel's (empty for a person's own e-mail)."""


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """DingTalk's robot signature: base64 of HMAC-SHA256 over "timestamp\\nsecret", keyed by the secret."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _status_error(response: httpx.Response) -> DeliveryFailed:
    code = response.status_code
    # A client error other than a timeout or a rate limit is the configuration's: trying again will not help.
    return DeliveryFailed(f"HTTP {code}", retry=code >= 500 or code in (408, 425, 429))


async def _post(context: SendContext, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
    try:
        response = await context.http.post(url, **kwargs)
    except UnsafeDestination:
        raise DeliveryFailed("refused: the URL reaches a private or reserved address", retry=False) from None
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__} while sending") from None
    if not response.is_success:
        raise _status_error(response)
    return response


def _url(config: dict[str, Any]) -> str:
    url = config.get("url")
    if not url:
        raise DeliveryFailed("the channel has no URL", retry=False)
    return str(url)


def markdown(delivery: NotificationDelivery) -> str:
    return f"#### {delivery.subject}\n\n" + "\n\n".join(line for line in delivery.body.splitlines() if line)


class DingTalkSender(Sender):
    """A DingTalk custom robot: markdown, signed with the robot's secret when it has one (`sign` and
    `timestamp` query parameters). DingTalk answers 200 with `errcode` 0 when it took the message."""

    kind = "dingtalk"

    async def send(self, delivery: NotificationDelivery, config: dict[str, Any], context: SendContext) -> None:
        url = httpx.URL(_url(config))
        if secret := config.get("secret"):
            timestamp = str(round(time.time() * 1000))
            url = url.copy_merge_params({"timestamp": timestamp, "sign": dingtalk_sign(secret, timestamp)})
        body = {"msgtype": "markdown", "markdown": {"title": delivery.subject, "text": markdown(delivery)}}
        response = await _post(context, url, json=body)
        try:
            answer = response.json()
        except ValueError:
            raise DeliveryFailed("DingTalk answered something other than JSON") from None
        code = answer.get("errcode") if isinstance(answer, dict) else None
        if code != 0:
            message = str(answer.get("errmsg", ""))[:200] if isinstance(answer, dict) else ""
            raise DeliveryFailed(f"DingTalk errcode {code}: {message}")


class SlackSender(Sender):
    """A Slack incoming webhook (`{"text"}` in Slack's mrkdwn)."""

    kind = "slack"

    async def send(self, delivery: NotificationDelivery, config: dict[str, Any], context: SendContext) -> None:
        await _post(context, _url(config), json={"text": f"*{delivery.subject}*\n{delivery.body}"})


class WebhookSender(Sender):
    """Any HTTP endpoint: the delivery as JSON, signed (`X-Loopdesk-Signature: sha256=<hex HMAC of the body>`)
    when the channel has a secret."""

    kind = "webhook"

    async def send(self, delivery: NotificationDelivery, config: dict[str, Any], context: SendContext) -> None:
        document = {
            "delivery_id": delivery.id,
            "subject": delivery.subject,
            "body": delivery.body,
            "language": delivery.language,
            **delivery.payload,
        }
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-Loopdesk-Event": delivery.event}
        if secret := config.get("secret"):
            headers[SIGNATURE_HEADER] = webhook_signature(secret, body)
        await _post(context, _url(config), content=body, headers=headers)


class EmailSender(Sender):
    """SMTP: to the person's address, or to a channel's `recipients`."""

    kind = "email"

    async def send(self, delivery: NotificationDelivery, config: dict[str, Any], context: SendContext) -> None:
        settings = context.settings
        if not settings.smtp_host:
            raise DeliveryFailed("no SMTP server is configured (LOOPDESK_SMTP_HOST)", retry=False)
        recipients = list(config.get("recipients") or [delivery.recipient])
        message = EmailMessage()
        message["From"] = settings.smtp_from
        message["To"] = ", ".join(recipients)
        message["Subject"] = delivery.subject
        message["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or None)
        message.set_content(delivery.body)
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=password,
                use_tls=settings.smtp_security == "tls",
                start_tls=settings.smtp_security == "starttls",
                timeout=settings.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused:
            raise DeliveryFailed("SMTP: every recipient was refused", retry=False) from None
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx: the server refuses for good (unknown recipient, bad login); 4xx: it may take it later.
            raise DeliveryFailed(f"SMTP {exc.code}: {exc.message[:200]}", retry=exc.code < 500) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"{type(exc).__name__} while sending e-mail") from None


SENDERS: dict[str, Sender] = {
    sender.kind: sender for sender in (DingTalkSender(), SlackSender(), WebhookSender(), EmailSender())
}
