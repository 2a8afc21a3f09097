package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.Route;
import io.zerohop.hbone.TunnelInfo;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.SocketOption;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * Blocking socket over a tunnel stream channel. Reads are fed by a bridge handler that asks the
 * channel for more only while less than {@link #HIGH_WATER} bytes wait unread (so a slow reader
 * stops the HTTP/2 window, bounding what the sender can push); writes block while the stream channel
 * is not writable.
 */
public final class StreamSocket extends HboneSocket {
    static final int HIGH_WATER = 1024 * 1024;
    static final int LOW_WATER = 256 * 1024;
    /** Large enough that TLS records rarely span two buffers (Netty copies those through the heap). */
    static final int WRITE_CHUNK = 256 * 1024;
    private static final long DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

    private final ClientRuntime client;
    private final Function<InetSocketAddress, Route> routes;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition readable = lock.newCondition();
    private final Condition writable = lock.newCondition();
    private final ArrayDeque<ByteBuf> queue = new ArrayDeque<>();
    private long buffered;
    private boolean eof;
    private boolean reset;
    private boolean inactive;
    private boolean readPending;
    private boolean inputShutdown;
    private boolean outputShutdown;
    private boolean discardInput;
    private volatile boolean closed;
    private volatile Throwable writeError;
    private volatile Channel ch;
    private volatile TunnelInfo info;
    private volatile HboneStream stream;
    private int soTimeout;
    private boolean tcpNoDelay = true;
    private boolean keepAlive;
    private int sendBuffer = 256 * 1024;
    private int receiveBuffer = 256 * 1024;
    private int linger = -1;
    private final In in = new In();
    private final Out out = new Out();

    private StreamSocket(ClientRuntime client, Function<InetSocketAddress, Route> routes) throws SocketException {
        this.client = client;
        this.routes = routes;
    }

    /** An unconnected socket whose {@code connect(addr)} opens a tunnel along {@code routes}. */
    public static StreamSocket unconnected(ClientRuntime client, Function<InetSocketAddress, Route> routes) throws SocketException {
        return new StreamSocket(client, routes);
    }

    /** A socket over an open tunnel stream channel (auto-read must be off and no other handler reading). */
    public static StreamSocket attach(Channel ch, TunnelInfo info) throws SocketException {
        StreamSocket s = new StreamSocket(null, null);
        s.attachTo(ch, info);
        return s;
    }

    private void attachTo(Channel channel, TunnelInfo tunnel) {
        this.info = tunnel;
        this.ch = channel;
        Bridge bridge = new Bridge();
        if (channel.eventLoop().inEventLoop()) {
            HbonePipeline.socket(channel, bridge);
        } else {
            channel.eventLoop().execute(() -> HbonePipeline.socket(channel, bridge));
        }
        lock.lock();
        try {
            readPending = true;
        } finally {
            lock.unlock();
        }
        // Later, so that it runs after the server opened the codec (embedded mode).
        channel.eventLoop().execute(channel::read);
    }

    @Override
    public TunnelInfo tunnel() {
        return info;
    }

    // ---- connect ----

    @Override
    public void connect(SocketAddress endpoint) throws IOException {
        connect(endpoint, 0);
    }

    @Override
    public void connect(SocketAddress endpoint, int timeout) throws IOException {
        if (closed) {
            throw new SocketException("Socket is closed");
        }
        if (ch != null) {
            throw new SocketException("already connected");
        }
        if (client == null || routes == null) {
            throw new SocketException("this socket cannot connect");
        }
        if (!(endpoint instanceof InetSocketAddress isa)) {
            throw new IllegalArgumentException("unsupported address type: " + endpoint);
        }
        if (isa.isUnresolved()) {
            isa = new InetSocketAddress(InetAddress.getByName(isa.getHostString()), isa.getPort());
        }
        Route route = routes.apply(isa);
        if (route == null) {
            throw new ConnectException("no HBONE route to " + isa);
        }
        long ms = timeout > 0 ? timeout : soTimeout > 0 ? soTimeout : DEFAULT_CONNECT_TIMEOUT_MS;
        var future = client.connect(isa, route.expectedIdentities(), route.hboneAddress(), route.headers());
        HboneStream s;
        try {
            s = future.get(ms, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            future.thenAccept(HboneStream::reset);
            throw new InterruptedIOException("interrupted while connecting to " + isa);
        } catch (TimeoutException e) {
            future.thenAccept(HboneStream::reset);
            throw new SocketTimeoutException("HBONE connect to " + isa + " via " + route.hboneAddress() + " timed out after " + ms + " ms");
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof IOException io) {
                throw io;
            }
            throw new ConnectException("HBONE connect to " + isa + " failed: " + c);
        }
        this.stream = s;
        attachTo(s.channel(), s.info());
    }

    @Override
    public void bind(SocketAddress bindpoint) throws IOException {
        throw new SocketException("HBONE sockets cannot bind a local address");
    }

    // ---- bridge (event loop side) ----

    private final class Bridge extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof ByteBuf buf)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            lock.lock();
            try {
                if (closed || discardInput) {
                    buf.release();
                    return;
                }
                queue.add(buf);
                buffered += buf.readableBytes();
                readable.signalAll();
            } finally {
                lock.unlock();
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            boolean more;
            lock.lock();
            try {
                more = !eof && (buffered < HIGH_WATER || discardInput || closed);
                readPending = more;
            } finally {
                lock.unlock();
            }
            if (more) {
                ctx.read();
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            lock.lock();
            try {
                if (evt instanceof ChannelInputShutdownEvent) {
                    eof = true;
                } else if (evt instanceof HboneStream.Reset) {
                    reset = true;
                }
                readable.signalAll();
            } finally {
                lock.unlock();
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            lock.lock();
            try {
                writable.signalAll();
            } finally {
                lock.unlock();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            lock.lock();
            try {
                inactive = true;
                if (closed) {
                    releaseQueue();
                }
                readable.signalAll();
                writable.signalAll();
            } finally {
                lock.unlock();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            writeError = cause;
            ctx.close();
        }
    }

    private void releaseQueue() {
        ByteBuf b;
        while ((b = queue.poll()) != null) {
            b.release();
        }
        buffered = 0;
    }

    // ---- streams ----

    private final class In extends InputStream {
        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            java.util.Objects.checkFromIndexSize(off, len, b.length);
            if (len == 0) {
                return 0;
            }
            Channel channel = requireConnected();
            boolean askMore = false;
            int n;
            lock.lock();
            try {
                long deadline = soTimeout > 0 ? System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(soTimeout) : 0;
                while (queue.isEmpty()) {
                    if (closed) {
                        throw new SocketException("Socket closed");
                    }
                    if (reset) {
                        throw new SocketException("Connection reset");
                    }
                    if (eof || inputShutdown) {
                        return -1;
                    }
                    if (inactive) {
                        throw new SocketException("Connection reset");
                    }
                    try {
                        if (deadline == 0) {
                            readable.await();
                        } else {
                            long left = deadline - System.nanoTime();
                            if (left <= 0) {
                                throw new SocketTimeoutException("Read timed out");
                            }
                            readable.awaitNanos(left);
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new InterruptedIOException("interrupted while reading");
                    }
                }
                if (reset) {
                    throw new SocketException("Connection reset");
                }
                ByteBuf head = queue.peek();
                n = Math.min(len, head.readableBytes());
                head.readBytes(b, off, n);
                buffered -= n;
                if (!head.isReadable()) {
                    queue.poll();
                    head.release();
                }
                if (!readPending && !eof && !inactive && buffered < LOW_WATER) {
                    readPending = true;
                    askMore = true;
                }
            } finally {
                lock.unlock();
            }
            if (askMore) {
                channel.eventLoop().execute(channel::read);
            }
            return n;
        }

        @Override
        public int available() {
            lock.lock();
            try {
                return (int) Math.min(Integer.MAX_VALUE, buffered);
            } finally {
                lock.unlock();
            }
        }

        @Override
        public void close() throws IOException {
            StreamSocket.this.close();
        }
    }

    private final class Out extends OutputStream {
        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            java.util.Objects.checkFromIndexSize(off, len, b.length);
            Channel channel = requireConnected();
            // One flush per write() call (or per high-water mark reached), not per chunk: every flush
            // is a task on the event loop and a TLS record boundary. Failures need no per-chunk
            // listener: the void promise fires exceptionCaught, which records writeError and closes.
            while (len > 0) {
                checkWritable(channel);
                int n = Math.min(len, WRITE_CHUNK);
                ByteBuf buf = channel.alloc().ioBuffer(n);
                buf.writeBytes(b, off, n);
                channel.write(buf, channel.voidPromise());
                off += n;
                len -= n;
                if (!channel.isWritable()) {
                    channel.flush();
                    awaitWritable(channel);
                }
            }
            channel.flush();
        }

        @Override
        public void flush() {
            // every write is flushed
        }

        @Override
        public void close() throws IOException {
            StreamSocket.this.close();
        }
    }

    private void checkWritable(Channel channel) throws IOException {
        if (closed) {
            throw new SocketException("Socket closed");
        }
        if (outputShutdown) {
            throw new SocketException("Socket output is shutdown");
        }
        Throwable err = writeError;
        if (err != null || !channel.isActive()) {
            SocketException e = new SocketException(reset ? "Connection reset" : "Broken pipe");
            if (err != null) {
                e.initCause(err);
            }
            throw e;
        }
    }

    private void awaitWritable(Channel channel) throws IOException {
        lock.lock();
        try {
            while (!channel.isWritable() && channel.isActive() && writeError == null && !closed) {
                try {
                    writable.awaitNanos(TimeUnit.MILLISECONDS.toNanos(100));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while writing");
                }
            }
        } finally {
            lock.unlock();
        }
    }

    private Channel requireConnected() throws SocketException {
        Channel c = ch;
        if (c == null) {
            throw new SocketException(closed ? "Socket is closed" : "Socket is not connected");
        }
        return c;
    }

    @Override
    public InputStream getInputStream() throws IOException {
        requireConnected();
        if (closed) {
            throw new SocketException("Socket is closed");
        }
        return in;
    }

    @Override
    public OutputStream getOutputStream() throws IOException {
        requireConnected();
        if (closed) {
            throw new SocketException("Socket is closed");
        }
        return out;
    }

    // ---- half-close and close ----

    @Override
    public void shutdownOutput() throws IOException {
        Channel c = requireConnected();
        if (outputShutdown) {
            return;
        }
        outputShutdown = true;
        if (c.isActive()) {
            HboneStream.shutdownOutput(c);
        }
    }

    @Override
    public void shutdownInput() throws IOException {
        Channel c = requireConnected();
        lock.lock();
        try {
            inputShutdown = true;
            discardInput = true;
            releaseQueue();
            readable.signalAll();
            if (!readPending && !eof) {
                readPending = true;
                c.eventLoop().execute(c::read);
            }
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        Channel c = ch;
        boolean unread;
        lock.lock();
        try {
            closed = true;
            unread = !queue.isEmpty();
            releaseQueue();
            readable.signalAll();
            writable.signalAll();
        } finally {
            lock.unlock();
        }
        if (c == null) {
            return;
        }
        c.eventLoop().execute(() -> {
            TunnelCodec codec = c.pipeline().get(TunnelCodec.class);
            if (unread || codec == null || linger == 0) {
                // Like TCP: closing with unread data (or SO_LINGER 0) resets.
                Streams.reset(c);
            } else {
                Streams.closeGracefully(c, codec);
            }
        });
    }

    @Override
    public boolean isConnected() {
        return ch != null;
    }

    @Override
    public boolean isBound() {
        return ch != null;
    }

    @Override
    public boolean isClosed() {
        return closed;
    }

    @Override
    public boolean isInputShutdown() {
        return inputShutdown;
    }

    @Override
    public boolean isOutputShutdown() {
        return outputShutdown;
    }

    // ---- addresses: the tunnel's view (remote = CONNECT target on the client, source on the server) ----

    @Override
    public InetAddress getInetAddress() {
        InetSocketAddress r = remote();
        return r == null ? null : r.getAddress();
    }

    @Override
    public int getPort() {
        InetSocketAddress r = remote();
        return r == null ? 0 : r.getPort();
    }

    @Override
    public SocketAddress getRemoteSocketAddress() {
        return remote();
    }

    private InetSocketAddress remote() {
        TunnelInfo t = info;
        if (t == null) {
            return null;
        }
        return t.direction() == TunnelInfo.Direction.OUTBOUND ? t.destination() : t.peerAddress();
    }

    private InetSocketAddress local() {
        TunnelInfo t = info;
        if (t == null) {
            return null;
        }
        return t.direction() == TunnelInfo.Direction.INBOUND ? t.destination() : t.localAddress();
    }

    @Override
    public InetAddress getLocalAddress() {
        InetSocketAddress l = local();
        return l == null ? null : l.getAddress();
    }

    @Override
    public int getLocalPort() {
        InetSocketAddress l = local();
        return l == null ? -1 : l.getPort();
    }

    @Override
    public SocketAddress getLocalSocketAddress() {
        return local();
    }

    @Override
    public SocketChannel getChannel() {
        return null;
    }

    // ---- options: accepted, mostly without effect on a tunnel ----

    @Override
    public synchronized void setSoTimeout(int timeout) throws SocketException {
        if (timeout < 0) {
            throw new IllegalArgumentException("timeout < 0");
        }
        soTimeout = timeout;
    }

    @Override
    public synchronized int getSoTimeout() {
        return soTimeout;
    }

    @Override
    public void setTcpNoDelay(boolean on) {
        tcpNoDelay = on;
    }

    @Override
    public boolean getTcpNoDelay() {
        return tcpNoDelay;
    }

    @Override
    public void setSoLinger(boolean on, int seconds) {
        linger = on ? seconds : -1;
    }

    @Override
    public int getSoLinger() {
        return linger;
    }

    @Override
    public void sendUrgentData(int data) throws IOException {
        throw new SocketException("urgent data is not supported over HBONE");
    }

    @Override
    public void setOOBInline(boolean on) {
    }

    @Override
    public boolean getOOBInline() {
        return false;
    }

    @Override
    public synchronized void setSendBufferSize(int size) {
        if (size <= 0) {
            throw new IllegalArgumentException("negative send size");
        }
        sendBuffer = size;
    }

    @Override
    public synchronized int getSendBufferSize() {
        return sendBuffer;
    }

    @Override
    public synchronized void setReceiveBufferSize(int size) {
        if (size <= 0) {
            throw new IllegalArgumentException("invalid receive size");
        }
        receiveBuffer = size;
    }

    @Override
    public synchronized int getReceiveBufferSize() {
        return receiveBuffer;
    }

    @Override
    public void setKeepAlive(boolean on) {
        keepAlive = on;
    }

    @Override
    public boolean getKeepAlive() {
        return keepAlive;
    }

    @Override
    public void setTrafficClass(int tc) {
    }

    @Override
    public int getTrafficClass() {
        return 0;
    }

    @Override
    public void setReuseAddress(boolean on) {
    }

    @Override
    public boolean getReuseAddress() {
        return false;
    }

    @Override
    public void setPerformancePreferences(int connectionTime, int latency, int bandwidth) {
    }

    @Override
    public <T> java.net.Socket setOption(SocketOption<T> name, T value) throws IOException {
        if (name == StandardSocketOptions.TCP_NODELAY) {
            setTcpNoDelay((Boolean) value);
        } else if (name == StandardSocketOptions.SO_KEEPALIVE) {
            setKeepAlive((Boolean) value);
        } else if (name == StandardSocketOptions.SO_SNDBUF) {
            setSendBufferSize((Integer) value);
        } else if (name == StandardSocketOptions.SO_RCVBUF) {
            setReceiveBufferSize((Integer) value);
        } else if (name == StandardSocketOptions.SO_LINGER) {
            int v = (Integer) value;
            setSoLinger(v >= 0, Math.max(0, v));
        } else if (!supportedOptions().contains(name)) {
            throw new UnsupportedOperationException("'" + name + "' not supported");
        }
        return this;
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T> T getOption(SocketOption<T> name) throws IOException {
        if (name == StandardSocketOptions.TCP_NODELAY) {
            return (T) Boolean.valueOf(tcpNoDelay);
        } else if (name == StandardSocketOptions.SO_KEEPALIVE) {
            return (T) Boolean.valueOf(keepAlive);
        } else if (name == StandardSocketOptions.SO_SNDBUF) {
            return (T) Integer.valueOf(sendBuffer);
        } else if (name == StandardSocketOptions.SO_RCVBUF) {
            return (T) Integer.valueOf(receiveBuffer);
        } else if (name == StandardSocketOptions.SO_LINGER) {
            return (T) Integer.valueOf(linger);
        } else if (name == StandardSocketOptions.SO_REUSEADDR) {
            return (T) Boolean.FALSE;
        } else if (name == StandardSocketOptions.IP_TOS) {
            return (T) Integer.valueOf(0);
        }
        throw new UnsupportedOperationException("'" + name + "' not supported");
    }

    @Override
    public Set<SocketOption<?>> supportedOptions() {
        return Set.of(StandardSocketOptions.TCP_NODELAY, StandardSocketOptions.SO_KEEPALIVE, StandardSocketOptions.SO_SNDBUF,
                StandardSocketOptions.SO_RCVBUF, StandardSocketOptions.SO_LINGER, StandardSocketOptions.SO_REUSEADDR,
                StandardSocketOptions.IP_TOS);
    }

    @Override
    public String toString() {
        TunnelInfo t = info;
        return t == null ? "HboneSocket[unconnected]" : "HboneSocket[" + t + "]";
    }

    /** Identity of the other end (convenience for logs). */
    SpiffeId peer() {
        TunnelInfo t = info;
        return t == null ? null : t.peerIdentity();
    }
}
