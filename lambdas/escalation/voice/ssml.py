"""What a call says, as SSML for SendVoiceMessage: short, the id spoken character by character, said twice.

A call cannot collect key presses, so it only wakes the person and tells them how to answer: by text.
One incident: "Incident 4 8 2 1: Disk full on db-1. Reply YES 4 8 2 1 by text to acknowledge."
Several open for the person (a storm: one call for all of them): "You have 12 open incidents. The latest:
incident 4 8 2 1: ... Reply YES ALL by text to acknowledge them all, or YES and an id."
"""

from xml.sax.saxutils import escape

MAX_SPOKEN_DESCRIPTION = 160  # characters of the description read out: the text has the rest
MAX_SSML_CHARACTERS = 6_000  # SendVoiceMessage's limit for SSML bodies
TIMES_SAID = 2
PAUSE = '<break time="1s"/>'


def spelled(incident_id: str) -> str:
    """The id read character by character ("4821" as "4 8 2 1", not "four thousand ...")."""
    return f'<say-as interpret-as="characters">{escape(incident_id)}</say-as>'


def _spoken(description: str) -> str:
    text = " ".join(description.split())
    if len(text) > MAX_SPOKEN_DESCRIPTION:
        text = text[: MAX_SPOKEN_DESCRIPTION - 1].rsplit(" ", 1)[0] + "..."
    return escape(text)


def call_script(incident_id: str, description: str, *, open_incidents: int = 1) -> str:
    """The SSML of one call about incident_id; with open_incidents > 1, a call for all of them (incident_id the latest)."""
    if open_incidents < 1:
        raise ValueError(f"open_incidents: must be 1 or more, got {open_incidents}")
    what = _spoken(description)
    about = f"Incident {spelled(incident_id)}" + (f": {what}" if what else "")
    about += "" if about.endswith((".", "!", "?")) else "."
    if open_incidents == 1:
        message = f"<p>This is an incident page. {about}</p><p>Reply YES {spelled(incident_id)} by text to acknowledge.</p>"
    else:
        message = (
            f"<p>This is an incident page. You have {open_incidents} open incidents. The latest: {about}</p>"
            f"<p>Reply YES ALL by text to acknowledge them all, or YES and an incident id.</p>"
        )
    body = f"<speak>{PAUSE.join([message] * TIMES_SAID)}</speak>"
    assert len(body) <= MAX_SSML_CHARACTERS  # bounded by MAX_SPOKEN_DESCRIPTION and the id's length (64 at most)
    return body


def test_call_script(code: str) -> str:
    """The SSML of a test call (incidents test-page --voice): it asks for the same reply as the test text."""
    message = f"<p>This is a test page. No incident is open.</p><p>Reply TEST {spelled(code)} by text.</p>"
    return f"<speak>{PAUSE.join([message] * TIMES_SAID)}</speak>"
