# Needs the simulator: it stops the leading replica and moves the virtual clock past the lease.
@simulated
Feature: Leader election and failover
  Every replica serves admissions; exactly one replica, holding the Lease, writes status, the
  certificate Secret and the webhook configuration. When it goes away another takes over within
  the lease duration.

  Scenario: Exactly one of two replicas leads, and the other takes over when it stops
    Given a cluster running 2 operator replicas
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
    Then exactly one replica holds the lease
    When the leading replica stops
    And the lease duration passes
    Then exactly one replica holds the lease
    And the lease names the remaining replica
    When I create a pod "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "chat" in namespace "shop" is running
    And the pod was instrumented by "shop/chat"
