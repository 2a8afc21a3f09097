// An h2c application that starts each response and then ends it abnormally, for L7H2LateResetFlagTest: 200 and
// "started\n", then under /rst a RST_STREAM (INTERNAL_ERROR), under /gone its whole connection closed (FIN, which keeps what was sent before it; a TCP reset may drop it unread). The
// response is sent with waitForTrailers, whose trailers never come, so no END_STREAM precedes the reset. Under /hold the
// response starts and never ends (its client goes away: the application is not to blame).
// Usage: node h2-late-reset-server.js HOST ; prints the bound port on stdout.
const http2 = require('http2');
const server = http2.createServer();
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  if (headers[':path'] === '/hold') {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.write('started\n');
    return;
  }
  stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => {
    if (headers[':path'] === '/gone') stream.session.socket.destroy();
    else stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  });
  stream.end('started\n');
});
server.listen(0, process.argv[2], () => console.log(server.address().port));
