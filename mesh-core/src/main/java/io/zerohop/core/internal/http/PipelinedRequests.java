package io.zerohop.core.internal.http;

import io.netty.channel.Channel;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;

/**
 * What the client sent behind the request in flight: as Envoy's HTTP/1 codec, one request is
 * forwarded at a time, so pipelined requests (and the client's FIN) wait here, already decoded, in
 * order, and reading from the client stops while anything waits. {@link Http1Filter} takes them
 * one by one once the previous response has ended. Event loop of the connection only.
 */
final class PipelinedRequests {
    /** Stands for the client's FIN among the messages. */
    static final Object INPUT_END = new Object();

    private final ArrayDeque<Object> queue = new ArrayDeque<>();
    private final Channel client;
    private boolean paused;

    PipelinedRequests(Channel client) {
        this.client = client;
    }

    /** A decoded message or {@link #INPUT_END}; ownership passes. */
    void add(Object m) {
        queue.add(m);
    }

    /** The oldest waiting message, or null. */
    Object poll() {
        return queue.poll();
    }

    boolean isEmpty() {
        return queue.isEmpty();
    }

    /** Whether reading from the client is stopped because messages wait. */
    boolean paused() {
        return paused;
    }

    /** After a read: stops reading from the client while anything waits. */
    void pauseWhileWaiting() {
        if (!queue.isEmpty() && !paused) {
            paused = true;
            client.config().setAutoRead(false);
        }
    }

    /** Nothing waits any more: reads from the client again if they were stopped for the queue. */
    void resumeWhenDrained() {
        if (queue.isEmpty() && paused) {
            paused = false;
            client.config().setAutoRead(true);
        }
    }

    /** Reads from the client again whatever waited (the queue was handed on). */
    void resume() {
        paused = false;
        client.config().setAutoRead(true);
    }

    /** Drops what waits (the connection is ending). */
    void releaseAll() {
        for (Object m; (m = queue.poll()) != null; ) {
            if (m != INPUT_END) {
                ReferenceCountUtil.release(m);
            }
        }
    }
}
