"""Each configuration is synthesized once per test run (with cdk-nag) and shared by every infra test.

The tests read the synthesized stack's constructs, which cannot cross processes, so every infra test
runs on one xdist worker (group "infra"): four synths per run rather than four per worker.
"""

from pathlib import Path

import pytest

from tests.infra.support import (
    ACK_TIMEOUT_SECONDS,
    ALLOWED_COUNTRIES,
    CONFIGURATION_SET,
    HANDOFF_NOTICE_MINUTES,
    OPS_EMAIL,
    PHONE_NUMBER_ID,
    PINPOINT_APP_ID,
    POOL_ID,
    REMINDERS,
    SELF_TEST_SCHEDULE,
    Synth,
    synthesize,
)

INFRA_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put this folder's tests in one xdist group (``--dist loadgroup``), so the synths are shared."""
    for item in items:
        if item.path.is_relative_to(INFRA_TESTS):
            item.add_marker(pytest.mark.xdist_group("infra"))


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """cdk.json context as committed: SMS through End User Messaging v2, no two-way wiring, no ops email."""
    return synthesize(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="session")
def two_way_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Two-way wiring by custom resource, an ops email, a short acknowledgement window, reminders, handoff notices,
    the weekly pager self-test."""
    return synthesize(
        tmp_path_factory.mktemp("two-way"),
        configureTwoWay="true",  # as `-c configureTwoWay=true` passes it
        originationIdentity=PHONE_NUMBER_ID,
        opsEmail=OPS_EMAIL,
        ackTimeoutSeconds=str(ACK_TIMEOUT_SECONDS),
        reminders=REMINDERS,
        handoffNoticeMinutes=str(HANDOFF_NOTICE_MINUTES),
        selfTestSchedule=SELF_TEST_SCHEDULE,
        selfTestTimezone="Europe/London",
        selfTestReplyMinutes="5",
    )


@pytest.fixture(scope="session")
def pinpoint_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Legacy sending through Amazon Pinpoint SendMessages."""
    return synthesize(tmp_path_factory.mktemp("pinpoint"), smsApi="pinpoint", pinpointApplicationId=PINPOINT_APP_ID)


@pytest.fixture(scope="session")
def limited_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """A pool wired for two-way elsewhere, a configuration set, destinations limited to two countries, SMS limits,
    and no on-call definitions."""
    return synthesize(
        tmp_path_factory.mktemp("limited"),
        originationIdentity=POOL_ID,
        twoWayManagedElsewhere="true",
        configurationSet=CONFIGURATION_SET,
        allowedCountries=ALLOWED_COUNTRIES,
        smsPartsPerSecond="20",
        faultRetrySeconds="600",
        maxSmsPerIncident="120",
        maxSmsPerHour="90",
        oncallFile="",  # no schedules (the example oncall.yaml has US numbers, outside the allowed countries)
    )


@pytest.fixture(scope="session", params=["default", "two_way", "pinpoint", "limited"])
def any_synth(request: pytest.FixtureRequest) -> Synth:
    """Each configuration in turn."""
    synth: Synth = request.getfixturevalue(f"{request.param}_synth")
    return synth
