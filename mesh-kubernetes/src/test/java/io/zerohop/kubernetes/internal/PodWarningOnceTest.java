package io.zerohop.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.zerohop.testing.CapturedStderr;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A pod that cannot become a workload is said once, not at every install: each install converts every pod again, and a
 * break-it pass saw the same "skipping Pod/prod/bad-ip" WARN every ~2.5 s. A changed value is a new line.
 */
class PodWarningOnceTest {

    static Pod pod(String ip) {
        return new PodBuilder().withNewMetadata().withNamespace("prod").withName("bad-ip-once").endMetadata()
                .withNewSpec().withNodeName("node-a").endSpec()
                .withNewStatus().withPhase("Running").withPodIP(ip).endStatus().build();
    }

    @Test
    void anUnparsablePodIpIsSaidOncePerValue() throws Exception {
        try (CapturedStderr err = new CapturedStderr()) {
            for (int i = 0; i < 3; i++) {
                assertThat(PodConversion.toWorkload(pod("10.0.0.300"), Map.of(), List.of(), "cluster.local")).isEmpty();
            }
            assertThat(PodConversion.toWorkload(pod("10.0.0.301"), Map.of(), List.of(), "cluster.local")).isEmpty();
            err.awaitLine("10.0.0.301");
            assertThat(err.count("Pod/prod/bad-ip-once")).as(err.text()).isEqualTo(2);
        }
    }
}
