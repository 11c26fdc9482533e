"""What each context key means: the meaning column of the settings reference in docs/deploying.md.

The keys, their defaults and their ranges come from stacks/config.py load_config (tools/settings_reference.py
reads them there); a test fails when a key read there has no meaning here, or a meaning names a key nobody reads.
"""

# What each context key means, for the settings reference in docs/deploying.md (`make docs` writes it from
# these and from load_config, which reads and checks every key; a test fails when the page is stale).
MEANINGS: dict[str, str] = {
    "workingHours": (
        "when a low-urgency incident (an alert of severity warning or info) may page a number of a contact chain, "
        "as `Mon-Fri 09:00-18:00`; outside it the level waits (see docs/alerts.md#urgency). People in oncall.yaml "
        "have their own `working_hours`"
    ),
    "workingHoursZone": ("the IANA time zone of `workingHours`"),
    "selfTestSchedule": (
        "the pager self-test: an EventBridge Scheduler expression such as `cron(0 10 ? * MON *)` on which everyone "
        "on call gets a test page asking for `TEST <code>`, and ops one summary of who was not sent to, whose text "
        'did not arrive and who did not reply (see docs/operations.md); `""` is off'
    ),
    "selfTestTimezone": ("the IANA time zone of `selfTestSchedule` (Monday 10:00 in whose zone)"),
    "selfTestReplyMinutes": ("how long (1-14 minutes) the self-test waits for the replies before it tells ops"),
    "ackTimeoutSeconds": ("how long a contact has to reply before the next step"),
    "alarmIntegration": (
        "the integration an untagged CloudWatch alarm pages (an alarm's `incident-escalation:integration` tag"
        ' chooses its own); `""`: untagged alarms are ignored'
    ),
    "allowedCountries": (
        'ISO 3166-1 alpha-2 codes (`GB,IE` or `["GB","IE"]`) that may be texted: a protect configuration '
        "blocks every other country, and an item with a number of another calling code is `invalid` at once. "
        "Empty means no limit (synth warns)"
    ),
    "configurationSet": ("optional End User Messaging configuration set (event destinations)"),
    "configureTwoWay": ("wire the number's two-way SMS to the inbound topic at deploy"),
    "faultRetrySeconds": (
        "how long throttling, account faults (spend limit, quota, access, bad identity) and our own crashes "
        "are retried before the incident is marked `failed`"
    ),
    "handoffNoticeMinutes": (
        "handoff notices: text each person this many minutes (15-1440) before their on-call shift starts; `0` is off"
    ),
    "maxSmsPerHour": (
        "texts per hour across all incidents (a storm of 200 incidents needs about 400: pages and "
        "confirmations); reaching it sends nothing more, pages included, and alarms"
    ),
    "maxSmsPerIncident": (
        "texts one incident may send; `0` derives it from `reminders` and `repeat` (81 with the defaults); a "
        "value below what a 10-contact chain legitimately needs fails synth"
    ),
    "maxSmsSegments": ("segment budget of a page; longer descriptions are shortened"),
    "maxSmsSegmentsUnicode": (
        "segments (1-10) a page or reminder may use when its description needs UCS-2 (Cyrillic, an emoji: 70 "
        "characters a segment, 67 when split), so at least 60 characters of it fit; each segment is billed as"
        " one message"
    ),
    "messageTtlDays": ("how long outbound message ids are kept to match replies"),
    "oncallFile": (
        'people, rotations and escalation policies, checked at synth and deployed into the on-call table; `""` deploys none'
    ),
    "opsEmail": ("email subscribed to the ops topic (unacknowledged incidents, alarms)"),
    "originationIdentity": (
        "phone number (E.164, `phone-...` or ARN), pool (`pool-...` or ARN) or sender ID; the functions may "
        "send only from it; required to deploy"
    ),
    "pinpointApplicationId": ("required with `smsApi=pinpoint`"),
    "powertoolsLayerVersion": ("version of the public Powertools for AWS Lambda (Python) v3 layer"),
    "reminders": ("reminders (0-5) to a silent contact before escalating"),
    "repeat": ("extra passes (0-3) over the whole chain before giving up"),
    "repeatAfterSeconds": (
        "an alert firing again on an incident nobody is on (exhausted, failed) escalates it again at most "
        "this often (0-604800); `0` never"
    ),
    "smsApi": ("`v2`: End User Messaging SMS `SendTextMessage`; `pinpoint`: legacy `SendMessages`"),
    "smsPartsPerSecond": (
        "send rate of the origination (message parts per second; US 10DLC 1, toll-free 3, most long codes 10,"
        " short codes 100), shared by all functions: a burst of pages queues instead of being throttled; a "
        "notice or confirmation takes a slot only if one is free within a second, otherwise it goes out at "
        "once (the service may throttle it) without holding one, so a page never waits for a slot nobody uses"
    ),
    "stormBatchSeconds": (
        "storms: for a person in a storm, a page waits up to this long (0-300) and "
        "goes out in one text with the other pages that reach them meanwhile; each later batch in the same storm "
        "waits twice as long, up to 120 s; notices and reminders join a digest that the storm digest function sends "
        "when it closes (the first stays open this long, at most 20 s; each next one in the same storm twice as long, "
        "up to 300 s); `0` sends every text on its own and deploys no digest function"
    ),
    "twoWayManagedElsewhere": (
        "the number's two-way SMS already delivers to the `InboundSmsTopicArn` output; lets you deploy without `configureTwoWay`"
    ),
    "voiceAfterSeconds": (
        "voice calls for chains of plain numbers: call each number this many seconds after its level texted it, "
        "unless the incident was acknowledged, resolved or moved on meanwhile (below `ackTimeoutSeconds`; the "
        "origination identity must be voice capable); `0` never. People in oncall.yaml have their own `notify` rules"
    ),
    "voiceId": (
        "the voice that speaks a call: an English Polly voice (`MATTHEW`, `JOANNA`, `AMY`, `BRIAN`, `NICOLE`, "
        "`RAVEENA`...), since a call's words are English"
    ),
    "voiceMaxPricePerMinute": (
        "the most a call may cost per minute, in US dollars (`0.10`): a number that costs more is not called, and "
        "the call is recorded as failed; empty for no cap"
    ),
    "spendBudgetUsd": (
        "this stack's own monthly budget for texts and calls, in whole US dollars: the hourly spend check alarms at "
        "80% and 100% of it, besides the account's End User Messaging limits; `0` for none"
    ),
}
# Read by app.py itself, not by load_config: key -> (default, meaning).
APP_KEYS: dict[str, tuple[str, str]] = {"stackName": ("IncidentEscalation", "CloudFormation stack name")}
