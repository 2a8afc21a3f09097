package io.zerohop.core.internal.http;

import io.netty.channel.ConnectTimeoutException;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;

/**
 * Why an allowed request got no response from the application, in the words of Envoy's router
 * (envoyproxy/envoy source/common/router/router.cc {@code Filter::onUpstreamReset}): the local reply's body
 * {@code upstream connect error or disconnect/reset before headers. reset reason: R[, transport failure reason: T]},
 * the response code details {@code upstream_reset_before_response_started{R[,T]}} with blanks as {@code _}
 * ({@code StringUtil::replaceAllEmptySpace}), and the response flag of {@code streamResetReasonToResponseFlag}. R is
 * {@code Http::Utility::resetReasonToString} (source/common/http/utility.cc). Shared by the HTTP/1 and HTTP/2 paths,
 * so that both answer alike. After Istio's inbound retries of a dial ({@link AppDialRetry}) the body says
 * {@code retried and the latest reset reason: R} ({@code onUpstreamReset}: {@code is_retry_ ? "retried and the latest "}).
 *
 * @param reason           Envoy's reset reason text
 * @param transportFailure the connection's failure reason, or "" for none
 * @param flag             Envoy's {@code %RESPONSE_FLAGS%}: {@code UF}, {@code UC}, {@code UPE} or {@code UR} (a stream the application refused,
 *                         H2Proxy); {@code URX,UF} when the retries ran out ({@link #afterRetries})
 * @param retried          the request was retried before this failure ended it
 */
record UpstreamFailure(String reason, String transportFailure, String flag, boolean retried) {
    UpstreamFailure(String reason, String transportFailure, String flag) {
        this(reason, transportFailure, flag, false);
    }

    /**
     * This failure as the last of a request whose retries ran out: Envoy's router sets {@code URX}
     * (UpstreamRetryLimitExceeded) in {@code maybeRetryReset} on {@code RetryStatus::NoRetryLimitExceeded}, before
     * {@code onUpstreamAbort} sets this failure's own flag, and %RESPONSE_FLAGS% lists a stream's flags in the order they
     * were set (source/common/stream_info/stream_info_impl.h {@code setResponseFlag}: {@code response_flags_.push_back};
     * utility.cc {@code ResponseFlagUtils::toString} walks {@code responseFlags()}): {@code URX,UF}, as Istio's proxies
     * log it ({@code "GET / HTTP/1.1" 503 URX,UF upstream_reset_before_response_started{remote_connection_failure...}}).
     * The body says {@code retried and the latest reset reason}; the details do not change.
     */
    UpstreamFailure afterRetries() {
        return new UpstreamFailure(reason, transportFailure, "URX," + flag, true);
    }

    /**
     * This failure as that of a request retried before it (its connection was had on a retry, then this ended it before
     * its response): Envoy's body says {@code retried and the latest reset reason} whenever the request was retried
     * ({@code onUpstreamReset}: {@code is_retry_}, set by {@code doRetry}); its flag alone, no retry having run out (the
     * request was sent: {@code reset-before-request} does not retry it).
     */
    UpstreamFailure afterARetry() {
        return new UpstreamFailure(reason, transportFailure, flag, true);
    }
    /**
     * The local reply's status: {@code onUpstreamReset} answers 502 (Bad Gateway) for a protocol error, 503 for every other
     * reset before the response started. Until 2 December zerohop answered 503 for both.
     */
    int status() {
        return reason.equals("protocol error") ? 502 : 503;
    }

    /**
     * The application's connection could not be made ({@code UF}, StreamResetReason {@code RemoteConnectionFailure}
     * or {@code ConnectionTimeout}). The transport failure reason is what Envoy's client connection records for a
     * connect that failed after it was started, {@code delayed connect error: } and the system's error text
     * (source/common/network/connection_impl.cc {@code onWriteReady}, {@code errorDetails}: {@code strerror}), e.g.
     * {@code Connection refused}; a connect timeout has none.
     */
    static UpstreamFailure connect(Throwable cause) {
        if (cause instanceof ConnectTimeoutException) {
            return new UpstreamFailure("connection timeout", "", "UF");
        }
        return new UpstreamFailure("remote connection failure", "delayed connect error: " + errorText(cause), "UF");
    }

    /**
     * The application's connection ended before the response started: {@code protocol error} ({@code UPE}) or
     * {@code connection termination} ({@code UC}), as envoy's {@code codec_client.cc CodecClient::onEvent} tells them.
     */
    static UpstreamFailure reset(String reason) {
        return new UpstreamFailure(reason, "", reason.equals("protocol error") ? "UPE" : "UC");
    }

    /** A failure to get a connection at all: {@link #connect} for a socket error, else a {@code connection termination}. */
    static UpstreamFailure of(Throwable cause) {
        return cause instanceof ConnectTimeoutException || cause instanceof SocketException ? connect(cause) : reset("connection termination");
    }

    String body() {
        return "upstream connect error or disconnect/reset before headers. " + (retried ? "retried and the latest " : "") + "reset reason: " + reason
                + (transportFailure.isEmpty() ? "" : ", transport failure reason: " + transportFailure);
    }

    byte[] bodyBytes() {
        return body().getBytes(StandardCharsets.US_ASCII);
    }

    /** Envoy's {@code %RESPONSE_CODE_DETAILS%}, for the access line's {@code reason}. */
    String details() {
        return details("upstream_reset_before_response_started");
    }

    /**
     * Envoy's {@code %RESPONSE_CODE_DETAILS%} for this reset after the response started (an upgraded stream's, after its
     * 101): {@code onUpstreamReset} says {@code LateUpstreamReset} then, {@code upstream_reset_after_response_started}
     * (source/common/stream_info/utility.h {@code ResponseCodeDetailValues}), with the same reason and flag.
     */
    String detailsAfterResponseStarted() {
        return details("upstream_reset_after_response_started");
    }

    private String details(String basic) {
        return (basic + "{" + reason + (transportFailure.isEmpty() ? "" : "," + transportFailure) + "}").replaceAll("\\s", "_");
    }

    /**
     * The system's text for a failed connect, as {@code strerror} gives it: Netty's native transport says
     * {@code finishConnect(..) failed with error(-111): Connection refused: /10.0.0.1:8080} (4.1: {@code finishConnect(..)
     * failed: ...}), the JDK's {@code Connection refused: /...}; the call and the address are dropped.
     */
    private static final java.util.regex.Pattern NATIVE_CALL = java.util.regex.Pattern.compile("\\S+\\(\\.\\.\\) failed(?: with error\\(-?\\d+\\))?: ");

    static String errorText(Throwable cause) {
        String m = cause.getMessage();
        if (m == null || m.isBlank()) {
            return cause.getClass().getSimpleName();
        }
        java.util.regex.Matcher call = NATIVE_CALL.matcher(m);
        if (call.lookingAt()) {
            m = m.substring(call.end());
        }
        int address = m.lastIndexOf(": ");
        if (address > 0 && m.indexOf('/', address) > 0) {
            m = m.substring(0, address);
        }
        return m;
    }
}
