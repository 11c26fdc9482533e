"""Local runtime for the stack: moto plus in-process Lambda handlers, a fake SMS gateway and a deployer.

Typical use (everything inside one ``mock_aws`` block)::

    with mock_aws(config=MOTO_CONFIG):
        sms = SmsGateway().install()                # before any handler creates its SMS client
        runtime = LocalLambdaRuntime().install()
        stack = deploy_cdk_out(Path("cdk.out"))      # its two-way Custom::AWS call reaches the gateway
        runtime.register_all(stack.functions)
        ...                                          # drive the system, wait_for_executions(...)
        sms.wait_replies()
        drain_executions()                           # before leaving mock_aws
        runtime.uninstall()
        sms.uninstall()

``MOTO_CONFIG``, ``LocalLambdaRuntime``, ``wait_for_executions`` and ``drain_executions`` are in
``sandbox.local_lambda``; ``SmsGateway`` in ``sandbox.sms_gateway``; ``deploy_cdk_out`` in
``sandbox.deploy``.
"""
