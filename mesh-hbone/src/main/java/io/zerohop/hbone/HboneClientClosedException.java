package io.zerohop.hbone;

import java.io.IOException;

/**
 * An open was refused because its {@link HboneClient} is closed (or closing): nothing was dialled.
 * ztunnel's equivalent is an open its draining pool refuses ({@code Error::WorkloadHBONEPoolDraining},
 * "pool draining", istio/ztunnel src/proxy/pool.rs), counted as a connection failure
 * ({@code response_flags="CONNECT"}).
 */
public final class HboneClientClosedException extends IOException {
    private static final long serialVersionUID = 1L;

    public HboneClientClosedException(String message) {
        super(message);
    }
}
