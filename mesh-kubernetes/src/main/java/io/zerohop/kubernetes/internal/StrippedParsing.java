package io.zerohop.kubernetes.internal;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonIncludeProperties;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.Status;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;

/**
 * A fabric8 serialization that skips, while parsing, the JSON fields {@link ObjectStrip} would drop
 * right after: a node proxy's client parses every pod of the cluster, and what the strip throws away
 * cost twice. Building Jackson's deserializers for the whole Pod type graph loaded every model class
 * it reaches (volume sources, probes, affinity, security contexts, container statuses: resident
 * metadata and deserializer objects for the process's life), and each pod's managedFields and
 * container specs were parsed into maps and objects only to become garbage (and grew Jackson's
 * field-name table with managedFields' per-pod keys). Skipped with Jackson mix-ins:
 *
 * <ul>
 *   <li>{@code PodSpec}: every field but {@code containers}, {@code initContainers},
 *       {@code serviceAccountName}, {@code nodeName}, {@code hostNetwork}, {@code hostname},
 *       {@code subdomain} (what {@link ObjectStrip#pod} keeps);</li>
 *   <li>{@code Container}: every field but {@code ports} and {@code restartPolicy} (a native sidecar's,
 *       read by the strip to keep it);</li>
 *   <li>{@code PodStatus}: {@code containerStatuses}, {@code initContainerStatuses};</li>
 *   <li>{@code ObjectMeta} (every kind): {@code managedFields}.</li>
 * </ul>
 *
 * Its kind mapping (a watch event's {@code kind} to a class) holds Pod, Service, Namespace and Status
 * only, instead of every kind fabric8's model jars list (loaded at start: 321 classes and what they
 * reference, ~5 MB of archive and metadata).
 *
 * <p>A skipped field goes nowhere (not into the model's {@code additionalProperties}). The strip still
 * runs on every object, so a stripped object is the same whichever serialization parsed it
 * ({@code StrippedPodsTest}). Only for a client whose Pods nothing else reads whole: {@code Container}
 * and {@code PodSpec} parse this way wherever they appear (a Deployment's template too), and the
 * client's {@code clone} and writes would lose those fields.
 */
public final class StrippedParsing {
    private StrippedParsing() {
    }

    /** A new serialization (its own ObjectMapper), as fabric8's default plus the mix-ins above. */
    public static KubernetesSerialization create() {
        ObjectMapper mapper = new ObjectMapper();
        mapper.addMixIn(PodSpec.class, KeptPodSpec.class);
        mapper.addMixIn(Container.class, KeptContainer.class);
        mapper.addMixIn(PodStatus.class, KeptPodStatus.class);
        mapper.addMixIn(ObjectMeta.class, KeptObjectMeta.class);
        // fabric8's default (true) loads every class its jars list as a KubernetesResource (321 kinds:
        // Gateway API, DRA, certificates, ...) to map a watch event's kind to a class. The node proxy's
        // watches carry its informers' kinds and Status (an ERROR event, 410 Gone: the informer
        // re-lists, AbstractWatchManager.onMessage); an unregistered kind parses as a
        // GenericKubernetesResource, which the watch converts to the informer's type (as the policy
        // kinds, which have no model class, always were).
        KubernetesSerialization s = new KubernetesSerialization(mapper, false);
        s.registerKubernetesResource(Pod.class);
        s.registerKubernetesResource(Service.class);
        s.registerKubernetesResource(Namespace.class);
        s.registerKubernetesResource(Status.class);
        return s;
    }

    @JsonIncludeProperties({"containers", "initContainers", "serviceAccountName", "nodeName", "hostNetwork", "hostname", "subdomain"})
    private abstract static class KeptPodSpec {
    }

    @JsonIncludeProperties({"ports", "restartPolicy"})
    private abstract static class KeptContainer {
    }

    @JsonIgnoreProperties({"containerStatuses", "initContainerStatuses"})
    private abstract static class KeptPodStatus {
    }

    @JsonIgnoreProperties({"managedFields"})
    private abstract static class KeptObjectMeta {
    }
}
