package io.zerohop.kubernetes.internal;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * {@code zerohop_kubernetes_rejected_objects_total}: policy objects the API server served and zerohop
 * refused, with istiod's validation labels ({@code galley_validation_failed}: group, version,
 * resource, reason; pkg/webhooks/validation/server/monitoring.go) and the kind in place of the
 * resource. Its own class so that Micrometer (optional) is loaded only when a registry is given.
 */
public final class RejectedObjectsMeter {
    public static final String NAME = "zerohop.kubernetes.rejected.objects";

    private RejectedObjectsMeter() {}

    public static PolicyState.Rejections of(MeterRegistry registry) {
        return (apiVersion, kind, reason) -> {
            int slash = apiVersion.indexOf('/');
            Counter.builder(NAME)
                    .description("Kubernetes policy objects rejected as invalid (each in force as its fail-closed stand-in until fixed; the other policies stay in force)")
                    .tag("group", slash < 0 ? "" : apiVersion.substring(0, slash))
                    .tag("version", apiVersion.substring(slash + 1))
                    .tag("kind", kind)
                    .tag("reason", reason)
                    .register(registry).increment();
        };
    }
}
