"""The emulated account every run deploys into: its region and phone number, moto's fake credentials, the settings.

``python -m sandbox run`` (``sandbox.runner``) and ``python -m sandbox serve`` (``sandbox.server``) both use these.
"""

REGION = "eu-west-2"
# The sandbox deploys as a real user would: a phone number id, with two-way SMS wired at deploy.
PHONE_NUMBER_ID = "phone-sandbox0001"
ORIGINATION_NUMBER = "+447700900999"
# Scenarios send at a typical long code's rate (10 parts per second) unless they set smsPartsPerSecond themselves:
# the deployed default (1, a US 10DLC number) would make every scenario about queueing.
DEFAULT_SETTINGS = {"originationIdentity": PHONE_NUMBER_ID, "configureTwoWay": True, "smsPartsPerSecond": 10}
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
