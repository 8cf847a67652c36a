Feature: Resource validation and status
  The operator reports on every resource through its status: Ready with the reason when not, the
  generation it describes, and the validation errors and warnings. Invalid resources never
  instrument and raise an Event.

  Background:
    Given a cluster running the operator
    And the namespace "shop"

  # Needs the simulator: it counts the status writes the API server received.
  @simulated
  Scenario: An invalid resource is reported, then fixed
    When I apply this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: chat
      spec:
        selector:
          matchLabels:
            app: chat
        python:
          instrumentation:
            customPackages: "requests; rm -rf /"
        otlp:
          endpoint: http://collector:4318
      """
    Then the AutoInstrumentation "chat" in namespace "shop" becomes not Ready with reason "ValidationFailed"
    And its status lists a validation error containing "customPackages"
    And an Event with reason "ValidationFailed" is recorded for the AutoInstrumentation "chat" in namespace "shop"
    When I create a pod "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "chat" in namespace "shop" is running
    And the pod is not instrumented
    And the pod carries the annotation "openlit.io/instrumentation-skipped" containing "is invalid"
    When I apply this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: chat
      spec:
        selector:
          matchLabels:
            app: chat
        python:
          instrumentation:
            customPackages: "langchain>=0.1.0"
        otlp:
          endpoint: http://collector:4318
      """
    Then the AutoInstrumentation "chat" in namespace "shop" becomes Ready with observedGeneration 2
    And the AutoInstrumentation "chat" in namespace "shop" had exactly 2 status writes

  Scenario: A resource with an empty selector is invalid and selects nothing
    When I apply this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: nothing
      spec:
        selector: {}
        otlp:
          endpoint: http://collector:4318
      """
    Then the AutoInstrumentation "nothing" in namespace "shop" becomes not Ready with reason "ValidationFailed"
    And its status lists a validation error containing "spec.selector must have either matchLabels or matchExpressions"

  Scenario: Shell text in customPackages is refused by the API server before it is stored
    When I try to apply this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: hostile
      spec:
        selector:
          matchLabels:
            app: chat
        python:
          instrumentation:
            customPackages: "requests | sh"
        otlp:
          endpoint: http://collector:4318
      """
    Then the API server refuses it with a message containing "spec.python.instrumentation.customPackages"
