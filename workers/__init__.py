"""Ballast workers: one container image per photo operation, draining an SQS work queue (DESIGN.md, How data flows)."""
