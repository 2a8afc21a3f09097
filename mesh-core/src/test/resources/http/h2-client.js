// Node's http2 client: several requests on one connection, printing "status body" per line in order (a stream the
// server reset: "reset MESSAGE").
// Usage: node h2-client.js PORT REQUEST... [WAIT_END] [PRINT_PORT] [HEADERS_END] where a REQUEST is a path, "METHOD path", or a JSON object
// sent as the header block as it is (Node fills in :method and :scheme, and :authority only when neither
// :authority nor host is given). H2HOST: the address to connect to (127.0.0.1). A request unanswered in 10 s prints
// "timeout" and the client goes on (a stream the proxy never ends is an answer a test can see).
const http2 = require('http2');
const [port, ...args] = process.argv.slice(2);
// WAIT_END: the server ends the connection, and the client waits for that instead of closing it ("session closed").
// PRINT_PORT: the first line is "port N", the client socket's local port.
// HEADERS_END: a status whose HEADERS frame ended the stream (END_STREAM, no DATA) is printed "STATUS/end".
const waitEnd = args.includes('WAIT_END');
const printPort = args.includes('PRINT_PORT');
const headersEnd = args.includes('HEADERS_END');
const paths = args.filter((a) => a !== 'WAIT_END' && a !== 'PRINT_PORT' && a !== 'HEADERS_END');
const session = http2.connect(`http://${process.env.H2HOST || '127.0.0.1'}:${port}`);
if (printPort) session.on('connect', () => console.log(`port ${session.socket.localPort}`));
if (waitEnd) session.on('close', () => console.log('session closed'));
(async () => {
  for (const p of paths) {
    const raw = p.startsWith('{') ? JSON.parse(p) : null;
    const [method, path] = raw ? [raw[':method'] || 'GET', raw[':path']] : p.includes(' ') ? p.split(' ') : ['GET', p];
    await new Promise((resolve, reject) => {
      const req = session.request(raw || { ':method': method, ':path': path });
      let status, body = '';
      req.on('response', (h, flags) => { status = h[':status'] + (headersEnd && (flags & 0x1) ? '/end' : ''); });
      req.setEncoding('utf8');
      req.on('data', (d) => { body += d; });
      req.on('end', () => { console.log(`${status} ${body}`); resolve(); });
      req.setTimeout(10000, () => { console.log('timeout'); req.close(); resolve(); });
      // A stream reset is one request's answer; any other error ends the client.
      req.on('error', (e) => {
        if (e.code === 'ERR_HTTP2_STREAM_ERROR') { console.log(`reset ${e.message}`); resolve(); } else { reject(e); }
      });
      req.end(method === 'POST' ? 'x'.repeat(100000) : undefined);
    });
  }
  if (!waitEnd) session.close();
})().catch((e) => { console.error(e); process.exit(1); });
