# Needs the simulator: the mesh's sidecar injector runs in-process next to the operator.
@simulated
Feature: Alongside a service-mesh sidecar injector
  A mesh such as Istio registers its own mutating webhook that adds an `istio-init` init
  container, an `istio-proxy` sidecar and an annotation, and asks to be called again when a later
  webhook changes the pod. Whichever of the two webhooks the API server calls first, the pod ends
  with both injections, exactly once: our init container runs after the user's and the mesh's,
  only the application container is instrumented, and the reinvocation changes nothing.

  Background:
    Given a cluster running the operator
    And this AutoInstrumentation in namespace "shop":
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

  Scenario Outline: The pod gets the mesh's sidecar and the instrumentation, whichever webhook runs first
    # Webhook configurations are called in the order of their names; ours is
    # "openlit-mutating-webhook-configuration".
    Given a service-mesh sidecar injector whose webhook configuration is named "<configuration>"
    When I create this pod in namespace "shop":
      """
      metadata:
        name: chat
        labels:
          app: chat
      spec:
        initContainers:
          - name: migrate
            image: busybox:1.36
            command: ["sh", "-c", "echo migrated"]
        containers:
          - name: app
            image: python:3.12-slim
      """
    Then the pod "chat" in namespace "shop" is running
    And the pod's init containers are "istio-init, migrate, auto-instrumentation-openlit"
    And the pod's containers are "app, istio-proxy"
    And the pod was instrumented by "shop/chat"
    And the pod was instrumented exactly once
    And the pod carries the annotation "sidecar.istio.io/status" containing "istio-proxy"
    And the init container "auto-instrumentation-openlit" completed successfully
    And container "app" printed "instrumentation loaded: openlit"
    And container "istio-proxy" is not instrumented
    And container "istio-proxy" has the environment:
      | name                  | value      |
      | PILOT_CERT_PROVIDER   | istiod     |
      | ISTIO_META_CLUSTER_ID | Kubernetes |
      | POD_NAME              | chat       |
    And no variable is defined twice in container "istio-proxy" of the pod
    And container "istio-proxy" printed "Envoy proxy is ready"
    And the mesh injector was called <mesh calls> times
    And the operator's webhook was called <operator calls> times

    Examples: the mesh first; it is called again after our change and leaves the pod alone
      | configuration          | mesh calls | operator calls |
      | istio-sidecar-injector | 2          | 1              |

    Examples: ours first; we are called again after the mesh's change and leave the pod alone
      | configuration             | mesh calls | operator calls |
      | zz-mesh-sidecar-injector  | 1          | 2              |

  Scenario: Called after the mesh, the operator says why it leaves the proxy alone
    Given a service-mesh sidecar injector whose webhook configuration is named "istio-sidecar-injector"
    When I create a pod "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "chat" in namespace "shop" is running
    And the pod was instrumented by "shop/chat"
    And the pod creation returned a warning containing "istio-proxy: a known sidecar (istio-proxy), never instrumented"
    And the pod carries the annotation "openlit.io/instrumentation-skipped" containing "istio-proxy: a known sidecar"
