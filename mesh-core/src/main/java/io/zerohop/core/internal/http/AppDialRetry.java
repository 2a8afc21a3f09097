package io.zerohop.core.internal.http;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import io.zerohop.core.AppProtocol;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * One request's retries of a connection to the application that could not be had, as Istio's inbound route retries
 * them. istiod gives a sidecar's inbound route for a port declared neither {@code grpc} nor {@code grpc-web} the retry policy
 * {@code retry_on: reset-before-request}, {@code num_retries: 2}, no back-off of its own (istio/istio
 * pilot/pkg/networking/core/route/route.go {@code BuildDefaultHTTPInboundRoute}: "inbound retries are never configured
 * for gRPC ports", {@code protocol.IsGRPC()}, true for {@code grpc-web} too; route/retry/retry.go {@code ConvertInboundPolicy},
 * {@code defaultInboundRetryOn}; meshConfig {@code defaultInboundHttpRetryPolicy} unset). It came with Istio 1.24
 * behind {@code ENABLE_INBOUND_RETRY_POLICY}, true by default (pilot/pkg/features/pilot.go, #52055), and is
 * unconditional since the flag went with the 1.23 compatibility profile in 1.27 (#56023).
 *
 * <p>Envoy's router takes a pool failure as an upstream reset (envoyproxy/envoy source/common/router/upstream_request.cc
 * {@code onPoolFailure}), and {@code reset-before-request} retries any reset of a request of which no byte was sent
 * (router.cc {@code maybeRetryReset}: {@code upstream_request_started_} is {@code first_upstream_tx_byte_sent_};
 * retry_state_impl.cc {@code wouldRetryFromReset}: {@code RETRY_ON_RESET_BEFORE_REQUEST && !upstream_request_started}
 * gives {@code RetryWithBackoff}), so a failed dial, a connect timeout and a connection that ended before the stream
 * was opened on it are retried, whatever of the request's body has come; a stream the application refused or reset
 * after its HEADERS went is not. The back-off is Envoy's default, the policy setting none: base 25 ms
 * ({@code upstream.base_retry_backoff_ms}), at most ten times that, fully jittered (retry_state_impl.cc
 * {@code RetryStateImpl}; source/common/common/backoff_strategy.cc
 * {@code JitteredExponentialBackOffStrategy::nextBackOffMs}: {@code random() % next_interval_}, the interval doubling
 * from the base): the first retry after 0-24 ms, the second after 0-49 ms, on a timer of the request's event loop
 * ({@code enableBackoffTimer}). Once the two retries failed too ({@code RetryStatus::NoRetryLimitExceeded}), the answer
 * is the last failure's, {@link UpstreamFailure#afterRetries}. Meanwhile the request is held as during a dial: the client
 * is not read, so no more of its body than came with its head is held (Envoy buffers the body for the retry).
 *
 * <p>Event loop of the request only.
 */
final class AppDialRetry {
    /** {@code num_retries} of istiod's inbound policy ({@code defaultNumRetries}). */
    static final int RETRIES = 2;
    /** Envoy's default base interval, {@code upstream.base_retry_backoff_ms}. */
    static final long BASE_MILLIS = 25;
    /** Envoy's default maximum interval: ten times the base. */
    static final long MAX_MILLIS = 10 * BASE_MILLIS;

    private final boolean enabled;
    private int retried;
    private long interval = BASE_MILLIS;
    private ScheduledFuture<?> timer;

    /** @param enabled whether the request's route has the retry policy ({@link #retries}) */
    AppDialRetry(boolean enabled) {
        this.enabled = enabled;
    }

    /**
     * Whether istiod gives the inbound route of a port of {@code protocol} its retry policy: every one but those
     * {@code protocol.Instance.IsGRPC} counts, {@code grpc} and {@code grpc-web} (istio/istio
     * pkg/config/protocol/instance.go). Until 7 December a {@code grpc-web} port, then read as {@code http}, was retried.
     */
    static boolean retries(AppProtocol protocol) {
        return protocol != AppProtocol.GRPC && protocol != AppProtocol.GRPC_WEB;
    }

    /**
     * After a failure to get the application's connection (nothing of the request sent): schedules {@code attempt} on
     * {@code loop} after the back-off and says true, or says false when there is no retry left (or no policy).
     */
    boolean retry(EventExecutor loop, Runnable attempt) {
        if (!enabled || retried >= RETRIES) {
            return false;
        }
        retried++;
        long bound = interval;
        interval = Math.min(interval * 2, MAX_MILLIS);
        long delay = ThreadLocalRandom.current().nextLong(bound);
        timer = loop.schedule(() -> {
            timer = null;
            attempt.run();
        }, delay, TimeUnit.MILLISECONDS);
        return true;
    }

    /** Whether a retry is waiting for its back-off. */
    boolean waiting() {
        return timer != null;
    }

    /** Drops a retry still waiting: the request ended meanwhile. */
    void cancel() {
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }

    /**
     * {@code failure}, which ended the request after its connection was had: said as retried when that connection
     * came on a retry ({@link UpstreamFailure#afterARetry}).
     */
    UpstreamFailure later(UpstreamFailure failure) {
        return retried > 0 ? failure.afterARetry() : failure;
    }

    /** The answer to the request's last failure: Envoy's, with {@code URX} and "retried" when it had the policy. */
    UpstreamFailure answer(UpstreamFailure last) {
        return enabled ? last.afterRetries() : last;
    }
}
