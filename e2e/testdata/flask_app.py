"""A Flask service as users run it under zero-code instrumentation:

    OTEL_SERVICE_NAME=shop opentelemetry-instrument python flask_app.py PORT

opentelemetry-instrument (from opentelemetry-distro) installs the Flask and
requests instrumentations and the SDK with its default exporter settings
(OTLP/gRPC to localhost:4317); nothing here mentions OpenTelemetry.

Routes:
  /checkout     calls /inventory/<sku> on this same server with requests, so
                a client span (requests) is the parent of a server span
  /inventory/x  answers JSON
  /fail         raises ValueError: Flask answers 500

SIGTERM exits cleanly (SystemExit), so the SDK's exit hook flushes the
batched spans before the process ends.
"""
import signal
import sys

import requests
from flask import Flask, jsonify

port = int(sys.argv[1])
app = Flask(__name__)


@app.route("/checkout")
def checkout():
    r = requests.get(f"http://127.0.0.1:{port}/inventory/sku-42", timeout=10)
    r.raise_for_status()
    return jsonify(ok=True, stock=r.json()["stock"])


@app.route("/inventory/<sku>")
def inventory(sku):
    return jsonify(sku=sku, stock=7)


@app.route("/fail")
def fail():
    raise ValueError("payment declined: card expired")


def stop(signum, frame):
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)

if __name__ == "__main__":
    print("listening", flush=True)
    app.run(host="127.0.0.1", port=port, threaded=True)
