"""OpenLLMetry instrumentation: Traceloop's SDK (`Traceloop.init`) with OTLP/HTTP exporters whose
endpoint, `k=v` headers and timeout come from the injected environment, the application named by
OTEL_SERVICE_NAME and the resource carrying OTEL_RESOURCE_ATTRIBUTES. Traceloop prints a banner
on stdout, which belongs to the application: it is captured, and only its complaints reach stderr. Runs at interpreter start
because the injected PYTHONPATH puts this folder first; see _instrumentation_bootstrap.py for
what happens around it."""


def _start(config):
    import contextlib
    import io
    import os
    import re

    import _instrumentation_bootstrap as bootstrap
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    capture = os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").strip().lower()
    if capture in ("true", "false") and "TRACELOOP_TRACE_CONTENT" not in os.environ:
        os.environ["TRACELOOP_TRACE_CONTENT"] = capture
    os.environ.setdefault("TRACELOOP_TELEMETRY", "false")
    banner = io.StringIO()
    try:
        with contextlib.redirect_stdout(banner):
            _init_traceloop(config, OTLPSpanExporter, OTLPMetricExporter)
    finally:
        # Traceloop prints progress on stdout; only its complaints are worth showing, on stderr.
        for line in re.sub(r"\x1b\[[0-9;]*m", "", banner.getvalue()).splitlines():
            if "rror" in line or "isabled" in line:
                bootstrap.log("openllmetry", f"Traceloop: {line.strip()}")


def _init_traceloop(config, OTLPSpanExporter, OTLPMetricExporter):
    from traceloop.sdk import Traceloop

    Traceloop.init(
        app_name=config.service_name or "openllmetry-app",
        api_endpoint=config.base_endpoint,
        headers=dict(config.traces.headers),
        exporter=OTLPSpanExporter(**config.traces.exporter_arguments()),
        metrics_exporter=OTLPMetricExporter(**config.metrics.exporter_arguments()),
        telemetry_enabled=False,
    )


def _main():
    try:
        import _instrumentation_bootstrap as bootstrap
    except Exception as error:
        import sys

        print(f"[openllmetry instrumentation] off: its start-up module is missing ({error})", file=sys.stderr)
        return
    bootstrap.run("openllmetry", _start, __file__)


_main()
