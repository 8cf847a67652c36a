"""OpenInference instrumentation: an OpenTelemetry SDK TracerProvider exporting spans over
OTLP/HTTP (endpoint, `k=v` headers and timeout from the injected environment, the resource from
OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES), and every OpenInference instrumentor in this
image whose library the application has. Runs at interpreter start because the injected
PYTHONPATH puts this folder first; see _instrumentation_bootstrap.py for what happens around it."""

#: (module, class) of each OpenInference instrumentor pinned in requirements.txt.
INSTRUMENTORS = (
    ("openinference.instrumentation.openai", "OpenAIInstrumentor"),
    ("openinference.instrumentation.anthropic", "AnthropicInstrumentor"),
    ("openinference.instrumentation.bedrock", "BedrockInstrumentor"),
    ("openinference.instrumentation.dspy", "DSPyInstrumentor"),
    ("openinference.instrumentation.groq", "GroqInstrumentor"),
    ("openinference.instrumentation.langchain", "LangChainInstrumentor"),
    ("openinference.instrumentation.litellm", "LiteLLMInstrumentor"),
    ("openinference.instrumentation.llama_index", "LlamaIndexInstrumentor"),
    ("openinference.instrumentation.mistralai", "MistralAIInstrumentor"),
    ("openinference.instrumentation.vertexai", "VertexAIInstrumentor"),
)


def _start(config):
    import importlib
    import os

    import _instrumentation_bootstrap as bootstrap
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

    provider = bootstrap.tracer_provider(config, "openinference-app")
    hide_content = os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").strip().lower() == "false"
    trace_config = None
    if hide_content:
        from openinference.instrumentation import TraceConfig

        trace_config = TraceConfig(hide_inputs=True, hide_outputs=True)
    for module_name, class_name in INSTRUMENTORS:
        try:
            instrumentor = getattr(importlib.import_module(module_name), class_name)()
            if get_dependency_conflicts(instrumentor.instrumentation_dependencies()):
                continue  # the application does not use this library (or not a version it supports)
            arguments = {"tracer_provider": provider}
            if trace_config is not None:
                arguments["config"] = trace_config
            instrumentor.instrument(**arguments)
        except Exception as error:  # one broken instrumentor must not stop the others
            bootstrap.log("openinference", f"{class_name} skipped: {type(error).__name__}: {error}")


def _main():
    try:
        import _instrumentation_bootstrap as bootstrap
    except Exception as error:
        import sys

        print(f"[openinference instrumentation] off: its start-up module is missing ({error})", file=sys.stderr)
        return
    bootstrap.run("openinference", _start, __file__)


_main()
