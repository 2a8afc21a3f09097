package io.zerohop.hbone;

import java.io.IOException;

/** The HBONE server answered CONNECT with a non-200 status (client side). */
public final class HboneRefusedException extends IOException {
    private static final long serialVersionUID = 1L;
    private final int status;

    public HboneRefusedException(int status, String message) {
        super(message);
        this.status = status;
    }

    public int status() {
        return status;
    }
}
