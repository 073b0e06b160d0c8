"""Slack-facing logic: command grammar, intents and Block Kit replies; no network of its own."""
