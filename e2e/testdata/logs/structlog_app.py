"""A service logging with structlog's JSON renderer, shipping its own
lines to Vigil's /insert/jsonline with requests, as a sidecar-less app
does. It prints the shipped body so the test knows every line exactly.

usage: structlog_app.py <vigil url> <service>
"""

import io
import sys

import requests
import structlog

url, service = sys.argv[1], sys.argv[2]

out = io.StringIO()
structlog.configure(
    processors=[
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
        structlog.processors.JSONRenderer(),
    ],
    logger_factory=structlog.PrintLoggerFactory(file=out),
)
log = structlog.get_logger()

log.info("order_created", order_id="A-1001", amount=12.5, currency="EUR")
log.info("order_created", order_id="A-1002", amount=99.0, currency="EUR")
log.info("order_created", order_id="A-1003", amount=20, currency="USD")
log.warning("payment_retry", order_id="A-1002", attempt=2)
log.error("payment_failed", order_id="A-1002", reason="card declined")
log.bind(request_id="req-7", user={"id": 42, "tier": "gold"}).debug("cache_miss", key="cart:42")

body = out.getvalue()
resp = requests.post(
    url + "/insert/jsonline",
    params={
        "_msg_field": "event",
        "_time_field": "timestamp",
        "level_field": "level",
        "service": service,
    },
    data=body.encode(),
    headers={"Content-Type": "application/stream+json"},
    timeout=30,
)
if resp.status_code != 204:
    sys.exit(f"POST /insert/jsonline: {resp.status_code} {resp.text}")
sys.stdout.write(body)
