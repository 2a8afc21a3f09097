package io.zerohop.hbone.internal;

/**
 * Every handler name of hbone's Netty pipelines (one prefix, {@code hbone-}), and where each sits.
 */
public final class HbonePipeline {
    public static final String TLS = "hbone-tls";
    public static final String CONNECTION = "hbone-conn";
    public static final String HOLD = "hbone-hold";
    public static final String H2 = "hbone-h2";
    public static final String MUX = "hbone-h2-mux";
    public static final String PING = "hbone-ping";
    public static final String SETTINGS = "hbone-settings";
    public static final String CONNECTION_TAIL = "hbone-conn-tail";
    public static final String TUNNEL = "hbone-tunnel";
    public static final String DISCARD = "hbone-discard";
    public static final String SOCKET = "hbone-socket";
    public static final String RELAY = "hbone-relay";

    private HbonePipeline() {}
}
