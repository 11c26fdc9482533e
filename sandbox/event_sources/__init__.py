"""How events reach functions without anyone waiting for them: stream pollers and the async-invoke queue.

``streams``: one poller per DynamoDB stream event source mapping (FilterCriteria, BatchSize,
ReportBatchItemFailures, retries, bisection, the on-failure destination). ``async_invoke``: SNS
deliveries and ``InvocationType=Event`` calls (retries, the EventInvokeConfig OnFailure
destination). ``destinations``: sending an invocation record to an SQS or SNS destination.
"""
