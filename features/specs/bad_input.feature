# Needs the simulator: a client posts straight to a replica's own address.
@simulated
Feature: Bad input to the webhook
  Only the API server should call the webhook, but a broken client, a proxy or a scanner may post
  anything. A body that is not a valid AdmissionReview gets HTTP 400 with a message that says what
  is wrong; the replica keeps serving and the next pod is instrumented as usual.

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

  Scenario Outline: A malformed AdmissionReview is answered 400 and the next pod is still instrumented
    When a client posts '<body>' to the webhook
    Then the webhook answered 400 with a message starting "<message>"
    And the metrics show 1 admission with outcome "error"
    And every replica answers "/healthz" and "/readyz" with 200
    When I create a pod "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "chat" in namespace "shop" is running
    And the pod was instrumented by "shop/chat"
    And container "app" printed "instrumentation loaded: openlit"

    Examples:
      | body                                                                                                 | message                                                                                  |
      | this is not JSON                                                                                     | invalid AdmissionReview: the body is not valid JSON                                      |
      | [1,2,3]                                                                                              | invalid AdmissionReview: the body must be a JSON object, got an array                    |
      | {"apiVersion":"v1","kind":"Pod","metadata":{"name":"chat"}}                                          | invalid AdmissionReview: expected apiVersion admission.k8s.io/v1 and kind AdmissionReview |
      | {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}                                        | invalid AdmissionReview: the AdmissionReview has no request                              |
      | {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"shop","object":"a pod"}} | invalid AdmissionReview: request.object must be the Pod being created, got a string |
