"""Stand-ins for the services the docs examples call: email, billing, CRM, chat, database...

Each call returns a plausible answer and is counted in `CALLS` under ``(operation, key)``,
so the tests can check that every step's work ran exactly once. Swap them for real clients.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

CALLS: Counter[tuple[str, str]] = Counter()
USERS: list[dict[str, Any]] = []  # what `db.fetch_users` answers
ITEMS: list[dict[str, Any]] = []  # what `db.items_to_process` answers
_LOCK = threading.Lock()


def _record(operation: str, key: str) -> None:
    with _LOCK:
        CALLS[operation, key] += 1


class _Emails:
    def send_welcome(self, to: str, name: str) -> dict[str, str]:
        _record("emails.send_welcome", to)
        return {"message_id": f"welcome-{to}", "greeting": f"Welcome, {name}!"}

    def send(self, to: str, subject: str, html: str) -> dict[str, str]:
        _record("emails.send", f"{to}:{subject}")
        return {"message_id": f"msg-{to}-{len(html)}"}


class _Stripe:
    def create_customer(self, email: str, user_id: str) -> dict[str, str]:
        _record("stripe.create_customer", user_id)
        return {"id": f"cus_{user_id}", "email": email}

    def start_trial(self, customer_id: str, days: int) -> dict[str, Any]:
        _record("stripe.start_trial", customer_id)
        return {"id": f"sub_{customer_id}", "trial_days": days}

    def charge(self, order_id: str, total_cents: int) -> dict[str, Any]:
        _record("stripe.charge", order_id)
        return {"charge_id": f"ch_{order_id}", "amount": total_cents}


class _Hubspot:
    def create_contact(self, email: str, first_name: str, plan: str) -> dict[str, str]:
        _record("hubspot.create_contact", email)
        return {"contact_id": f"hs-{email}", "first_name": first_name, "plan": plan}


class _Slack:
    def post(self, channel: str, text: str) -> dict[str, Any]:
        _record("slack.post", text)
        return {"ok": True, "channel": channel}


class _Mailchimp:
    def add_member(self, list_id: str, email: str) -> dict[str, str]:
        _record("mailchimp.add_member", email)
        return {"list": list_id, "status": "subscribed"}


class _Sms:
    def send(self, phone: str, text: str) -> dict[str, str]:
        _record("sms.send", phone)
        return {"sid": f"sms-{phone}"}


class _Database:
    def fetch_users(self) -> list[dict[str, Any]]:
        _record("db.fetch_users", "all")
        return list(USERS)

    def load_user_activity(self, user_id: str) -> dict[str, Any]:
        _record("db.load_user_activity", user_id)
        return {"user_id": user_id, "events": len(user_id)}

    def items_to_process(self) -> list[dict[str, Any]]:
        _record("db.items_to_process", "all")
        return list(ITEMS)

    def load_item(self, item_id: str) -> dict[str, Any]:
        _record("db.load_item", item_id)
        return {"id": item_id, "size": len(item_id)}

    def save_result(self, item_id: str, result: dict[str, Any]) -> None:
        _record("db.save_result", item_id)

    def update_order(self, order_id: str, fields: dict[str, Any]) -> None:
        _record("db.update_order", order_id)

    def customer_phone(self, customer_id: str) -> str:
        _record("db.customer_phone", customer_id)
        return f"+1-555-{customer_id}"

    def log_audit(self, action: str, user_id: str) -> None:
        _record("db.log_audit", f"{action}:{user_id}")


class _Warehouse:
    def decrement_stock(self, order_id: str, items: list[str]) -> None:
        _record("warehouse.decrement_stock", order_id)

    def create_pick_order(self, order_id: str, items: list[str]) -> dict[str, str]:
        _record("warehouse.create_pick_order", order_id)
        return {"fulfillment_id": f"ful_{order_id}", "estimated_delivery": "in 3 days"}

    def push(self, order_id: str, items: list[str], priority: str) -> dict[str, str]:
        _record("warehouse.push", order_id)
        return {"order_id": order_id, "priority": priority}


class _Loyalty:
    def add_points(self, customer_id: str, points: int) -> int:
        _record("loyalty.add_points", customer_id)
        return points


class _Erp:
    def sync_order(self, order_id: str) -> dict[str, str]:
        _record("erp.sync_order", order_id)
        return {"erp_id": f"erp-{order_id}", "synced_at": str(int(time.time()))}


emails = _Emails()
stripe = _Stripe()
hubspot = _Hubspot()
slack = _Slack()
mailchimp = _Mailchimp()
sms = _Sms()
db = _Database()
warehouse = _Warehouse()
loyalty = _Loyalty()
erp = _Erp()
