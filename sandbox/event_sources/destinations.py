"""Send an invocation record to an on-failure destination (an SQS queue or SNS topic, by ARN)."""

from __future__ import annotations

import boto3

from ..records import SandboxError


def send_to(destination: str, body: str) -> None:
    """Send body to the SQS queue or SNS topic with this ARN (in-process, through moto)."""
    service, region = destination.split(":")[2], destination.split(":")[3]
    if service == "sqs":
        sqs = boto3.client("sqs", region_name=region)
        queue_url = sqs.get_queue_url(QueueName=destination.split(":")[5])["QueueUrl"]
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    elif service == "sns":
        boto3.client("sns", region_name=region).publish(TopicArn=destination, Message=body)
    else:
        raise SandboxError(f"destination type not emulated: {destination}")
