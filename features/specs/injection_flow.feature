Feature: Instrumentation flow
  A platform engineer applies one AutoInstrumentation resource; every pod it selects starts with
  the instrumentation delivered by an init container and the environment that sends telemetry to
  the resource's OTLP endpoint, without any change to the application.

  Background:
    Given a cluster running the operator
    And the namespace "shop"

  Scenario: A Deployment's pods start instrumented end to end
    Given this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: chat
      spec:
        selector:
          matchLabels:
            app: chat
        otlp:
          endpoint: http://collector.observability:4318
        resource:
          environment: production
      """
    When I create a Deployment "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then a pod of Deployment "chat" in namespace "shop" is running
    And the pod was instrumented by "shop/chat"
    And the pod's last init container is "auto-instrumentation-openlit" with image "ghcr.io/openlit/openlit-ai-instrumentation:latest"
    And the init container "auto-instrumentation-openlit" completed successfully
    And the file "/instrumentation-packages/sitecustomize.py" is visible in container "app"
    And container "app" has the environment:
      | name                        | value                                          |
      | PYTHONPATH                  | /instrumentation-packages                      |
      | OTEL_EXPORTER_OTLP_ENDPOINT | http://collector.observability:4318            |
      | OTEL_EXPORTER_OTLP_TIMEOUT  | 30000                                          |
      | OTEL_SERVICE_NAME           | chat                                           |
      | OTEL_SERVICE_NAMESPACE      | shop                                           |
      | OTEL_DEPLOYMENT_ENVIRONMENT | production                                     |
      | OPENLIT_K8S_POD_NAME        | <pod name>                                     |
      | OPENLIT_K8S_NODE_NAME       | <node name>                                    |
    And container "app" has the resource attributes:
      | key                    | value              |
      | k8s.namespace.name     | shop               |
      | k8s.pod.name           | <pod name>         |
      | k8s.node.name          | <node name>        |
      | k8s.deployment.name    | chat               |
      | k8s.replicaset.name    | <replicaset name>  |
      | deployment.environment | production         |
    And container "app" printed "instrumentation loaded: openlit"

  Scenario: A pod no resource selects is created exactly as written
    Given this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: chat
      spec:
        selector:
          matchLabels:
            app: chat
        otlp:
          endpoint: http://collector:4318
      """
    When I create a pod "billing" in namespace "shop" with image "python:3.12-slim" and labels "app=billing"
    Then the pod "billing" in namespace "shop" is running
    And the pod is not instrumented

  Scenario: A resource without spec.python instruments with every default
    Given this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: minimal
      spec:
        selector:
          matchLabels:
            app: chat
        otlp:
          endpoint: http://collector:4318
      """
    When I create a pod "chat-0" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "chat-0" in namespace "shop" is running
    And the pod's last init container is "auto-instrumentation-openlit" with image "ghcr.io/openlit/openlit-ai-instrumentation:latest"
    And container "app" has the environment:
      | name                       | value                     |
      | OTEL_SERVICE_NAME          | chat-0                    |
      | OTEL_EXPORTER_OTLP_TIMEOUT | 30000                     |
