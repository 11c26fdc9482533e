"""Local runtime for the stack: moto plus in-process Lambda handlers, a fake SMS gateway and a deployer.

Typical use (everything inside one ``mock_aws`` block, see ``sandbox.local_lambda.MOTO_CONFIG``)::

    with mock_aws(config=MOTO_CONFIG):
        sms = SmsGateway().install()                # before any handler creates its SMS client
        runtime = LocalLambdaRuntime().install()
        stack = deploy_cdk_out(Path("cdk.out"))      # emulates Custom::AWS through the gateway
        runtime.register_all(stack.functions)
        sms.inbound_topic_arn = stack.physical_ids["<InboundTopicLogicalId>"]
        ...                                          # drive the system
        drain_executions()                           # before leaving mock_aws
        runtime.uninstall()
        sms.uninstall()
"""
