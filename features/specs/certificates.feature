Feature: Self-managed certificates
  The operator issues its own CA and serving certificate, stores them in one Secret shared by
  every replica, keeps the webhook configuration's caBundle current, and renews before expiry
  without a restart and without a failed admission.

  Scenario: The certificate Secret and the caBundle are created at start
    Given a cluster running 2 operator replicas
    Then the certificate Secret holds "ca.crt", "tls.crt" and "tls.key"
    And the webhook configuration trusts the CA in the certificate Secret

  # Needs the simulator: 250 virtual days pass.
  @simulated
  Scenario: The serving certificate is renewed when two thirds of its life have passed
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
    When I remember the serving certificate
    And 250 days pass
    Then the certificate Secret holds a new serving certificate
    When I create a pod "after-rotation" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "after-rotation" in namespace "shop" is running
    And the pod was instrumented by "shop/chat"
