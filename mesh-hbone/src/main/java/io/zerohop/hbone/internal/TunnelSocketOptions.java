package io.zerohop.hbone.internal;

import io.zerohop.hbone.HboneSocket;
import java.io.IOException;
import java.net.SocketException;
import java.net.SocketOption;
import java.net.StandardSocketOptions;
import java.util.Set;

/**
 * The socket options of a {@link TunnelSocket}: {@code SO_TIMEOUT} bounds reads (and connect when no
 * timeout is passed) and {@code SO_LINGER 0} makes close a reset; the others are accepted and
 * remembered, without effect on a tunnel (what an application sets on a plain socket must not fail).
 */
abstract class TunnelSocketOptions extends HboneSocket {
    private int soTimeout;
    private boolean tcpNoDelay = true;
    private boolean keepAlive;
    private int sendBuffer = 256 * 1024;
    private int receiveBuffer = 256 * 1024;
    private int linger = -1;

    TunnelSocketOptions() throws SocketException {
    }


    @Override
    public synchronized void setSoTimeout(int timeout) throws SocketException {
        requireOpen();
        if (timeout < 0) {
            throw new IllegalArgumentException("timeout < 0");
        }
        soTimeout = timeout;
    }

    /**
     * As {@link java.net.Socket}: setting or reading an option of a closed socket is a {@link SocketException} (until
     * 5 December a closed tunnel socket took and answered them all; a new-user pass; until 6 December the classic
     * accessors, getSoTimeout, setTcpNoDelay, getSendBufferSize and the rest, still did: helper 269).
     */
    private void requireOpen() throws SocketException {
        if (isClosed()) {
            throw new SocketException("Socket is closed");
        }
    }

    @Override
    public synchronized int getSoTimeout() throws SocketException {
        requireOpen();
        return soTimeout;
    }

    /** {@code SO_TIMEOUT} for this socket's own read and connect paths, which may run as it closes (no state check). */
    synchronized int soTimeout() {
        return soTimeout;
    }

    @Override
    public void setTcpNoDelay(boolean on) throws SocketException {
        requireOpen();
        tcpNoDelay = on;
    }

    @Override
    public boolean getTcpNoDelay() throws SocketException {
        requireOpen();
        return tcpNoDelay;
    }

    @Override
    public void setSoLinger(boolean on, int seconds) throws SocketException {
        requireOpen();
        if (on && seconds < 0) {
            // As java.net.Socket: a negative linger is refused (it read as "off", so an abort became a graceful close).
            throw new IllegalArgumentException("invalid value for SO_LINGER");
        }
        linger = on ? Math.min(seconds, 65535) : -1;
    }

    @Override
    public int getSoLinger() throws SocketException {
        requireOpen();
        return linger;
    }

    /** {@code SO_LINGER} for {@code close()}, which reads it once the socket is marked closed (no state check). */
    int soLinger() {
        return linger;
    }

    @Override
    public void sendUrgentData(int data) throws IOException {
        throw new SocketException("urgent data is not supported over HBONE");
    }

    @Override
    public void setOOBInline(boolean on) throws SocketException {
        requireOpen();
    }

    @Override
    public boolean getOOBInline() throws SocketException {
        requireOpen();
        return false;
    }

    @Override
    public synchronized void setSendBufferSize(int size) throws SocketException {
        requireOpen();
        if (size <= 0) {
            throw new IllegalArgumentException("negative send size");
        }
        sendBuffer = size;
    }

    @Override
    public synchronized int getSendBufferSize() throws SocketException {
        requireOpen();
        return sendBuffer;
    }

    @Override
    public synchronized void setReceiveBufferSize(int size) throws SocketException {
        requireOpen();
        if (size <= 0) {
            throw new IllegalArgumentException("invalid receive size");
        }
        receiveBuffer = size;
    }

    @Override
    public synchronized int getReceiveBufferSize() throws SocketException {
        requireOpen();
        return receiveBuffer;
    }

    @Override
    public void setKeepAlive(boolean on) throws SocketException {
        requireOpen();
        keepAlive = on;
    }

    @Override
    public boolean getKeepAlive() throws SocketException {
        requireOpen();
        return keepAlive;
    }

    @Override
    public void setTrafficClass(int tc) throws SocketException {
        requireOpen();
    }

    @Override
    public int getTrafficClass() throws SocketException {
        requireOpen();
        return 0;
    }

    @Override
    public void setReuseAddress(boolean on) throws SocketException {
        requireOpen();
    }

    @Override
    public boolean getReuseAddress() throws SocketException {
        requireOpen();
        return false;
    }

    @Override
    public void setPerformancePreferences(int connectionTime, int latency, int bandwidth) {
    }

    @Override
    public <T> java.net.Socket setOption(SocketOption<T> name, T value) throws IOException {
        java.util.Objects.requireNonNull(name, "name");
        requireOpen();
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
        java.util.Objects.requireNonNull(name, "name");
        requireOpen();
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
}
