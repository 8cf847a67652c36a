Feature: Environment injection and precedence
  The container's own variables win over the resource's env, which wins over what the operator
  derives; PYTHONPATH is extended and OTEL_RESOURCE_ATTRIBUTES merged per key.

  Background:
    Given a cluster running the operator
    And the namespace "shop"
    And the Secret "llm" in namespace "shop" with "token" = "s3cr3t"
    And this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: chat
      spec:
        selector:
          matchLabels:
            app: chat
        python:
          instrumentation:
            env:
            - name: OTEL_SERVICE_NAME
              value: from-resource
            - name: LOG_LEVEL
              value: debug
            - name: LLM_TOKEN
              valueFrom:
                secretKeyRef:
                  name: llm
                  key: token
        otlp:
          endpoint: http://collector:4318
          headers: "Authorization=Bearer abc,tenant=shop"
          timeout: 12
      """

  Scenario: The resource's env is injected, with references resolved by the kubelet
    When I create a pod "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "chat" in namespace "shop" is running
    And container "app" has the environment:
      | name                       | value                                 |
      | OTEL_SERVICE_NAME          | from-resource                         |
      | LOG_LEVEL                  | debug                                 |
      | LLM_TOKEN                  | s3cr3t                                |
      | OTEL_EXPORTER_OTLP_HEADERS | Authorization=Bearer abc,tenant=shop  |
      | OTEL_EXPORTER_OTLP_TIMEOUT | 12000                                 |

  Scenario: The container's own values win and are never duplicated
    When I create this pod in namespace "shop":
      """
      metadata:
        name: chat
        labels:
          app: chat
      spec:
        containers:
        - name: app
          image: python:3.12-slim
          env:
          - name: OTEL_SERVICE_NAME
            value: checkout
          - name: PYTHONPATH
            value: /app/src
          - name: OTEL_RESOURCE_ATTRIBUTES
            value: team=search,deployment.environment=staging
      """
    Then the pod "chat" in namespace "shop" is running
    And container "app" has the environment:
      | name              | value                              |
      | OTEL_SERVICE_NAME | checkout                           |
      | PYTHONPATH        | /instrumentation-packages:/app/src |
      | LOG_LEVEL         | debug                              |
    And container "app" has the resource attributes:
      | key                    | value    |
      | team                   | search   |
      | deployment.environment | staging  |
      | k8s.pod.name           | chat     |
    And no variable is defined twice in container "app" of the pod

  Scenario: A PYTHONPATH taken from a ConfigMap cannot be extended, so that container is skipped with a reason
    Given the ConfigMap "paths" in namespace "shop" with "pythonpath" = "/app/src"
    When I create this pod in namespace "shop":
      """
      metadata:
        name: chat
        labels:
          app: chat
      spec:
        containers:
        - name: app
          image: python:3.12-slim
          env:
          - name: PYTHONPATH
            valueFrom:
              configMapKeyRef:
                name: paths
                key: pythonpath
      """
    Then the pod "chat" in namespace "shop" is running
    And the pod is not instrumented
    And the pod carries the annotation "openlit.io/instrumentation-skipped" containing "PYTHONPATH is set from valueFrom"
    And the pod creation returned a warning containing "PYTHONPATH is set from valueFrom"
