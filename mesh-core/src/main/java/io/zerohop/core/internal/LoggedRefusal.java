package io.zerohop.core.internal;

/**
 * A captured connection's refusal that its opener ({@link Outbound#open}, {@link PlaintextInbound#open})
 * has already logged, rate-limited, on one line naming both ends' addresses and identities: the
 * capture listener resets the connection without a second line. A refusal of any other type is
 * logged by the capture listener ({@code CaptureListener}). Before, a self call or a refused
 * plaintext connection was one WARN line from the opener and one INFO line from the listener.
 */
public final class LoggedRefusal extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    /** @param message why, as the opener's log line says it */
    public LoggedRefusal(String message) {
        super(message);
    }

    /**
     * @param message why, as the opener's log line says it
     * @param cause   the failure it stands for (a refused dial), which readers of the chain still need: SOCKS5's reply
     *                code is read from it (a final pass: a refused passthrough dial answered 1 instead of 5)
     */
    public LoggedRefusal(String message, Throwable cause) {
        super(message, cause);
    }
}
