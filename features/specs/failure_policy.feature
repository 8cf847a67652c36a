# Needs the simulator: it stops every operator replica.
@simulated
Feature: Failure policy
  The operator never blocks a pod because of its own trouble by default; a cluster that prefers
  refusing uninstrumented pods can choose failurePolicy Fail.

  Scenario: With the operator down and failurePolicy Ignore, pods are created uninstrumented
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
    When every operator replica stops
    And I create a pod "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "chat" in namespace "shop" is running
    And the pod is not instrumented

  Scenario: With the operator down and failurePolicy Fail, matching pods are refused
    Given a cluster running the operator with failure policy "Fail"
    And the namespace "shop"
    When every operator replica stops
    And I create a pod "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod creation was refused with a message containing "failed calling webhook"
