"""AWS-side of aws-monitor: sessions, listings, metrics and costs as plain dataclasses."""
