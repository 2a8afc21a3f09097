// Node's http2 client for header-size and trailer limits: several requests on one session, in order, printing
// "status body" per request (a stream the server reset: "reset MESSAGE").
// Usage: node h2-limits-client.js HOST PORT REQUEST... where a REQUEST is a JSON object:
//   {"path": "/x", "fields": F, "size": S, "trailers": T, "trailerSize": TS}
// F header fields x-b-0.. of S bytes ('a') each; with T > 0 it is a POST of 10 bytes followed by T trailer fields
// x-t-0.. of TS bytes ('t') each (default 1). With "grpc": true it is a gRPC POST (content-type application/grpc, no
// body) and the line is "status grpc-status=G grpc-message=M" of the response's head (a trailers-only answer). Nghttp2's own 64 KiB limit on a header block it sends is raised,
// so that the server's limits are the ones tested.
const http2 = require('http2');
const [host, port, ...specs] = process.argv.slice(2);
const session = http2.connect(`http://${host}:${port}`, { maxSendHeaderBlockLength: 16 * 1024 * 1024 });
(async () => {
  for (const raw of specs) {
    const spec = JSON.parse(raw);
    const trailers = spec.trailers || 0;
    const headers = { ':method': trailers || spec.grpc ? 'POST' : 'GET', ':path': spec.path };
    if (spec.grpc) headers['content-type'] = 'application/grpc';
    for (let i = 0; i < (spec.fields || 0); i++) headers[`x-b-${i}`] = 'a'.repeat(spec.size);
    await new Promise((resolve, reject) => {
      const req = session.request(headers, { waitForTrailers: trailers > 0, endStream: trailers === 0 });
      if (trailers > 0) {
        req.on('wantTrailers', () => {
          const t = {};
          for (let i = 0; i < trailers; i++) t[`x-t-${i}`] = 't'.repeat(spec.trailerSize || 1);
          req.sendTrailers(t);
        });
        req.end('x'.repeat(10));
      }
      let status, body = '', grpc = '';
      req.on('response', (h) => {
        status = h[':status'];
        if (spec.grpc) grpc = `grpc-status=${h['grpc-status']} grpc-message=${h['grpc-message']}`;
      });
      req.setEncoding('utf8');
      req.on('data', (d) => { body += d; });
      req.on('end', () => { console.log(spec.grpc ? `${status} ${grpc}` : `${status} ${body}`); resolve(); });
      req.on('error', (e) => {
        if (e.code === 'ERR_HTTP2_STREAM_ERROR') { console.log(`reset ${e.message}`); resolve(); } else { reject(e); }
      });
    });
  }
  session.close();
})().catch((e) => { console.error(e); process.exit(1); });
