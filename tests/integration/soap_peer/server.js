// A node-soap server for orders.wsdl on 127.0.0.1.
//
//   node server.js [--port N] [--path /orders] [--wsdl FILE] [--quiet]
//
// Port 0 (the default) picks a free port. Prints one line `listening <url>` once it
// accepts requests, then (unless --quiet, as benchmarks run it) one JSON line per call:
//   {"operation": "GetOrder", "args": {...}, "headers": {...soap headers...},
//    "soapaction": "...", "content_type": "..."}
// so a test can count attempts and see what arrived. Stops on SIGTERM or SIGINT.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const soap = require('soap');

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

const port = Number(option('--port', '0'));
const servicePath = option('--path', '/orders');
const wsdlFile = option('--wsdl', path.join(__dirname, 'orders.wsdl'));
const quiet = process.argv.includes('--quiet');

function record(operation, args, headers, req) {
  if (quiet) return;
  const line = {
    operation,
    args,
    headers: headers || {},
    soapaction: req && req.headers.soapaction,
    content_type: req && req.headers['content-type'],
  };
  process.stdout.write(JSON.stringify(line) + '\n');
}

// Totals derive from the id so every test can predict them without shared state.
function totalFor(id) {
  return Number(((Number(id) * 7.25) % 1000).toFixed(2));
}

const service = {
  OrderService: {
    OrdersSoap: {
      GetOrder(args, callback, headers, req) {
        record('GetOrder', args, headers, req);
        const id = String(args.id);
        if (!/^[0-9]+$/.test(id)) {
          throw { Fault: { faultcode: 'soap:Client', faultstring: `no such order: ${id}`, statusCode: 500 } };
        }
        return { id, status: Number(id) % 2 ? 'shipped' : 'open', total: totalFor(id) };
      },
      CancelOrder(args, callback, headers, req) {
        record('CancelOrder', args, headers, req);
        throw {
          Fault: {
            faultcode: 'soap:Server',
            faultstring: `order ${args.id} has shipped and cannot be cancelled`,
            detail: { reason: 'shipped' },
            statusCode: 500,
          },
        };
      },
    },
  },
};
// Both ports live at one address; node-soap answers with the binding of the first.
service.OrderService.OrdersSoap12 = service.OrderService.OrdersSoap;

const server = http.createServer((req, res) => {
  res.statusCode = 404;
  res.end();
});
server.keepAliveTimeout = 30000;

server.listen(port, '127.0.0.1', () => {
  soap.listen(server, servicePath, service, fs.readFileSync(wsdlFile, 'utf8'), () => {
    process.stdout.write(`listening http://127.0.0.1:${server.address().port}${servicePath}\n`);
  });
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
