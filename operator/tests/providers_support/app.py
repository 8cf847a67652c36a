"""The example application: one chat completion with the OpenAI client (OPENAI_BASE_URL points
at the test's fake LLM server), then a JSON report on stdout of what a person debugging the pod
would check: the reply, whether the application's own sitecustomize ran, and the OTLP span
exporters the instrumentation configured with their effective timeout (seconds) and endpoint."""

import json
import sys

import openai


def exporters():
    try:
        from opentelemetry import trace
    except ImportError:
        return []
    found, seen = [], set()

    def walk(value, depth):
        if depth > 5 or id(value) in seen:
            return
        seen.add(id(value))
        if type(value).__name__ == "OTLPSpanExporter":
            client = getattr(value, "_client", None)
            timeout = getattr(client, "_timeout", None) if client is not None else getattr(value, "_timeout", None)
            found.append({"timeout_seconds": timeout, "endpoint": getattr(value, "_endpoint", None)})
            return
        children = value if isinstance(value, (list, tuple)) else list(getattr(value, "__dict__", {}).values())
        for child in children:
            walk(child, depth + 1)

    walk(trace.get_tracer_provider(), 0)
    return found


client = openai.OpenAI(max_retries=0, timeout=20)
response = client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "Say hello"}],
)
print(
    json.dumps(
        {
            "reply": response.choices[0].message.content,
            "application_sitecustomize_ran": getattr(sys, "application_sitecustomize_ran", False),
            "exporters": exporters(),
        }
    ),
    flush=True,
)
