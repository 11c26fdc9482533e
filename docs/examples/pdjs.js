// Trigger an alert, or resolve one, with pdjs (`npm install @pagerduty/pdjs`), PagerDuty's JavaScript client.
//
//   ROUTING_KEY=... EVENTS_HOST=<api-id>.execute-api.<region>.amazonaws.com node pdjs.js [--resolve DEDUP_KEY]
//
// pdjs takes a *host* (`server`, with :port if any) and always calls https://<server>/v2/enqueue. Against the
// sandbox, trust its certificate with NODE_EXTRA_CA_CERTS (docs/sandbox.md prints the path).
const {event} = require('@pagerduty/pdjs');

async function send(action, data) {
  const response = await event({
    server: process.env.EVENTS_HOST,
    data: {routing_key: process.env.ROUTING_KEY, event_action: action, ...data},
  });
  if (response.status !== 202) {
    throw new Error(`${action}: HTTP ${response.status} ${JSON.stringify(response.data)}`);
  }
  return response.data.dedup_key;
}

(async () => {
  const resolving = process.argv.indexOf('--resolve');
  if (resolving !== -1) {
    const key = await send('resolve', {dedup_key: process.argv[resolving + 1]});
    console.log(`resolved ${key}`);
    return;
  }
  const dedupKey = await send('trigger', {
    payload: {
      summary: 'Disk 95% full on db-1',
      source: 'db-1',
      severity: 'critical',
      custom_details: {mount: '/var/lib/postgresql', used: '95%'},
    },
    links: [{href: 'https://runbooks.example.com/disk-full', text: 'Runbook'}],
  });
  console.log(`triggered ${dedupKey}`);
})().catch(error => {
  console.error(error.message);
  process.exit(1);
});
