"""Real local AWS endpoints for the alerting tests: moto's server mode on 127.0.0.1, and a small
HTTP proxy in front of it that can be switched to answer 500s (an SNS outage)."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import time
from contextlib import contextmanager

import boto3

SECRET = "SECRETKEY-must-never-appear-0f9e8d"


@contextmanager
def moto_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class FlakyProxy:
    """Forwards requests to `target`; after `healthy_for` more requests, answers 500 until healed."""

    def __init__(self, target: str):
        self.target = target.removeprefix("http://")
        self.healthy_for: int | None = None  # None: always healthy
        self.delay = 0.0  # seconds each forwarded request takes (a slow endpoint)
        self.forwarded = 0
        self.refused = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if proxy.healthy_for is not None and proxy.healthy_for <= 0:
                    proxy.refused += 1
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if proxy.healthy_for is not None:
                    proxy.healthy_for -= 1
                time.sleep(proxy.delay)
                conn = http.client.HTTPConnection(proxy.target, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request("POST", self.path, body, headers)
                resp = conn.getresponse()
                data = resp.read()
                proxy.forwarded += 1
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def aws_env(monkeypatch, endpoint: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTING")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def topic_with_queue(endpoint: str, name: str = "rowcount-alerts"):
    """An SNS topic with an SQS queue subscribed; returns (topic_arn, queue_url)."""
    sns = boto3.client("sns", endpoint_url=endpoint)
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, queue


def drain(endpoint: str, queue: str) -> list[dict]:
    """Every SNS envelope that arrived in the queue (deleting them)."""
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    out = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return out
        for m in batch:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
