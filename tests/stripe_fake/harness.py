"""Start the extended localstripe (`tests.stripe_fake.server`) as a real process and drive it.

The sync under test talks to it over HTTP with the real `stripe` library, exactly as it would
to api.stripe.com; the tests read Stripe's side back through the same library.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import stripe

API_KEY = "sk_test_metering_harness"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class FakeStripe:
    """A running harness at `url` (give it to `Settings.stripe_api_base`)."""

    url: str
    process: subprocess.Popen[str]
    # One client for the whole run: each new httpx client builds an SSL context (~25 ms).
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def _control(self, method: str, path: str, body: Any = None) -> httpx.Response:
        response = self.http.request(method, f"{self.url}/_config/{path}", json=body)
        response.raise_for_status()
        return response

    def client(self) -> stripe.StripeClient:
        return stripe.StripeClient(API_KEY, base_addresses={"api": self.url})

    def requests(self) -> list[dict[str, Any]]:
        """The API requests seen since the last `clear_requests`, in order."""
        seen: list[dict[str, Any]] = self._control("GET", "requests").json()
        return seen

    def clear_requests(self) -> None:
        self._control("DELETE", "requests")

    def fault(
        self,
        status: int,
        count: int = 1,
        path: str = "/v1/",
        method: str = "POST",
        error: dict[str, Any] | None = None,
        carry_out: bool = False,
        suffix: str = "",
    ) -> None:
        """Answer the next `count` matching requests with `status` (and Stripe's error body
        `error`, if given) instead of carrying them out, as a failing Stripe endpoint would;
        `carry_out`: carry them out first, then answer the error all the same (a 500 after
        Stripe made the object). The answer is kept under the request's idempotency key, as
        Stripe keeps it (except a 429 or 409). A request matches when its path starts with
        `path` and ends with `suffix`."""
        body: dict[str, Any] = {
            "status": status,
            "count": count,
            "path": path,
            "suffix": suffix,
            "method": method,
        }
        if error is not None:
            body["error"] = error
        if carry_out:
            body["carry_out"] = True
        self._control("POST", "faults", body)

    def lose_answers(
        self, delay: float, count: int = 1, path: str = "/v1/", method: str = "POST"
    ) -> None:
        """Carry out the next `count` matching requests, then answer only after `delay`
        seconds: a client with a shorter timeout never hears that Stripe did them."""
        body = {"delay": delay, "count": count, "path": path, "method": method}
        self._control("POST", "faults", body)

    def kill(self, pid: int, request: int, when: str) -> None:
        """SIGKILL `pid` at the `request`-th request counted from `clear_requests`:
        `before` Stripe carries it out, or `after` (Stripe did it; the client never hears)."""
        self._control("POST", "kill", {"pid": pid, "request": request, "when": when})

    def forget_idempotency_keys(self) -> None:
        """Stripe forgets a key 24 hours after its first use; this forgets them all now."""
        self._control("DELETE", "idempotency")

    def reset(self) -> None:
        self._control("DELETE", "state")

    def customer_with_card(self, card: str = "pm_card_visa") -> str:
        """A Stripe customer whose invoices are charged to `card` (a Stripe test card id)."""
        customer = self.client().v1.customers.create(
            params={"payment_method": card, "invoice_settings": {"default_payment_method": card}}
        )
        return customer.id

    def complete_checkout(self, session_id: str, card: str = "pm_card_visa") -> list[Any]:
        """The customer adds `card` on the Checkout Session's hosted page; the events Stripe
        sends for it (`setup_intent.succeeded`, `checkout.session.completed`)."""
        events: list[Any] = self._control(
            "POST", f"checkout/{session_id}/complete", {"payment_method": card}
        ).json()
        return events

    def set_default_card(self, customer: str, card: str = "pm_card_visa") -> None:
        """The customer attaches `card` and makes it the default for its invoices."""
        client = self.client()
        method = client.v1.payment_methods.attach(card, {"customer": customer})
        client.v1.customers.update(
            customer, {"invoice_settings": {"default_payment_method": method.id}}
        )


@contextmanager
def running_fake_stripe() -> Iterator[FakeStripe]:
    # Errors go to a file, not a pipe nobody reads (a full pipe would stall the server).
    with tempfile.TemporaryFile(mode="w+") as errors:
        yield from _run(errors)


def _run(errors: IO[str]) -> Iterator[FakeStripe]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.stripe_fake.server"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("port "):
            process.kill()
            process.wait()
            errors.seek(0)
            raise RuntimeError(f"the Stripe harness did not start: {line}{errors.read()}")
        yield FakeStripe(f"http://127.0.0.1:{int(line.split()[1])}", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
