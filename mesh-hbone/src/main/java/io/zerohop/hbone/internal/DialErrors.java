package io.zerohop.hbone.internal;

import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A failed dial's error as ztunnel prints one: Rust's {@code io::Error} {@code Display} of an OS error,
 * {@code "Connection refused (os error 111)"}, which follows {@code connection failed: } in ztunnel's
 * access line (istio/ztunnel src/proxy.rs {@code Error::ConnectionFailed(io::Error)}). Netty's epoll
 * transport says {@code "finishConnect(..) failed with error(-111): Connection refused: 127.0.0.1/127.0.0.1:8080"},
 * which operators' alerts built on ztunnel's text do not match, and which repeats the address the line
 * already gives. Linux errno numbers: ztunnel and zerohop's native transport run on Linux only.
 */
public final class DialErrors {
    // Netty's Errors.NativeIoException / NativeConnectException message: METHOD(..) failed with error(-ERRNO): STRERROR
    private static final Pattern NATIVE = Pattern.compile("failed with error\\((-?\\d+)\\): ?([^:]+)");
    // The JDK's NIO transport (no errno in the exception): the strerror texts it passes through.
    private static final Map<String, Integer> LINUX_ERRNO = Map.of(
            "Connection refused", 111, "No route to host", 113, "Network is unreachable", 101,
            "Connection timed out", 110, "Connection reset by peer", 104, "Cannot assign requested address", 99,
            "Permission denied", 13, "Address already in use", 98);

    private DialErrors() {}

    /**
     * {@code "STRERROR (os error N)"} when {@code t}'s cause chain holds an OS error a dial failed with,
     * else {@link HboneListener#describe}'s text of {@code t}. Never null.
     */
    public static String describe(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            String m = c.getMessage();
            if (m == null) {
                continue;
            }
            Matcher n = NATIVE.matcher(m);
            if (n.find()) {
                return n.group(2).trim() + " (os error " + Math.abs(Integer.parseInt(n.group(1))) + ")";
            }
            if (c instanceof ConnectException || c instanceof NoRouteToHostException) {
                // NIO's message is the strerror text, annotated by Netty with ": /ADDRESS".
                int colon = m.indexOf(": ");
                String text = colon > 0 ? m.substring(0, colon) : m;
                Integer errno = LINUX_ERRNO.get(text);
                if (errno != null) {
                    return text + " (os error " + errno + ")";
                }
            }
        }
        return HboneListener.describe(t);
    }
}
