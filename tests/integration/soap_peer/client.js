// A node-soap client: reads a WSDL, calls one operation, prints the outcome as one JSON line.
//
//   node client.js WSDL_URL OPERATION JSON_ARGS [--port OrdersSoap12] [--endpoint URL]
//
// stdout: {"result": {...}, "content_type": "...", "request": "...", "response": "..."} (exit 0), or
//         {"fault": {...Fault element as node-soap parses it...}, "status": 500, ...} (exit 2).
// Anything else (WSDL unreadable, connection refused, not a SOAP answer): stderr, exit 1.
'use strict';

const soap = require('soap');

function option(name) {
  const at = process.argv.indexOf(name);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : undefined;
}

async function main() {
  const [wsdlUrl, operation, argsJson] = process.argv.slice(2);
  if (!wsdlUrl || !operation) {
    process.stderr.write('usage: node client.js WSDL_URL OPERATION JSON_ARGS [--port NAME] [--endpoint URL]\n');
    return 1;
  }
  const port = option('--port');
  const client = await soap.createClientAsync(wsdlUrl, {
    endpoint: option('--endpoint'),
    // A SOAP 1.2 port needs the 1.2 envelope namespace; node-soap does not infer it.
    forceSoap12Headers: Boolean(port && /12$/.test(port)),
  });
  const method = port
    ? client.OrderService[port][operation]
    : client[operation];
  if (typeof method !== 'function') {
    process.stderr.write(`no operation ${operation}${port ? ` on port ${port}` : ''}\n`);
    return 1;
  }
  const call = (args) => new Promise((resolve, reject) => {
    method.call(client, args, (err, result) => (err ? reject(err) : resolve(result)));
  });
  try {
    const result = await call(JSON.parse(argsJson || '{}'));
    const response = client.lastResponseHeaders || {};
    process.stdout.write(JSON.stringify({
      result,
      content_type: response['content-type'],
      request: client.lastRequest,
      response: client.lastResponse,
    }) + '\n');
    return 0;
  } catch (err) {
    const fault = err.root && err.root.Envelope && err.root.Envelope.Body && err.root.Envelope.Body.Fault;
    if (!fault) {
      process.stderr.write(`${err.message || err}${err.response ? `\nstatus ${err.response.status}: ${err.body}` : ''}\n`);
      return 1;
    }
    process.stdout.write(JSON.stringify({
      fault,
      status: err.response && err.response.status,
      content_type: err.response && err.response.headers['content-type'],
      request: client.lastRequest,
      response: err.body,
    }) + '\n');
    return 2;
  }
}

main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`${err.message || err}\n`);
  process.exit(1);
});
