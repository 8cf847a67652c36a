"""Start-up support shared by every provider's sitecustomize.py (standard library only).

A provider's sitecustomize.py calls `run(provider, start)`. `run`:

* stays off when setup-instrumentation.py left the failure marker, when the packages were built
  for another CPython version, or when OTEL_SDK_DISABLED is true: it says why on stderr and
  removes the instrumentation folder from sys.path, so that none of its packages shadow the
  application's;
* otherwise calls `start(config)` with the OTLP settings read from the injected environment
  (`ExportConfig`), catching every exception: instrumentation never stops the application;
* then runs the application's own sitecustomize, the next one on sys.path, as Python would have.

The OpenTelemetry specification gives OTEL_EXPORTER_OTLP_TIMEOUT (and the per-signal variants) in
milliseconds; the pinned Python SDK (opentelemetry-exporter-otlp-proto-http 1.45, see
opentelemetry-python #4044 and #5531) reads them as seconds. Exporters built here get the timeout
in seconds explicitly; `sdk_timeout_environment()` rewrites the variables for the time a
third-party SDK builds its own exporters, and restores them afterwards (child processes see the
specification's milliseconds).
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import os
import sys
from urllib.parse import unquote

#: Left by setup-instrumentation.py when setup failed and the pod continued without it.
FAILURE_MARKER = ".instrumentation-failed"
#: Written by setup-instrumentation.py: the CPython version (`3.12`) the packages were built for.
PYTHON_VERSION_FILE = ".instrumentation-python"
#: The default OTLP/HTTP endpoint of the specification.
DEFAULT_ENDPOINT = "http://localhost:4318"
#: The specification's default export timeout, in milliseconds.
DEFAULT_TIMEOUT_MS = 10000
#: How the pinned SDK reads OTEL_EXPORTER_OTLP_*TIMEOUT: "seconds" (1.45) or "milliseconds".
SDK_TIMEOUT_UNIT = "seconds"

SIGNALS = ("traces", "metrics", "logs")


def log(provider: str, message: str) -> None:
    """Prints one line on stderr (never stdout, which belongs to the application)."""
    print(f"[{provider} instrumentation] {message}", file=sys.stderr, flush=True)


def parse_headers(text: str) -> dict[str, str]:
    """Parses `k=v,k2=v2` (OpenTelemetry form, values percent-decoded). Malformed pairs are skipped."""
    headers = {}
    for pair in (text or "").split(","):
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            continue
        headers[unquote(name).lower()] = unquote(value.strip())
    return headers


def parse_timeout_ms(text: str | None) -> float | None:
    """Milliseconds from an OTEL_*_TIMEOUT value, or None when it is unset or not a number."""
    if text is None or not text.strip():
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


class SignalConfig:
    """Where and how one signal (traces, metrics or logs) is exported."""

    def __init__(self, endpoint: str, headers: dict[str, str], timeout_seconds: float):
        #: The full URL the OTLP/HTTP exporter posts to, e.g. `http://collector:4318/v1/traces`.
        self.endpoint = endpoint
        #: Headers sent with every export.
        self.headers = headers
        #: The export timeout in seconds, the unit the SDK's constructors take.
        self.timeout_seconds = timeout_seconds

    def exporter_arguments(self) -> dict:
        """Keyword arguments for an OTLP/HTTP exporter constructor."""
        return {"endpoint": self.endpoint, "headers": dict(self.headers), "timeout": self.timeout_seconds}


class ExportConfig:
    """The OTLP settings of the injected environment, following the OpenTelemetry specification."""

    def __init__(self, environ=None):
        env = os.environ if environ is None else environ
        #: The base endpoint (OTEL_EXPORTER_OTLP_ENDPOINT), without a signal path.
        self.base_endpoint = (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip() or DEFAULT_ENDPOINT
        #: OTEL_SERVICE_NAME, or None.
        self.service_name = (env.get("OTEL_SERVICE_NAME") or "").strip() or None
        #: OTEL_DEPLOYMENT_ENVIRONMENT, or None.
        self.environment = (env.get("OTEL_DEPLOYMENT_ENVIRONMENT") or "").strip() or None
        base_headers = parse_headers(env.get("OTEL_EXPORTER_OTLP_HEADERS", ""))
        base_timeout = parse_timeout_ms(env.get("OTEL_EXPORTER_OTLP_TIMEOUT"))
        if base_timeout is None:
            base_timeout = DEFAULT_TIMEOUT_MS
        self.signals = {}
        for signal in SIGNALS:
            upper = signal.upper()
            endpoint = (env.get(f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT") or "").strip()
            if not endpoint:
                # The base endpoint gets the signal path; a per-signal endpoint is used as given.
                endpoint = f"{self.base_endpoint.rstrip('/')}/v1/{signal}"
            headers = dict(base_headers)
            headers.update(parse_headers(env.get(f"OTEL_EXPORTER_OTLP_{upper}_HEADERS", "")))
            timeout = parse_timeout_ms(env.get(f"OTEL_EXPORTER_OTLP_{upper}_TIMEOUT"))
            if timeout is None:
                timeout = base_timeout
            self.signals[signal] = SignalConfig(endpoint, headers, timeout / 1000.0)

    @property
    def traces(self) -> SignalConfig:
        """Span export settings."""
        return self.signals["traces"]

    @property
    def metrics(self) -> SignalConfig:
        """Metric export settings."""
        return self.signals["metrics"]

    @property
    def logs(self) -> SignalConfig:
        """Log export settings."""
        return self.signals["logs"]


@contextlib.contextmanager
def sdk_timeout_environment(config: ExportConfig):
    """Rewrites OTEL_EXPORTER_OTLP_*TIMEOUT into the pinned SDK's unit while a third-party SDK
    builds its exporters from the environment, then restores the specification's values."""
    names = ["OTEL_EXPORTER_OTLP_TIMEOUT"] + [f"OTEL_EXPORTER_OTLP_{s.upper()}_TIMEOUT" for s in SIGNALS]
    saved = {name: os.environ.get(name) for name in names}
    try:
        if SDK_TIMEOUT_UNIT == "seconds":
            for signal in SIGNALS:
                os.environ[f"OTEL_EXPORTER_OTLP_{signal.upper()}_TIMEOUT"] = _number(config.signals[signal].timeout_seconds)
            os.environ["OTEL_EXPORTER_OTLP_TIMEOUT"] = _number(config.traces.timeout_seconds)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def tracer_provider(config: ExportConfig, service_name_default: str):
    """A global SDK TracerProvider exporting spans over OTLP/HTTP with a batch processor. Its
    resource comes from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the `k8s.*` keys)."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({})
    extra = {}
    if not config.service_name:
        extra["service.name"] = service_name_default
    if config.environment and "deployment.environment" not in resource.attributes:
        extra["deployment.environment"] = config.environment
    if extra:
        resource = resource.merge(Resource(extra))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(**config.traces.exporter_arguments())))
    trace.set_tracer_provider(provider)
    return provider


def _is_on(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def off_reason(folder: str) -> str | None:
    """Why instrumentation must stay off in this process, or None."""
    marker = os.path.join(folder, FAILURE_MARKER)
    if os.path.exists(marker):
        try:
            with open(marker, encoding="utf-8") as handle:
                reason = handle.read().strip() or "no reason recorded"
        except OSError as error:
            reason = f"the failure marker cannot be read: {error}"
        return f"instrumentation setup failed in the init container: {reason}"
    if _is_on(os.environ.get("OTEL_SDK_DISABLED")):
        return "OTEL_SDK_DISABLED is true"
    built_for = _read(os.path.join(folder, PYTHON_VERSION_FILE))
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if built_for and built_for != running:
        return (
            f"the instrumentation packages were built for CPython {built_for} but this is CPython "
            f'{running}; set python.instrumentation.pythonVersion: "{running}" in the AutoInstrumentation'
        )
    return None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def remove_from_path(folder: str) -> None:
    """Takes the instrumentation folder off sys.path, so that its packages shadow nothing."""
    real = os.path.realpath(folder)
    sys.path[:] = [entry for entry in sys.path if os.path.realpath(entry or os.curdir) != real]


def run_application_sitecustomize(folder: str):
    """Runs the next `sitecustomize` on sys.path after `folder`, as Python would have run it had
    ours not come first. Its errors are reported the way the `site` module reports them."""
    real = os.path.realpath(folder)
    entries = [os.path.realpath(entry or os.curdir) for entry in sys.path]
    if real in entries:
        later = sys.path[entries.index(real) + 1 :]
    else:
        later = list(sys.path)
    later = [entry for entry in later if os.path.realpath(entry or os.curdir) != real]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", later)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        print(
            "Error in sitecustomize; set PYTHONVERBOSE for traceback:",
            f"{type(error).__name__}: {error}",
            file=sys.stderr,
        )
    return module


def run(provider: str, start, sitecustomize_file: str) -> None:
    """The whole start-up: turn `provider` on through `start(config)` unless it must stay off,
    then run the application's own sitecustomize."""
    folder = os.path.dirname(os.path.abspath(sitecustomize_file))
    try:
        reason = off_reason(folder)
        if reason:
            log(provider, f"off: {reason}")
            remove_from_path(folder)
        else:
            start(ExportConfig())
    except Exception as error:  # never stop the application
        log(provider, f"off: it failed to start ({type(error).__name__}: {error}); the application runs without it")
    run_application_sitecustomize(folder)
