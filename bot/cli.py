"""The `aws-monitor` command line: serve, ask, digest, check and demo."""

from __future__ import annotations

import argparse
import gc
import ipaddress
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
from collections import Counter
from collections.abc import Sequence

from bot.config import AppConfig, config_path, is_channel_id, load_config, shown
from bot.runtime import Runtime, build_runtime
from bot.slack import make_client
from handlers.dispatch import handle_mention, handle_text, unmapped_channel_reply
from handlers.terminal import render_reply
from services.errors import AwsMonitorError, ConfigError
from services.inventory import RESOURCE_TYPES
from services.permissions import ALLOWED, DENIED, FAILED, SKIPPED, check_account

logger = logging.getLogger("bot.cli")

EXIT_USAGE = 2
MAX_PORT = 65535
# One label of a host name (RFC 1123): letters, digits and inner hyphens.
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# Python's default thresholds (700, 10, 10) start a collection each time allocations
# outnumber deallocations by 700. A user's first inventory creates boto3 clients by the
# hundred, each holding about 3,400 objects, so the collector took about 40% of that
# question's CPU time. These thresholds cut its median CPU time from 2.9 s to 2.1 s in
# benchmarks/inventory.py (2 cores, 144 clients).
GC_THRESHOLDS = (50_000, 20, 20)
# The AWS services whose botocore models `serve` parses before it listens.
PRELOADED_SERVICES = (
    *sorted({rtype.service for rtype in RESOURCE_TYPES.values()}),
    "cloudwatch",
    "ce",
    "sts",
)


def configure_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def configure_logging() -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level if level in logging.getLevelNamesMapping() else "INFO",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # botocore logs every retry at DEBUG; its INFO lines about credentials are noise.
    logging.getLogger("botocore").setLevel(logging.WARNING)


class UsageError(AwsMonitorError):
    """A command-line value that is invalid or cannot be used, such as a port in use.

    main() prints the message after `Error:` and exits 2.
    """


def port_number(value: str) -> int:
    """Parse --port: a TCP port from 0 to 65535, where 0 lets the system pick a free one."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{shown(value)} is not a port number; use 0 to {MAX_PORT} (0 picks a free port)"
        ) from None
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"{port} is out of range; use 0 to {MAX_PORT} (0 picks a free port)"
        )
    return port


def host_address(value: str) -> str:
    """Parse --host: an IP address or a host name, checked by syntax only (no DNS lookup)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        return value
    labels = value.rstrip(".").split(".")
    if all(label.isdigit() for label in labels):
        # Such as 256.0.0.1: not an address, and no host name is made of digits only.
        raise argparse.ArgumentTypeError(
            f"{shown(value)} is not a valid IPv4 address; use four numbers from 0 to 255, "
            "e.g. 127.0.0.1"
        )
    if len(value) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise argparse.ArgumentTypeError(
            f"{shown(value)} is not an IP address or host name; use e.g. 127.0.0.1, 0.0.0.0 "
            "or ::1"
        )
    return value


def channel_id(value: str) -> str:
    """Parse --channel: a Slack channel id in the form the configuration's channels use."""
    if not is_channel_id(value):
        raise argparse.ArgumentTypeError(
            f"{shown(value)} is not a Slack channel id; use the id (e.g. C0PROD0001, from the "
            "channel's details), not the channel's name"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aws-monitor", description="A Slack bot that watches the AWS accounts of each channel."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--config",
            metavar="PATH",
            help="configuration file (default: $AWS_MONITOR_CONFIG or ./aws-monitor.yaml)",
        )
        return sub

    serve = with_config(commands.add_parser("serve", help="run the bot"))
    serve.add_argument("--http", action="store_true", help="serve HTTP even if SLACK_APP_TOKEN is set")
    serve.add_argument(
        "--port", type=port_number, default=3000, help="HTTP port, 0 to 65535 (default 3000; 0 picks one)"
    )
    serve.add_argument(
        "--host", type=host_address, default="127.0.0.1", help="address to bind (default 127.0.0.1)"
    )
    serve.add_argument(
        "--shutdown-grace",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="on SIGTERM, how long running requests may finish before the process exits "
        "(default 20)",
    )

    ask = with_config(
        commands.add_parser(
            "ask",
            help="answer one command as if typed in a channel",
            description="Print the reply to one command as if typed in a channel. Exits 1 "
            "when the channel is not in the config and 2 when the command is not understood "
            "(the reply is then the help).",
        )
    )
    ask.add_argument(
        "--channel", type=channel_id, required=True, metavar="ID", help="Slack channel id, e.g. C0PROD0001"
    )
    ask.add_argument("--user", metavar="ID", help="Slack user id for the role session name")
    ask.add_argument("--json", action="store_true", help="print the Block Kit payload")
    ask.add_argument("--mention", action="store_true", help="read the text as a mention in plain words")
    ask.add_argument("text", help='the command, e.g. "ec2 prod"')

    digest = with_config(commands.add_parser("digest", help="build a digest; print or post it"))
    digest.add_argument(
        "--channel", type=channel_id, required=True, metavar="ID", help="Slack channel id, e.g. C0PROD0001"
    )
    digest.add_argument("--kind", required=True, choices=("costs", "idle"), help="which digest")
    digest.add_argument(
        "--post", action="store_true", help="post it with chat.postMessage (needs SLACK_BOT_TOKEN)"
    )
    digest.add_argument(
        "--once",
        action="store_true",
        help="with --post: post only if no process posted this digest today (the channel's "
        "date), as the scheduler does",
    )

    check = with_config(commands.add_parser("check", help="validate the config and try each IAM action"))
    check.add_argument(
        "--account", action="append", metavar="NAME", help="only this account (repeatable)"
    )

    demo = commands.add_parser("demo", help="tour the bot on an embedded AWS with demo data")
    demo.add_argument("--no-prompt", action="store_true", help="do not offer a prompt after the tour")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    configure_gc()
    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from bot.demo import run_demo

            return run_demo(prompt=not args.no_prompt)
        config = load_config(config_path(args.config))
        if args.command == "serve":
            return serve(config, args.http, args.host, args.port, args.shutdown_grace)
        if args.command == "ask":
            return ask(config, args.channel, args.text, args.user, args.json, args.mention)
        if args.command == "check":
            return check(config, args.account)
        if args.command == "digest":
            from bot.digests import digest_command

            if args.once and not args.post:
                print("--once needs --post: it decides whether to post.", file=sys.stderr)
                return EXIT_USAGE
            return digest_command(config, args.channel, args.kind, args.post, args.once)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AwsMonitorError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return EXIT_USAGE


def ask(
    config: AppConfig, channel: str, text: str, user: str | None, as_json: bool, mention: bool,
    runtime: Runtime | None = None,
) -> int:
    runtime = runtime or build_runtime(config)
    try:
        ctx = config.channel_context(channel, user)
        if ctx is None:
            reply = unmapped_channel_reply(channel, config.path)
        elif mention:
            reply = handle_mention(text, ctx, runtime.backends)
        else:
            reply = handle_text(text, ctx, runtime.backends)
        if as_json:
            print(json.dumps(reply.payload(), indent=2, ensure_ascii=False))
        else:
            print(render_reply(reply))
        if ctx is None:
            return 1
        return EXIT_USAGE if reply.rejected else 0
    finally:
        runtime.close()


def check(config: AppConfig, only: list[str] | None) -> int:
    """Try each IAM action in each account; exit 1 when an action is denied or failed."""
    unknown = [name for name in only or () if name not in config.accounts]
    if unknown:
        raise UsageError(
            f"--account {shown(unknown[0])}: no such account in {config.path}. "
            f"Use one of: {', '.join(config.accounts)}."
        )
    print(f"Configuration {config.path} is valid: {len(config.accounts)} accounts, "
          f"{len(config.channels)} channels.")
    runtime = build_runtime(config)
    counts: Counter[str] = Counter()
    try:
        for account in config.accounts.values():
            if only and account.name not in only:
                continue
            configured = runtime.backends.inventory.regions.configured(account)
            region = configured[0] if isinstance(configured, tuple) else config.aws.default_region
            print(f"\nAccount {account.label}, region {region}:")
            for result in check_account(runtime.factory, account, region):
                counts[result.status] += 1
                mark = {ALLOWED: "ok ", SKIPPED: "-- "}.get(result.status, "!! ")
                detail = f"  ({result.detail})" if result.detail else ""
                print(f"  {mark}{result.action:<36} {result.status}{detail}")
    finally:
        runtime.close()
    print()
    for line in check_summary(counts):
        print(line)
    return 1 if counts[DENIED] or counts[FAILED] else 0


def check_summary(counts: Counter[str]) -> list[str]:
    """Return the closing lines of `check`: denied and failed actions, then those not tried."""
    lines = []
    if counts[DENIED]:
        lines.append(
            f"{_actions(counts[DENIED])} denied: add them to the role's policy "
            "(docs/iam-policy.json)."
        )
    if counts[FAILED]:
        lines.append(
            f"{_actions(counts[FAILED])} failed for a reason other than permissions, such as "
            "the network, a timeout or an AWS error (see the detail after each)."
        )
    if not lines:
        lines.append("Every action that was tried is allowed.")
    if counts[SKIPPED]:
        lines.append(
            f"{_actions(counts[SKIPPED])} not tried, because the account has no resource to "
            "try them on. These are not problems."
        )
    return lines


def _actions(count: int) -> str:
    return f"{count} action" if count == 1 else f"{count} actions"


def serve(
    config: AppConfig, force_http: bool, host: str, port: int, shutdown_grace: float = 20.0
) -> int:
    from slack_bolt.error import BoltError

    from bot.app import build_app
    from bot.scheduler import start_digest_scheduler
    from bot.server import HttpServer, make_wsgi_app

    token = os.environ.get("SLACK_BOT_TOKEN")
    if not token:
        raise ConfigError("SLACK_BOT_TOKEN is not set; export the bot token (xoxb-...) before `serve`.")
    app_token = os.environ.get("SLACK_APP_TOKEN")
    socket_mode = bool(app_token) and not force_http
    signing_secret = os.environ.get("SLACK_SIGNING_SECRET")
    if not socket_mode and not signing_secret:
        raise ConfigError(
            "SLACK_SIGNING_SECRET is not set; HTTP mode needs it to verify Slack's requests "
            "(or set SLACK_APP_TOKEN for Socket Mode)."
        )
    runtime = build_runtime(config)
    runtime.warm(PRELOADED_SERVICES)
    client = make_client(token, os.environ.get("SLACK_API_BASE_URL"))
    try:
        app, metrics, answerer = build_app(runtime, client, signing_secret, socket_mode=socket_mode)
    except BoltError as exc:
        runtime.close()
        raise ConfigError(
            f"Slack rejected SLACK_BOT_TOKEN at auth.test ({exc}); check the token and "
            "SLACK_API_BASE_URL."
        ) from None
    try:
        server = HttpServer(make_wsgi_app(None if socket_mode else app, metrics), host, port)
    except OSError as exc:
        answerer.pool.shutdown(wait=False)
        runtime.close()
        raise UsageError(listen_error(exc, host, port)) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    handler = None
    if socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        handler = SocketModeHandler(app, app_token, web_client=client)
        handler.connect()
        logger.info("Connected to Slack in Socket Mode; /healthz and /metrics on port %d", server.port)
    else:
        logger.info("Serving Slack requests at http://%s:%d/slack/events", host, server.port)
    scheduler = start_digest_scheduler(runtime, client)
    stop.wait()
    logger.info("Stopping; requests still running get %.0f s to finish", shutdown_grace)
    exit_after(shutdown_grace)
    if scheduler is not None:
        # Waits for a digest being posted, so its ledger row is finished.
        scheduler.shutdown(wait=True)
    if handler is not None:
        handler.close()
    server.close()
    answerer.pool.shutdown(wait=True, cancel_futures=False)
    runtime.close()
    logger.info("Stopped")
    return 0


def exit_after(seconds: float) -> None:
    """End the process after `seconds`, even while threads wait on a hung AWS endpoint.

    Python joins pool threads at exit, and a read that hangs keeps one busy for up to the
    botocore timeouts times the attempts, which is longer than a container's stop timeout.
    """

    def expire() -> None:
        logger.warning(
            "Requests still running after %.0f s of shutdown; exiting without them", seconds
        )
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()


def listen_error(exc: OSError, host: str, port: int) -> str:
    """Return the message for a failure to listen on host and port, with the fix."""
    if isinstance(exc, socket.gaierror):
        return (
            f"cannot listen on {host} port {port}: the host name cannot be resolved "
            f"({exc.strerror}). Use an IP address of this machine with --host, e.g. 127.0.0.1."
        )
    return (
        f"cannot listen on {host} port {port} ({exc.strerror or exc}). Choose another --port "
        "(0 picks a free one), stop the process that uses this port, or use an address of "
        "this machine with --host."
    )
