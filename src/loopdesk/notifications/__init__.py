"""Notifications: channels (e-mail, DingTalk, Slack, generic webhooks, WebSocket) and the durable outbox of
deliveries, sent by a queued job with retries."""
