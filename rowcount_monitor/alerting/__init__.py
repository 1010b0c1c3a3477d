"""Telling people: alert messages, a durable outbox and publishing to AWS SNS.

The outbox is what makes delivery exactly-once in practice: new check evaluations become
alerts in one SQLite transaction together with the position read up to, and an alert leaves
the outbox only when SNS has accepted it. See docs/alerting.md.
"""
