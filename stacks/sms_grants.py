"""Who may send SMS, and through what: SendTextMessage scoped to the configured identity (or Pinpoint's SendMessages)."""

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_smsvoice as smsvoice

from .config import EscalationConfig

SMS_ARN_PREFIX = "arn:<AWS::Partition>:sms-voice:<AWS::Region>:<AWS::AccountId>:"


def sms_send_resources(config: EscalationConfig) -> list[str]:
    """What SendTextMessage is authorized against, with <AWS::...> for the pseudo parameters (cdk-nag's notation).

    The service checks the origination identity (phone number, pool or sender ID), the configuration set, the
    opt-out list and the protect configuration of each send. The origination identity is the configured one;
    an E.164 number is matched by its id in ARNs, unknown at synth, so it allows this account's numbers
    (configure the phone-... id to scope it to the number). With no identity at all (synth for the demo and the
    tests; such a template is refused at deploy) it allows this account's numbers, pools and sender IDs.
    Opt-out lists are assigned to the identity outside this stack, and a protect configuration can only block
    sends, so those are allowed in this account and region; the stack's own protect configuration, when
    allowedCountries is set, is added by the stack.
    """
    identity = config.origination_identity
    if identity.startswith("arn:"):
        resources = [identity]
    elif identity.startswith("phone-"):
        resources = [f"{SMS_ARN_PREFIX}phone-number/{identity}"]
    elif identity.startswith("pool-"):
        resources = [f"{SMS_ARN_PREFIX}pool/{identity}"]
    elif identity.startswith("+"):
        resources = [f"{SMS_ARN_PREFIX}phone-number/*"]
    elif identity:  # a sender ID, registered per country
        resources = [f"{SMS_ARN_PREFIX}sender-id/{identity}/*"]
    else:
        resources = [f"{SMS_ARN_PREFIX}{kind}/*" for kind in ("phone-number", "pool", "sender-id")]
    name = config.configuration_set
    if name:
        resources.append(name if name.startswith("arn:") else f"{SMS_ARN_PREFIX}configuration-set/{name}")
    resources.append(f"{SMS_ARN_PREFIX}opt-out-list/*")
    if not config.allowed_countries:
        resources.append(f"{SMS_ARN_PREFIX}protect-configuration/*")
    return resources


def _resolved(resource: str) -> str:
    return (
        resource.replace("<AWS::Partition>", Aws.PARTITION)
        .replace("<AWS::Region>", Aws.REGION)
        .replace("<AWS::AccountId>", Aws.ACCOUNT_ID)
    )


def grant_sms(role: iam.IRole, config: EscalationConfig, protect_configuration: smsvoice.CfnProtectConfiguration | None) -> None:
    """Permission to send SMS through the configured API, from the configured identity only."""
    if config.sms_api == "pinpoint":
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["mobiletargeting:SendMessages"],
                resources=[
                    f"arn:{Aws.PARTITION}:mobiletargeting:{Aws.REGION}:{Aws.ACCOUNT_ID}:apps/"
                    f"{config.pinpoint_application_id}/messages"
                ],
            )
        )
        return
    resources = [_resolved(resource) for resource in sms_send_resources(config)]
    if protect_configuration is not None:  # its ARN from its id: no GetAtt, which the local sandbox cannot resolve
        resources.append(_resolved(f"{SMS_ARN_PREFIX}protect-configuration/{protect_configuration.ref}"))
    role.add_to_principal_policy(iam.PolicyStatement(actions=["sms-voice:SendTextMessage"], resources=resources))
