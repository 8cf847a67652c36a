Feature: Providers, images and custom packages
  The resource picks the provider, the image tag and optionally a custom image; custom packages
  are validated and passed to the setup program as separate arguments.

  Background:
    Given a cluster running the operator
    And the namespace "shop"

  Scenario Outline: Each provider's image delivers its instrumentation
    Given this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: chat
      spec:
        selector:
          matchLabels:
            app: chat
        python:
          instrumentation:
            provider: <provider>
            version: "1.2.3"
        otlp:
          endpoint: http://collector:4318
      """
    When I create a pod "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "chat" in namespace "shop" is running
    And the pod's last init container is "auto-instrumentation-<provider>" with image "ghcr.io/openlit/<provider>-ai-instrumentation:1.2.3"
    And container "app" printed "instrumentation loaded: <provider>"

    Examples:
      | provider      |
      | openlit       |
      | openinference |
      | openllmetry   |

  Scenario: Custom packages are installed by the init container as separate arguments
    Given this AutoInstrumentation in namespace "shop":
      """
      metadata:
        name: chat
      spec:
        selector:
          matchLabels:
            app: chat
        python:
          instrumentation:
            customPackages: "langchain>=0.1.0, openai[datalib]==1.2.3"
        otlp:
          endpoint: http://collector:4318
      """
    When I create a pod "chat" in namespace "shop" with image "python:3.12-slim" and labels "app=chat"
    Then the pod "chat" in namespace "shop" is running
    And the init container "auto-instrumentation-openlit" ran with the arguments "--target /instrumentation-packages --on-failure continue --package langchain>=0.1.0 --package openai[datalib]==1.2.3"
