Feature: Choosing the resource for a pod
  Selectors and ignore rules are full Kubernetes label selectors; the pod's namespace is searched
  before the operator's namespace, and inside a namespace the oldest resource wins.

  Background:
    Given a cluster running the operator
    And the namespace "shop"

  Scenario Outline: matchExpressions select pods with every operator
    Given this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: by-expression
      spec:
        selector:
          matchExpressions:
          - key: tier
            operator: <operator>
            <values>
        otlp:
          endpoint: http://collector:4318
      """
    When I create a pod "p" in namespace "shop" with image "python:3.12-slim" and labels "<labels>"
    Then the pod "p" in namespace "shop" is running
    And the pod <outcome>

    Examples:
      | operator     | values          | labels            | outcome                                  |
      | In           | values: [web]   | tier=web          | was instrumented by "shop/by-expression" |
      | In           | values: [web]   | tier=db           | is not instrumented                      |
      | NotIn        | values: [db]    | tier=web          | was instrumented by "shop/by-expression" |
      | NotIn        | values: [db]    | tier=db           | is not instrumented                      |
      | Exists       | values: []      | tier=anything     | was instrumented by "shop/by-expression" |
      | DoesNotExist | values: []      | tier=web          | is not instrumented                      |
      | DoesNotExist | values: []      | app=other         | was instrumented by "shop/by-expression" |

  Scenario: Ignore rules keep matching pods untouched
    Given this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: chat
      spec:
        selector:
          matchLabels:
            app: chat
        ignore:
          matchLabels:
            canary: "true"
        otlp:
          endpoint: http://collector:4318
      """
    When I create a pod "canary" in namespace "shop" with image "python:3.12-slim" and labels "app=chat,canary=true"
    And I create a pod "stable" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "canary" in namespace "shop" is running
    And the pod is not instrumented
    And the pod "stable" in namespace "shop" is running
    And the pod was instrumented by "shop/chat"

  Scenario: The operator's namespace holds cluster-wide defaults, and the pod's namespace wins
    Given this AutoInstrumentation in the operator's namespace:
      """
      metadata:
        name: cluster-default
      spec:
        selector:
          matchExpressions:
          - key: app
            operator: Exists
        otlp:
          endpoint: http://central-collector:4318
      """
    And this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: shop-own
      spec:
        selector:
          matchLabels:
            app: chat
        otlp:
          endpoint: http://shop-collector:4318
      """
    And the namespace "search"
    When I create a pod "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    And I create a pod "query" in namespace "search" with image "python:3.12-slim" and labels "app=query"
    Then the pod "chat" in namespace "shop" is running
    And the pod was instrumented by "shop/shop-own"
    And the pod "query" in namespace "search" is running
    And the pod was instrumented by "openlit/cluster-default"
    And container "app" has the environment:
      | name                        | value                          |
      | OTEL_EXPORTER_OTLP_ENDPOINT | http://central-collector:4318  |

  # Needs the simulator: ten virtual seconds separate the two resources.
  @simulated
  Scenario: Of two resources selecting a pod, the oldest wins
    Given this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: zz-first
      spec:
        selector:
          matchLabels:
            app: chat
        otlp:
          endpoint: http://first:4318
      """
    And 10 seconds have passed
    And this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: aa-second
      spec:
        selector:
          matchLabels:
            app: chat
        otlp:
          endpoint: http://second:4318
      """
    When I create a pod "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "chat" in namespace "shop" is running
    And the pod was instrumented by "shop/zz-first"
    And the pod creation returned the warning "AutoInstrumentation shop/zz-first chosen over shop/aa-second which also select this pod"
