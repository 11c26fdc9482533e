"""CDK stack and constructs of the incident SMS escalation app."""
