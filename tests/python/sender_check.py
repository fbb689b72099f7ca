"""End-to-end check with senders' own Python signing libraries: Slack's `slack_sdk`
(SignatureVerifier.generate_signature, as Slack signs Events API, slash command and
interactivity requests) and the reference `standardwebhooks` library. Starts the real binary,
sends signed deliveries, and checks the answers and what was stored: the url_verification
challenge is echoed, events and slash commands are verified with the right type and delivery
id, a tampered body and a stale timestamp get 401. Exits non-zero on any failure.

Usage: python sender_check.py <path to webhook-mcp binary>
"""

import datetime
import json
import os
import sys
import time
import urllib.parse
import uuid

import httpx2
from slack_sdk.signature import SignatureVerifier
from standardwebhooks import Webhook

from server import KEY, running_server


def slack_headers(secret: str, body: str, at: int) -> dict:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(at), body=body)
    return {"X-Slack-Request-Timestamp": str(at), "X-Slack-Signature": signature}


def stored_event(http: httpx2.Client, base: str, answer: httpx2.Response) -> dict:
    """The event a delivery's answer names, as `GET /api/events/{id}` shows it (a Slack form is
    acknowledged with an empty body, its receipt in headers)."""
    event_id = answer.headers.get("x-webhook-event-id") or answer.json()["event_id"]
    return http.get(f"{base}/api/events/{event_id}", headers={"Authorization": f"Bearer {KEY}"}).json()


def check(http: httpx2.Client, base: str) -> None:
    api = {"Authorization": f"Bearer {KEY}"}
    now = int(time.time())

    # Slack: the signing secret is the app's, pasted into the webhook.
    secret = os.urandom(16).hex()
    r = http.post(f"{base}/api/webhooks", headers=api,
                  json={"id": "slack", "name": "slack", "provider": "slack", "secret": secret})
    assert r.status_code == 201 or r.status_code == 200, r.text
    url = f"{base}/webhooks/slack/slack"

    challenge = json.dumps({"token": "t", "challenge": "c-" + uuid.uuid4().hex, "type": "url_verification"})
    r = http.post(url, content=challenge, headers={"Content-Type": "application/json", **slack_headers(secret, challenge, now)})
    assert r.status_code == 200 and r.json()["challenge"] == json.loads(challenge)["challenge"], r.text
    print("ok  Slack url_verification (slack_sdk)")

    event_id = "Ev" + uuid.uuid4().hex[:10].upper()
    message = json.dumps({
        "token": "t", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
        "event_id": event_id, "event_time": now,
        "event": {"type": "message", "channel": "C1", "channel_type": "channel", "user": "U1",
                  "text": "the build is red", "ts": "1700000000.000100"},
    })
    headers = {"Content-Type": "application/json", **slack_headers(secret, message, now)}
    first = http.post(url, content=message, headers=headers)
    assert first.status_code == 200 and first.json()["status"] == "accepted", first.text
    again = http.post(url, content=message, headers=headers)
    assert again.json()["status"] == "duplicate", again.text
    tampered = http.post(url, content=message.replace("red", "green"), headers=headers)
    assert tampered.status_code == 401, tampered.text
    stale = http.post(url, content=message, headers={"Content-Type": "application/json", **slack_headers(secret, message, now - 600)})
    assert stale.status_code == 401, stale.text
    stored = stored_event(http, base, first)
    assert stored["verified"] is True, stored
    assert stored["event_type"] == "message.channels", stored
    assert stored["delivery_id"] == event_id, stored
    print("ok  Slack Events API message (slack_sdk)")

    trigger = "13345224609." + uuid.uuid4().hex[:8]
    form = urllib.parse.urlencode({
        "token": "t", "team_id": "T1", "channel_id": "C1", "user_id": "U1", "command": "/deploy",
        "text": "staging", "response_url": "https://hooks.slack.com/commands/1/2/3", "trigger_id": trigger,
    })
    r = http.post(url, content=form, headers={"Content-Type": "application/x-www-form-urlencoded", **slack_headers(secret, form, now)})
    assert r.status_code == 200 and r.text == "", r.text
    assert r.headers["x-webhook-status"] == "accepted", r.headers
    stored = stored_event(http, base, r)
    assert stored["verified"] is True and stored["event_type"] == "/deploy", stored
    assert stored["delivery_id"] == trigger, stored
    print("ok  Slack slash command (slack_sdk)")

    # Standard Webhooks: the reference Python library with the secret webhook-mcp generated.
    created = http.post(f"{base}/api/webhooks", headers=api,
                        json={"id": "std", "name": "std", "provider": "standard-webhooks"}).json()
    wh = Webhook(created["secret"])
    body = json.dumps({"type": "order.created", "data": {"id": 7}})
    msg_id = "msg_" + uuid.uuid4().hex

    def std_headers(at: datetime.datetime) -> dict:
        return {"Content-Type": "application/json", "webhook-id": msg_id,
                "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": wh.sign(msg_id, at, body)}

    url = f"{base}/webhooks/standard-webhooks/std"
    utc_now = datetime.datetime.now(tz=datetime.timezone.utc)
    r = http.post(url, content=body, headers=std_headers(utc_now))
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    stale = http.post(url, content=body, headers=std_headers(utc_now - datetime.timedelta(minutes=10)))
    assert stale.status_code == 401, stale.text
    stored = stored_event(http, base, r)
    assert stored["verified"] is True and stored["event_type"] == "order.created", stored
    assert stored["delivery_id"] == msg_id, stored
    print("ok  Standard Webhooks (standardwebhooks for Python)")


def main() -> int:
    with running_server(sys.argv[1]) as base, httpx2.Client(timeout=10) as http:
        check(http, base)
    print("all Python sender library checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
