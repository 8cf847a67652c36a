Feature: Opting out
  Pods can refuse instrumentation, and the operator never touches its own namespace or kube-system.

  Background:
    Given a cluster running the operator
    And the namespace "shop"
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

  Scenario: The opt-out label keeps the webhook from being called at all
    When I create a pod "quiet" in namespace "shop" with image "python:3.12-slim" and labels "app=chat,openlit.io/inject=false"
    Then the pod "quiet" in namespace "shop" is running
    And the pod is not instrumented
    And the webhook was not called for pod "quiet"

  Scenario: The opt-out annotation leaves the pod untouched
    When I create this pod in namespace "shop":
      """
      metadata:
        name: quiet
        labels:
          app: chat
        annotations:
          openlit.io/inject: "false"
      spec:
        containers:
        - name: app
          image: python:3.12-slim
      """
    Then the pod "quiet" in namespace "shop" is running
    And the pod is not instrumented

  Scenario: enabled false switches a selected workload off and says so
    Given this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: switch-off
      spec:
        selector:
          matchLabels:
            app: legacy
        python:
          instrumentation:
            enabled: false
        otlp:
          endpoint: http://collector:4318
      """
    When I create a pod "legacy" in namespace "shop" with image "python:3.12-slim" and labels "app=legacy"
    Then the pod "legacy" in namespace "shop" is running
    And the pod is not instrumented
    And the pod carries the annotation "openlit.io/instrumentation-skipped" containing "enabled=false"

  Scenario: kube-system pods are never mutated
    Given this AutoInstrumentation in namespace "kube-system":
      """
      metadata:
        name: system
      spec:
        selector:
          matchExpressions:
          - key: app
            operator: Exists
        otlp:
          endpoint: http://collector:4318
      """
    When I create a pod "dns" in namespace "kube-system" with image "python:3.12-slim" and labels "app=dns"
    Then the pod "dns" in namespace "kube-system" is running
    And the pod is not instrumented
    And the webhook was not called for pod "dns"
