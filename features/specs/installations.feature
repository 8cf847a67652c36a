# Needs the simulator: it installs a second operator installation in-process.
@simulated
Feature: Two installations side by side
  Two teams can each install the operator in their own namespace under their own name. Every
  object an installation keeps (Secret, Lease, webhook configuration, Service) carries its own
  name, an installation can be limited to some namespaces, and a pod both installations could
  instrument is instrumented exactly once, by the webhook the API server calls first.

  Background:
    Given a cluster running the operator

  Scenario: Each installation keeps its own Secret, Lease, webhook configuration and Service
    Given a second installation "team-b" in namespace "team-b"
    Then each installation has its own objects:
      | installation | namespace | Secret                       | Lease                   | webhook configuration                  | Service                 |
      | openlit      | openlit   | openlit-webhook-server-certs | openlit-operator-leader | openlit-mutating-webhook-configuration | openlit-webhook-service |
      | team-b       | team-b    | team-b-webhook-server-certs  | team-b-operator-leader  | team-b-mutating-webhook-configuration  | team-b-webhook-service  |
    And the installations "openlit" and "team-b" trust different CAs

  Scenario Outline: A pod both installations select is instrumented once, by the webhook called first
    # Webhook configurations are called in the order of their names: "analytics-..." comes
    # before "openlit-...", which comes before "team-b-...".
    Given a second installation "<second>" in namespace "<second>"
    And this AutoInstrumentation in the operator's namespace:
      """
      metadata:
        name: defaults
      spec:
        selector:
          matchLabels:
            app: chat
        otlp:
          endpoint: http://openlit-collector:4318
      """
    And this AutoInstrumentation in namespace "<second>":
      """
      metadata:
        name: defaults
      spec:
        selector:
          matchLabels:
            app: chat
        otlp:
          endpoint: http://<second>-collector:4318
      """
    When I create a pod "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "chat" in namespace "shop" is running
    And the pod was instrumented exactly once
    And the pod was instrumented by "<first>/defaults"
    And the pod carries no annotation "openlit.io/instrumentation-skipped"
    And container "app" has the environment:
      | name                        | value                         |
      | OTEL_EXPORTER_OTLP_ENDPOINT | http://<first>-collector:4318 |
      | PYTHONPATH                  | /instrumentation-packages     |
    And container "app" printed "instrumentation loaded: openlit"
    And the webhook of installation "<first>" answered 1 admission with outcome "instrumented"
    And the webhook of installation "<later>" answered 1 admission with outcome "untouched"

    Examples:
      | second    | first     | later   |
      | team-b    | openlit   | team-b  |
      | analytics | analytics | openlit |

  Scenario: An installation limited to some namespaces leaves the others alone
    Given a second installation "team-b" in namespace "team-b" serving only the namespace "ml"
    And this AutoInstrumentation in namespace "team-b":
      """
      metadata:
        name: defaults
      spec:
        selector:
          matchLabels:
            app: chat
        otlp:
          endpoint: http://team-b-collector:4318
      """
    When I create a pod "chat" in namespace "ml" with image "python:3.12-slim" and labels "app=chat"
    And I create a pod "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "chat" in namespace "ml" is running
    And the pod was instrumented by "team-b/defaults"
    And the pod "chat" in namespace "shop" is running
    And the pod is not instrumented
    And the webhook configuration "team-b-mutating-webhook-configuration" only sends pods from the namespaces "ml"
    And the webhook of installation "team-b" was called 1 time
