"""What the ops topic is told about an incident: a subject within SNS's 100 characters and a body."""


def ops_notification(incident_id: str, description: str, contacts_paged: int) -> tuple[str, str]:
    """Subject and body for the ops topic when the chain is exhausted."""
    subject = f"Incident {incident_id} unacknowledged"[:100]
    body = (
        f"Incident {incident_id} was not acknowledged by any of the {contacts_paged} contact(s) paged.\n"
        f"Description: {description}\n"
        "Escalation has stopped; the incident item's timeline has the details."
    )
    return subject, body


def ops_fault_notification(incident_id: str, fault: str) -> tuple[str, str]:
    """Subject and body for the ops topic when a page cannot be sent because of a fault on our side."""
    subject = f"Incident {incident_id}: page not sent (fault on our side)"[:100]
    body = (
        f"A page for incident {incident_id} could not be sent: {fault}\n"
        "This is not the contact's fault (quota, spend limit, access, origination identity, or throttling): "
        "the page is being retried and the escalation does not move on. Fix the cause; the incident item shows it."
    )
    return subject, body


def ops_nobody_on_call_notification(incident_id: str, description: str, level: str, reason: str) -> tuple[str, str]:
    """Subject and body for the ops topic when a policy level resolves to nobody (it is skipped)."""
    subject = f"Incident {incident_id}: nobody on call for {level}"[:100]
    body = (
        f"Incident {incident_id} reached {level}, and nobody is on call there: {reason}\n"
        f"Description: {description}\n"
        "The level was skipped and the escalation moved on. Fix the rotation or add an override "
        "(incidents oncall override ...)."
    )
    return subject, body


def ops_failed_notification(incident_id: str, description: str, error: str) -> tuple[str, str]:
    """Subject and body for the ops topic when paging stopped because a fault of ours outlasted its retries."""
    subject = f"Incident {incident_id}: paging stopped"[:100]
    body = (
        f"Paging for incident {incident_id} stopped after retries: {error}\n"
        f"Description: {description}\n"
        "Nobody was blamed for it: the incident is marked failed. Page the on-call person another way, "
        "fix the cause, then write the incident again to page it."
    )
    return subject, body
