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

  # Needs the simulator: the virtual clock moves past two thirds of the CA's three-year life, then
  # past its expiry.
  @simulated
  Scenario: The CA rolls over in two steps and no pod is refused on the way
    Given a cluster running 2 operator replicas with failure policy "Fail"
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
    When I remember the CA
    # The CA is issued for three years (1,095 days) and renewed when less than a third is left.
    And 735 days pass
    Then the webhook configuration trusts the remembered CA and a new CA
    And every replica serves a certificate signed by the remembered CA
    When I create a pod "during-rollover" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod creation was admitted
    And the pod "during-rollover" in namespace "shop" is running
    And the pod was instrumented by "shop/chat"
    # The new CA signs once it has been trusted for a minute, time for the caBundle to spread.
    When 2 minutes pass
    Then every replica serves a certificate signed by the new CA
    And the webhook configuration trusts the remembered CA and the new CA
    When I create a pod "after-rollover" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod creation was admitted
    And the pod "after-rollover" in namespace "shop" is running
    And the pod was instrumented by "shop/chat"
    # The remembered CA expires on day 1,095.
    When 362 days pass
    Then the webhook configuration trusts only the new CA
    And every replica serves a certificate signed by the new CA
    When I create a pod "after-old-ca-expired" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod creation was admitted
    And the pod "after-old-ca-expired" in namespace "shop" is running
    And the pod was instrumented by "shop/chat"
