"""Local fakes of external services (Slack Web API, Slack request signing) for end-to-end tests."""
