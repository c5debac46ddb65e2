"""`mosaic-diag watch`: live triage of a followed file, a syslog stream or Render's log API."""

import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any

import typer

from mosaic_diag.commands._options import FormatOption, OutputFormat


def watch(
    fmt: FormatOption = OutputFormat.table,
    file: Annotated[Path | None, typer.Option("--file", help="Follow this log file (rotation too).")] = None,
    from_start: Annotated[bool, typer.Option("--from-start", help="--file: read what is there first.")] = False,
    syslog: Annotated[str | None, typer.Option("--syslog", help="Listen for a Render log stream (syslog "
                                               "over TCP) on HOST:PORT.")] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="--syslog: serve TLS with this "
                                                  "certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="--syslog: the certificate's key.")] = None,
    syslog_allow: Annotated[list[str] | None, typer.Option(
        "--syslog-allow", metavar="NETWORK", help="--syslog: accept senders from this network only (an address "
        "or CIDR, e.g. Render's outbound IP ranges); repeatable. Required with --execute on a non-loopback "
        "address.")] = None,
    render: Annotated[bool, typer.Option("--render", help="Poll Render's log API (RENDER_API_KEY).")] = False,
    render_service: Annotated[str | None, typer.Option("--render-service", help="The Render service id.")] = None,
    interval: Annotated[float, typer.Option(help="--render: seconds between polls.", min=1)] = 10.0,
    execute: Annotated[bool, typer.Option("--execute", help="Carry out the playbooks' actions (audited), "
                                          "once per playbook and group per cool-down.")] = False,
    cooldown: Annotated[str, typer.Option(help="Alert / act again on the same thing after this long.")] = "30m",
    state_file: Annotated[Path | None, typer.Option("--state-file", help="Where alerts and actions are "
                                                    "remembered (default .mosaic-diag/watch-state.json).")] = None,
    rules: Annotated[Path | None, typer.Option(help="A rules file that extends the taxonomy.")] = None,
    playbooks: Annotated[Path | None, typer.Option(help="Playbook directory (default: shipped).")] = None,
    no_playbooks: Annotated[bool, typer.Option("--no-playbooks", help="Alert without playbook plans.")] = False,
    flush_after: Annotated[float, typer.Option("--flush-after", help="Seconds of quiet after which open "
                                               "events are closed and reported.", min=0.1)] = 2.0,
) -> int:
    """Watch a live log: every new error group, anomalous rate and restart loop is alerted once,
    with its playbook's plan (dry run unless --execute). Stops cleanly on Ctrl-C / SIGTERM."""
    import os
    import signal

    from mosaic_diag.commands._common import sigterm_as_interrupt
    from mosaic_diag.errors import Interrupted

    sigterm_as_interrupt()  # (until the watch runs: Ctrl-C or SIGTERM while it starts is one line, exit 130)
    try:
        source_name, stream, closer, problems, counts, watcher, state, stop = _start(
            file, from_start, syslog, tls_cert, tls_key, render, render_service, interval, execute, cooldown,
            state_file, rules, playbooks, no_playbooks, syslog_allow or [])
    except KeyboardInterrupt:
        raise Interrupted("interrupted while the watch started: nothing was read or acted on") from None

    on_signal = stop_on_signal(stop)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    live = fmt is OutputFormat.table and sys.stdout.isatty()
    emit = _emitter(fmt, live, source_name)
    try:
        with emit:
            emit.status({"type": "status", "source": source_name, "state": str(state.path),
                         "execute": execute, "pid": os.getpid()})
            def say_problems() -> None:
                while problems:
                    emit.status({"type": "problem", "message": problems.pop(0)})

            for item in watcher.follow(stream, flush_after, name=source_name, on_quiet=say_problems):
                say_problems()
                if item is not None:  # (None: a pass over the stream ended)
                    emit.item(item)
    except KeyboardInterrupt:
        raise Interrupted("interrupted twice: the watch stopped at once (an action that was running is audited "
                          "'interrupted'; the watch state is saved)") from None
    finally:
        state.flush()
        state.close()
        closer()
    summary = {"type": "summary", "source": source_name, "events": watcher.run.events, "alerts": watcher.alerts,
               "groups": len(watcher.run.groups), "lines": watcher.lines}
    if (source_counts := counts()):
        summary["syslog"] = source_counts
    emit.status(summary)
    return 0


def stop_on_signal(stop: Any) -> Callable[..., None]:
    """The handler of Ctrl-C / SIGTERM: the first stops the watch once what it does is done (an action runs to
    its end); a second one interrupts that too (the action audited 'interrupted', exit 130).

    `stop` (a threading.Event) is set from a thread of its own: the handler runs on the main thread between two of
    its bytecodes, maybe inside `stop.wait()` while that holds the event's lock, and `Event.set` there would wait
    for that lock for ever (a watch that never ended on SIGTERM)."""
    import threading

    signalled: list[bool] = []

    def on_signal(*_: object) -> None:
        if signalled:
            raise KeyboardInterrupt
        signalled.append(True)
        threading.Thread(target=stop.set, name="mosaic-diag-watch-stop", daemon=True).start()

    return on_signal


def _start(file: Path | None, from_start: bool, syslog: str | None, tls_cert: Path | None, tls_key: Path | None,
           render: bool, render_service: str | None, interval: float, execute: bool, cooldown: str,
           state_file: Path | None, rules: Path | None, playbooks: Path | None, no_playbooks: bool,
           syslog_allow: list[str]) -> tuple[Any, ...]:
    """The watch set up: (source name, stream, its closer, problems, the source's counts, watcher, state, stop
    event)."""
    import threading

    from mosaic_diag.classifier.classify import Classifier
    from mosaic_diag.commands._common import config_here, parse_duration
    from mosaic_diag.errors import UsageError
    from mosaic_diag.plans import playbook_executor, playbook_planner
    from mosaic_diag.triage import build_options
    from mosaic_diag.watch import Watcher, WatchOptions, WatchState

    chosen = [name for name, on in (("--file", file is not None), ("--syslog", syslog is not None),
                                    ("--render", render)) if on]
    if len(chosen) != 1:
        raise UsageError("give exactly one source: --file PATH, --syslog HOST:PORT or --render"
                         + (f" (got {', '.join(chosen)})" if chosen else ""))
    if (tls_cert or tls_key or syslog_allow) and syslog is None:
        raise UsageError("--tls-cert/--tls-key/--syslog-allow go with --syslog")
    allow = _networks(syslog_allow) if syslog_allow else None
    if tls_key is not None and tls_cert is None:
        raise UsageError("--tls-key goes with --tls-cert (the certificate): without it the stream would be served in "
                         "plain TCP")
    cfg = config_here()
    cool = parse_duration(cooldown, "--cooldown")
    classifier = Classifier.default(rules or cfg.path("rules"))
    options = build_options(taxonomy=classifier.taxonomy, config=cfg)
    directory = playbooks or cfg.path("playbooks.dir")
    planner = None if no_playbooks else playbook_planner(directory, cfg)
    executor = playbook_executor(directory, cfg, cooldown=cool) if execute and not no_playbooks else None
    state = WatchState.open(state_file or Path(cfg.root) / ".mosaic-diag" / "watch-state.json")
    stop = threading.Event()
    try:
        source_name, stream, closer, problems, counts = _open(file, from_start, syslog, tls_cert, tls_key, render,
                                                              render_service, interval, cfg, stop, allow,
                                                              acting=executor is not None)
    except BaseException:
        state.close()
        raise
    watcher = Watcher(classifier, state, options=options, watch=WatchOptions(cool, execute), planner=planner,
                      executor=executor)
    return source_name, stream, closer, problems, counts, watcher, state, stop


def _loopback(address: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _networks(given: list[str]) -> list[Any]:
    """--syslog-allow's networks (`10.0.0.0/8`, `203.0.113.7`, `2001:db8::/32`). An address with a prefix
    (`203.0.113.7/8`) is refused, not widened to its network (203.0.0.0/8: 16 million senders let in by a typo of
    /28); an IPv4-mapped one (`::ffff:203.0.113.7`) is its IPv4 network, as a peer's address is read."""
    import ipaddress

    from mosaic_diag.errors import UsageError

    nets = []
    for text in given:
        try:
            net = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise UsageError(f"--syslog-allow takes an address or a network (10.0.0.0/8), got {text!r}") from None
        if ipaddress.ip_interface(text.strip()).ip != net.network_address:
            host = text.strip().split("/", 1)[0]
            raise UsageError(f"--syslog-allow {text.strip()}: an address with a prefix, not a network: give {net} for "
                             f"the whole network (its {net.num_addresses:,} addresses) or {host} for the one host")
        mapped = net.network_address.ipv4_mapped if isinstance(net, ipaddress.IPv6Network) else None
        if mapped is not None and net.prefixlen >= 96:
            net = ipaddress.ip_network(f"{mapped}/{net.prefixlen - 96}")
        nets.append(net)
    return nets


def _open(file: Path | None, from_start: bool, syslog: str | None, cert: Path | None, key: Path | None,
          render: bool, service: str | None, interval: float, cfg: Any, stop: Any, allow: list[Any] | None = None,
          acting: bool = False) -> tuple[str, Any, Any, list[str], Callable[[], dict[str, Any]]]:
    """(name, stream, close, problems list, its counts for the summary) of the chosen live source. With `acting`
    (playbooks' actions carried out), a syslog listener on an address other hosts can reach needs `allow`: any
    sender could drive them."""
    import os
    from datetime import UTC, datetime

    from mosaic_diag.errors import UsageError

    problems: list[str] = []
    if file is not None:
        from mosaic_diag.logs.follow import follow_path

        stream = follow_path(file, stop, from_start=from_start, on_note=problems.append)
        return str(file), stream, stream.close, problems, dict
    if syslog is not None:
        import ssl

        from mosaic_diag.logs.syslog_listener import SyslogListener

        host, _, port = syslog.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536 or \
                host.startswith("[") != host.endswith("]"):
            raise UsageError(f"--syslog takes HOST:PORT, got {syslog!r}")
        if ":" in host and not host.startswith("["):
            raise UsageError(f"--syslog takes HOST:PORT (an IPv6 address in brackets: [::1]:6514), got {syslog!r}")
        if cert is not None and not cert.is_file():
            raise UsageError("no such certificate file", path=str(cert))
        if key is not None and not key.is_file():
            raise UsageError("no such key file", path=str(key))
        try:
            listener = SyslogListener(host.strip("[]"), int(port), certfile=cert, keyfile=key, allow=allow,
                                      on_note=problems.append)
        except ssl.SSLError as exc:  # (an OSError too: not a failure to listen)
            named = str(cert) if key is None or key == cert else f"{cert} / {key}"
            raise UsageError(f"{named}: cannot use the TLS certificate or key: {exc.strerror or exc}") from None
        except OSError as exc:
            raise UsageError(f"cannot listen on {syslog}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise UsageError(f"cannot use the TLS certificate: {exc}") from None
        if acting and allow is None and not _loopback(str(listener.address[0])):
            listener.close()
            raise UsageError(f"--execute with --syslog on {syslog} needs --syslog-allow NETWORK (the senders' "
                             "addresses): any host that reaches the port could send lines that drive the playbooks' "
                             "actions (or listen on a loopback address behind a TLS terminator)")
        listener.start()
        bound = f"{listener.address[0]}:{listener.address[1]}"
        return f"syslog://{bound}", listener.stream(stop), listener.close, problems, listener.summary
    from mosaic_diag.platform.render_logs import EntryStream, poll_entries
    from mosaic_diag.platform.render_settings import render_settings_for

    settings = render_settings_for(cfg, os.environ, service)
    entries = poll_entries(settings, datetime.now(UTC), stop, interval=interval, on_problem=problems.append)
    return f"render:{settings.service_id}", EntryStream(entries), lambda: None, problems, dict


class _Emit:
    """Where items go: JSON lines, markdown lines, or the live view."""

    def __init__(self, fmt: Any, live: bool, source: str) -> None:
        from mosaic_diag.commands._options import OutputFormat

        self.fmt = fmt
        self.view = None
        if live:
            from mosaic_diag.render.watch import LiveView

            self.view = LiveView(source)
        self.json = fmt is OutputFormat.json or (fmt is OutputFormat.table and not live)

    def __enter__(self) -> "_Emit":
        if self.view is not None:
            self.view.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.view is not None:
            self.view.__exit__(kind, exc, tb)

    def item(self, item: Any) -> None:
        from mosaic_diag.render.watch import json_line, markdown_line
        from mosaic_diag.watch import Alert

        data = item.to_dict()
        if not isinstance(item, Alert):
            data = {"type": "event", **data}
        if self.view is not None:
            (self.view.alert if data["type"] == "alert" else self.view.event)(data)
        elif self.json:
            json_line(data, sys.stdout)
        else:
            markdown_line(data, sys.stdout)

    def status(self, data: dict[str, Any]) -> None:
        from mosaic_diag.platform.redact import redact_text
        from mosaic_diag.render.watch import json_line, status_text

        if self.json:
            json_line(data, sys.stdout)
        elif self.view is not None:
            self.view.status(data)
        else:
            sys.stderr.write(redact_text(f"watch: {status_text(data)}") + "\n")


def _emitter(fmt: Any, live: bool, source: str) -> "_Emit":
    return _Emit(fmt, live, source)


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)
