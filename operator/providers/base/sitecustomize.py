"""Base instrumentation: the OpenTelemetry SDK exporting spans over OTLP/HTTP, and every
instrumentor installed next to it (entry point group `opentelemetry_instrumentor`), such as those
a custom image or `customPackages` adds. Runs at interpreter start because the injected PYTHONPATH
puts this folder first; see _instrumentation_bootstrap.py for what happens around it."""


def _start(config):
    from importlib.metadata import entry_points

    import _instrumentation_bootstrap as bootstrap

    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

    provider = bootstrap.tracer_provider(config, "base-instrumented-app")
    for entry_point in entry_points(group="opentelemetry_instrumentor"):
        try:
            instrumentor = entry_point.load()()
            if get_dependency_conflicts(instrumentor.instrumentation_dependencies()):
                continue  # the application does not use this library (or not a version it supports)
            instrumentor.instrument(tracer_provider=provider)
        except Exception as error:  # one broken instrumentor must not stop the others
            bootstrap.log("base", f"instrumentor {entry_point.name} skipped: {type(error).__name__}: {error}")


def _main():
    try:
        import _instrumentation_bootstrap as bootstrap
    except Exception as error:
        import sys

        print(f"[base instrumentation] off: its start-up module is missing ({error})", file=sys.stderr)
        return
    bootstrap.run("base", _start, __file__)


_main()
