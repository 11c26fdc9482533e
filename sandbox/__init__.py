"""Local runtime for the stack: moto plus Lambda handlers in worker processes, a fake SMS gateway and a deployer.

Typical use (everything inside one ``mock_aws`` block)::

    with mock_aws(config=MOTO_CONFIG), LocalEndpoint() as endpoint:
        sms = SmsGateway().install()                 # answers this process's own SMS calls
        endpoint.serve_sms(sms)                      # and the workers', over HTTP
        runtime = LocalLambdaRuntime(endpoint_url=endpoint.url).install()
        stack = deploy_cdk_out(Path("cdk.out"))      # its two-way Custom::AWS call reaches the gateway
        runtime.register_all(stack.functions)
        ...                                          # drive the system, wait_for_executions(...)
        sms.wait_replies()
        drain_executions()                           # before leaving mock_aws
        runtime.uninstall()
        sms.uninstall()

``LocalEndpoint`` is in ``sandbox.runtime`` (with ``FunctionRuntime``, the worker processes);
``LocalLambdaRuntime`` in ``sandbox.local_lambda`` (the runtime plus the event sources that feed it,
``sandbox.event_sources``); every replaced moto method in ``sandbox.moto_patches`` (the windows they
hold in ``sandbox.windows``); ``MOTO_CONFIG``, ``wait_for_executions`` and ``drain_executions`` in
``sandbox.executions``; ``SmsGateway`` in ``sandbox.sms_gateway``; ``deploy_cdk_out`` in ``sandbox.deploy``.
"""
