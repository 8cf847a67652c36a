"""OpenLIT instrumentation: `openlit.init()` configured from the injected environment
(OTEL_SERVICE_NAME, OTEL_DEPLOYMENT_ENVIRONMENT, OTEL_EXPORTER_OTLP_ENDPOINT and _HEADERS in the
`k=v` form, OTEL_RESOURCE_ATTRIBUTES, OPENLIT_* settings). OpenLIT builds its exporters from the
environment, so the OTLP timeout is handed to its SDK in the unit that SDK reads while it does.
Runs at interpreter start because the injected PYTHONPATH puts this folder first; see
_instrumentation_bootstrap.py for what happens around it."""


def _start(config):
    import _instrumentation_bootstrap as bootstrap
    import openlit

    with bootstrap.sdk_timeout_environment(config):
        # Every setting comes from the environment (openlit.cli.config); the OTLP exporters read
        # the base endpoint, appending the signal paths, and the `k=v` headers themselves.
        openlit.init()


def _main():
    try:
        import _instrumentation_bootstrap as bootstrap
    except Exception as error:
        import sys

        print(f"[openlit instrumentation] off: its start-up module is missing ({error})", file=sys.stderr)
        return
    bootstrap.run("openlit", _start, __file__)


_main()
