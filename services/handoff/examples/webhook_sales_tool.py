"""A sales tool receiving LeadLoop's webhooks, verified with the `standardwebhooks` package.

    pip install standardwebhooks
    LEADLOOP_WEBHOOK_SECRET=whsec_... python webhook_sales_tool.py 8080

Register it first (the answer holds the secret, shown once):
    curl -X POST :8003/v1/webhooks -H "X-API-Key: $KEY" \\
      -d '{"name": "crm", "url": "http://crm.example:8080/hooks"}'

Webhook bodies are plain JSON (TLS protects them in transit): {"type", "timestamp", "id",
"data"}. Answer 2xx quickly; anything else, or no answer, is retried with backoff for 24 h, with
the same `webhook-id`, so remember the ids you have handled.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from standardwebhooks import Webhook, WebhookVerificationError


def verified(secret: str, body: bytes, headers: dict[str, str]) -> dict[str, Any] | None:
    """The message if its signature and timestamp (within 5 minutes) check out, else None."""
    try:
        message: dict[str, Any] = Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return None
    return message


class SalesToolHooks(BaseHTTPRequestHandler):
    """POST /hooks: verify, skip what was already handled, handle, answer 204."""

    secret: ClassVar[str] = os.environ.get("LEADLOOP_WEBHOOK_SECRET", "")
    handled: ClassVar[dict[str, dict[str, Any]]] = {}  # webhook-id -> message; use a table

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        message = verified(self.secret, body, dict(self.headers.items()))
        if message is None:
            self.send_response(400)
        else:
            if self.headers["webhook-id"] not in self.handled:
                self.handle_message(message)
                self.handled[self.headers["webhook-id"]] = message
            self.send_response(204)
        self.end_headers()

    def handle_message(self, message: dict[str, Any]) -> None:
        """Your code: e.g. create the lead in the CRM and notify the rep."""
        print(json.dumps({"type": message["type"], "lead_id": message["data"]["lead_id"]}))

    def log_message(self, *args: Any) -> None:
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    ThreadingHTTPServer(("0.0.0.0", port), SalesToolHooks).serve_forever()
