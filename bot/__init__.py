"""The aws-monitor process: configuration, the Bolt app, serving, scheduling, storage and CLI."""
