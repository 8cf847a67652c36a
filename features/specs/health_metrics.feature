Feature: Health, readiness and metrics
  Probes tell Kubernetes when a replica can serve admissions; Prometheus sees what it did.

  # Needs the simulator: it probes each replica's own address.
  @simulated
  Scenario: A started replica is live and ready, and counts its admissions
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
    Then every replica answers "/healthz" and "/readyz" with 200
    When I create a pod "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "chat" in namespace "shop" is running
    And the metrics show 1 admission with outcome "instrumented"
